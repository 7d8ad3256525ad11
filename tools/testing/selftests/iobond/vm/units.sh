# SPDX-License-Identifier: GPL-2.0
# units_test's half in its systemd VM: the installed units, through
# systemctl.  Each result is a line "UNITS: ok NAME" or "UNITS: not ok
# NAME WHY" on the console; "UNITS: done" ends them, and the VM powers off.
B=/bin/busybox
FAILED=0

result() {	# NAME CONDITION-STATUS WHY
	if [ "$2" = 0 ]; then
		echo "UNITS: ok $1"
	else
		echo "UNITS: not ok $1 $3"
	fi
}

prop() {	# UNIT PROPERTY
	systemctl show -P "$2" "$1"
}

# Until UNIT's PROPERTY is VALUE, 15 s at most (TCG is slow).
wait_prop() {
	for i in $($B seq 150); do
		[ "$(prop "$1" "$2")" = "$3" ] && return 0
		$B sleep 0.1
	done
	return 1
}

state() {	# UNIT: what a failure says about it
	echo "$(systemctl show -p ActiveState -p SubState -p NRestarts \
		-p ExecMainStatus -p MainPID "$1" | $B tr '\n' ' ')"
}

# --- iobond-fabric.service
systemctl start iobond-fabric.service
wait_prop iobond-fabric ActiveState active
result fabric.starts $? "$(state iobond-fabric)"

for i in $($B seq 150); do [ -S /run/iobond/board0.sock ] && break; $B sleep 0.1; done
[ -S /run/iobond/board0.sock ]
result fabric.serves_its_link $? "$($B ls -l /run/iobond)"

pid=$(prop iobond-fabric MainPID)
st=/proc/$pid/status
[ "$pid" != 0 ] &&
	$B grep -q '^CapEff:	0000000000000000$' $st &&
	$B grep -q '^NoNewPrivs:	1$' $st &&
	$B grep -q '^Seccomp:	2$' $st &&
	[ "$($B readlink /proc/$pid/ns/mnt)" != "$($B readlink /proc/1/ns/mnt)" ] &&
	[ "$($B readlink /proc/$pid/ns/net)" != "$($B readlink /proc/1/ns/net)" ]
result fabric.confined $? "$($B grep -E 'Cap|NoNew|Seccomp' $st) $($B ls -l /proc/$pid/ns /proc/1/ns)"

# A crash: Restart=on-failure brings it back, after RestartSec=1.
[ "$pid" != 0 ] && $B kill -9 "$pid"
for i in $($B seq 150); do
	new=$(prop iobond-fabric MainPID)
	[ "$new" != 0 ] && [ "$new" != "$pid" ] &&
		[ "$(prop iobond-fabric ActiveState)" = active ] && break
	$B sleep 0.1
done
[ "$new" != 0 ] && [ "$new" != "$pid" ] && [ -S /run/iobond/board0.sock ]
result fabric.restarts_after_a_crash $? "$(state iobond-fabric)"

# Bad options: exit 2, and no restart (RestartPreventExitStatus=2).
echo 'FABRIC_OPTS="--no-such-option"' > /etc/iobond/fabric.conf
systemctl restart iobond-fabric.service
wait_prop iobond-fabric ActiveState failed && $B sleep 3 &&
	[ "$(prop iobond-fabric ExecMainStatus)" = 2 ] &&
	[ "$(prop iobond-fabric ActiveState)" = failed ]
result fabric.bad_options_not_restarted $? "$(state iobond-fabric)"
$B rm /etc/iobond/fabric.conf
systemctl reset-failed iobond-fabric.service

systemctl start iobond-fabric.service && systemctl stop iobond-fabric.service
[ "$(prop iobond-fabric ActiveState)" = inactive ] && [ -d /run/iobond ]
result fabric.stops_and_keeps_its_directory $? "$(state iobond-fabric)"

# --- iobond-blk@.service: the conf's words reach iobond-blk (DISK's
# file, then MDEV, then OPTS below, are each what it fails on), which
# writes what it says to /run/units-blk.log (units_test's drop-in).
# First there is no disk file, and it exits 1 at once, and is started
# again and again.
printf '%s\n' MDEV=00000000-0000-0000-0000-000000000001 \
	'DISK="--file /var/lib/iobond/board0-disk.img"' \
	'OPTS="--iops 100 --serial units"' > /etc/iobond/board0-dev1.conf
systemctl start iobond-blk@board0-dev1.service
for i in $($B seq 150); do
	[ "$(prop iobond-blk@board0-dev1 NRestarts)" -ge 1 ] && break
	$B sleep 0.1
done
[ "$(prop iobond-blk@board0-dev1 NRestarts)" -ge 1 ] &&
	$B grep -q 'board0-disk.img: No such file' /run/units-blk.log
result blk.restarted_after_exit_1 $? "$(state iobond-blk@board0-dev1) $($B tail -5 /run/units-blk.log)"

# With the file in the unit's state directory, it opens it, under
# ProtectSystem=strict, and goes on to the mdev, which is not here.
systemctl stop iobond-blk@board0-dev1.service
$B truncate -s 1M /var/lib/iobond/board0-disk.img
: > /run/units-blk.log
systemctl start iobond-blk@board0-dev1.service
for i in $($B seq 150); do
	$B grep -q 'mdev 00000000-0000-0000-0000-000000000001' /run/units-blk.log && break
	$B sleep 0.1
done
$B grep -q 'mdev 00000000-0000-0000-0000-000000000001' /run/units-blk.log &&
	! $B grep -q 'board0-disk.img: No such file' /run/units-blk.log
result blk.opens_its_disk_then_looks_for_the_mdev $? "$($B tail -5 /run/units-blk.log)"
systemctl stop iobond-blk@board0-dev1.service

# Bad options: exit 2, not restarted.
echo 'OPTS=--no-such-option' >> /etc/iobond/board0-dev1.conf
systemctl reset-failed iobond-blk@board0-dev1.service
systemctl start iobond-blk@board0-dev1.service
wait_prop iobond-blk@board0-dev1 ActiveState failed && $B sleep 3 &&
	[ "$(prop iobond-blk@board0-dev1 ExecMainStatus)" = 2 ] &&
	[ "$(prop iobond-blk@board0-dev1 NRestarts)" = 0 ]
result blk.bad_options_not_restarted $? "$(state iobond-blk@board0-dev1)"

# --- iobond-serve@.service: no board here; iobondctl says so and exits
# 1, which Restart=on-abnormal does not restart.
printf 'BOARD=board0\nDEV=0\nTAP=tap0\n' > /etc/iobond/board0-dev0.conf
systemctl start iobond-serve@board0-dev0.service
wait_prop iobond-serve@board0-dev0 ActiveState failed && $B sleep 3 &&
	[ "$(prop iobond-serve@board0-dev0 ExecMainStatus)" = 1 ] &&
	[ "$(prop iobond-serve@board0-dev0 NRestarts)" = 0 ]
result serve.missing_board_not_restarted $? "$(state iobond-serve@board0-dev0)"

# iobondctl names the board it was given, and what to do (iobondctl(8)).
$B grep -q 'board0: .*no such board' /run/units-serve.log
result serve.says_which_board $? "$($B cat /run/units-serve.log)"

# Every unit the install put loads, with no error.
bad=
for u in iobond-fabric.service iobond-blk@x.service iobond-serve@x.service; do
	[ "$(prop $u LoadState)" = loaded ] || bad="$bad $u:$(prop $u LoadState)"
done
[ -z "$bad" ]
result units.all_load $? "$bad"

echo "UNITS: done"
$B poweroff -f

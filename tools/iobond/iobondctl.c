// SPDX-License-Identifier: GPL-2.0
/*
 * iobondctl: provision compute boards through /dev/iobond/boardN.
 *
 *   iobondctl [--json] list
 *   iobondctl [--json] BOARD status
 *   iobondctl [--json] BOARD add-net --mac MAC [--pairs N | --queues N] [--queue-size N]
 *                           [--mtu N] [--features HEX] [--tap NAME [--unit]]
 *                           [--engine|--window]
 *   iobondctl [--json] BOARD add-blk (--file PATH | --nbd URI [--reconnect-ms MS]
 *                           [--hung-ms MS])
 *                           [--readonly] [--queues N] [--queue-size N]
 *                           [--iops N] [--bps N] [--serial ID]
 *                           [--write-through] [--engine|--window] [--unit]
 *   iobondctl [--json] BOARD remove DEV
 *   iobondctl [--json] BOARD start | stop | reset
 *
 * add-net offers mergeable rx buffers, and through the engine checksum
 * offload and TSO both ways, unless --features says otherwise; --pairs N
 * past one adds the control queue that serve answers (netctrl.c).
 * With --tap it also starts "serve" for the new NIC in the background, and
 * takes the NIC away again if serve could not start.
 * add-blk sizes a disk from PATH or the NBD export, creates its mdev and
 * starts iobond-blk on it in the background (blkctl.c).
 * With --unit, the service is systemd's instead (unit.c).
 * A device's data goes through the link's engine (iobond-engine) if the
 * link has one, unless --window asks for the board's bounce through the
 * window; --engine insists on the engine.
 *   iobondctl [--json] BOARD stats DEV
 *   iobondctl [--json] BOARD events [--count N] [--timeout MS]
 *   iobondctl [--json] BOARD link DEV up|down
 *   iobondctl BOARD serve DEV --tap NAME
 *   iobondctl BOARD limit-net --tap NAME [--tap NAME...] [--mbit N] [--pps N]
 *   iobondctl BOARD limit-blk [--iops N] [--bps N]
 *   iobondctl BOARD save > TABLE; iobondctl BOARD restore < TABLE
 *
 * BOARD is board0, board1, ... or a path.  --json may come anywhere.
 * Every failure prints what was refused and why, and exits 1; bad usage
 * (an unknown command among them) exits 2.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/if_tun.h>
#include <linux/iobond.h>
#include <linux/vhost.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <net/if.h>

#include "iobondctl.h"

#define DEV_DIR		"/dev/iobond"
/* A NIC's offloads: checksums and TSO, both ways; the tap does them. */
#define NET_OFFLOADS	(1ULL << VIRTIO_NET_F_CSUM |			\
			 1ULL << VIRTIO_NET_F_GUEST_CSUM |		\
			 1ULL << VIRTIO_NET_F_HOST_TSO4 |		\
			 1ULL << VIRTIO_NET_F_HOST_TSO6 |		\
			 1ULL << VIRTIO_NET_F_GUEST_TSO4 |		\
			 1ULL << VIRTIO_NET_F_GUEST_TSO6)
/*
 * A NIC of several pairs: the control queue serve answers (netctrl.c).
 * Not CTRL_RX by default: 6.1's virtio_net sends its RX commands from
 * ndo_set_rx_mode, with bottom halves off, and spins there until the
 * answer comes; it would spin for as long as serve is away.
 */
#define NET_CTRL	(1ULL << VIRTIO_NET_F_CTRL_VQ |			\
			 1ULL << VIRTIO_NET_F_MQ |			\
			 1ULL << VIRTIO_NET_F_CTRL_MAC_ADDR)
/* What vhost-net never sees: the control queue's, which is serve's. */
#define NET_CTRL_ALL	(NET_CTRL | 1ULL << VIRTIO_NET_F_CTRL_RX)
/* Queue pairs a NIC may have: every queue but the control queue. */
#define NET_MAX_PAIRS	((IOBOND_MAX_QUEUES - 1) / 2)
_Static_assert(NET_MAX_PAIRS == 7, "add-net's usage says 7");

bool json;
const char *board_name;

static void usage(FILE *f)
{
	fprintf(f,
"usage: iobondctl [--json] list\n"
"       iobondctl [--json] BOARD status\n"
"       iobondctl [--json] BOARD add-net --mac MAC [--pairs N | --queues N] [--queue-size N]\n"
"                               [--mtu N] [--features HEX] [--tap NAME [--unit]]\n"
"                               [--engine|--window]\n"
"       iobondctl [--json] BOARD add-blk (--file PATH | --nbd URI [--reconnect-ms MS]\n"
"                               [--hung-ms MS])\n"
"                               [--readonly] [--queues N] [--queue-size N]\n"
"                               [--iops N] [--bps N] [--serial ID]\n"
"                               [--write-through] [--engine|--window] [--unit]\n"
"       iobondctl [--json] BOARD remove DEV\n"
"       iobondctl [--json] BOARD start|stop|reset\n"
"       iobondctl [--json] BOARD stats DEV\n"
"       iobondctl [--json] BOARD events [--count N] [--timeout MS]\n"
"       iobondctl [--json] BOARD link DEV up|down\n"
"       iobondctl BOARD serve DEV --tap NAME\n"
"       iobondctl BOARD limit-net --tap NAME [--tap NAME...] [--mbit N] [--pps N]\n"
"       iobondctl BOARD limit-blk [--iops N] [--bps N]\n"
"       iobondctl BOARD save > TABLE\n"
"       iobondctl BOARD restore < TABLE\n"
"BOARD is board0, board1, ... (in " DEV_DIR ") or a path; --json may come anywhere.\n");
}

/* @s as a JSON string: quoted, with quotes, backslashes and controls escaped. */
void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = *s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/*
 * What to do next about @err, when the caller knows no better: most
 * failures without a hint are the board's ioctls refusing.
 */
static const char *next_step(int err, char *buf, size_t len)
{
	switch (err) {
	case ENODEV:
		return "the board went away (see 'iobondctl list')";
	case ENOENT:
		snprintf(buf, len, "no device in that slot (see 'iobondctl %s status')",
			 board_name);
		return buf;
	default:
		snprintf(buf, len, "see 'iobondctl %s status'; the kernel log (dmesg) may say more",
			 board_name);
		return buf;
	}
}

/* Why the kernel said no, in the words of the command that was refused. */
int fail(const char *what, int err, const char *hint)
{
	char buf[256];

	fprintf(stderr, "iobondctl: %s: %s: %s: %s\n", board_name, what,
		strerror(err), hint ? hint : next_step(err, buf, sizeof(buf)));
	return 1;
}

int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "iobondctl: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return 2;
}

/* The board's name without its directory: for log and sysfs names. */
const char *board_base(void)
{
	const char *s = strrchr(board_name, '/');

	return s ? s + 1 : board_name;
}

/* Show what a daemon logged before it gave up. */
void tail_log(const char *log)
{
	char line[512];
	FILE *f = fopen(log, "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		fprintf(stderr, "  %s", line);
	fclose(f);
}

int open_board(const char *name)
{
	char path[256];
	int fd;

	if (strchr(name, '/'))
		snprintf(path, sizeof(path), "%s", name);
	else
		snprintf(path, sizeof(path), DEV_DIR "/%s", name);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		fprintf(stderr, "iobondctl: %s: %s%s\n", path, strerror(errno),
			errno == ENOENT ? ": no such board (is iobond_host loaded and the link bound? see 'iobondctl list')" :
			errno == EACCES ? ": run it as root, or as a member of the iobond group" : "");
	return fd;
}

int parse_uint(const char *s, unsigned long max, unsigned long *v)
{
	char *end;

	errno = 0;
	*v = strtoul(s, &end, 0);
	return errno || end == s || *end || *v > max ? -1 : 0;
}

/* A device number: 0, 1, ... or dev0, dev1, ... */
int parse_dev(const char *s, unsigned long *v)
{
	if (!strncmp(s, "dev", 3))
		s += 3;
	return parse_uint(s, IOBOND_MAX_DEVICES - 1, v);
}

static int parse_mac(const char *s, __u8 mac[6])
{
	unsigned int b[6], i;
	char tail;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3],
		   &b[4], &b[5], &tail) != 6)
		return -1;
	for (i = 0; i < 6; i++) {
		if (b[i] > 0xff)
			return -1;
		mac[i] = b[i];
	}
	return 0;
}

const char *type_name(__u32 type)
{
	switch (type) {
	case 0:
		return "empty";
	case IOBOND_DEV_NET:
		return "net";
	case IOBOND_DEV_BLK:
		return "blk";
	default:
		return "unknown";
	}
}

int get_info(int fd, struct iobond_board_info *info)
{
	memset(info, 0, sizeof(*info));
	info->argsz = sizeof(*info);
	return ioctl(fd, IOBOND_GET_BOARD_INFO, info) ? -errno : 0;
}

/*
 * How a new device's data crosses the link (--engine 'e', --window 'w',
 * or 0 for neither): through the engine when the link has one, as a real
 * bond's always does, unless --window asks for the board's bounce
 * through the window; --engine insists on the engine.
 */
__u32 add_path_flags(int fd, char path)
{
	struct iobond_board_info info;

	int tries;

	if (path == 'w')
		return 0;
	if (path == 'e') {
		/* The engine shows within a heartbeat of the host's format. */
		for (tries = 0; tries < 10; tries++) {
			if (!get_info(fd, &info) &&
			    info.flags & IOBOND_BOARD_ENGINE)
				break;
			usleep(100 * 1000);
		}
		return IOBOND_ADD_ENGINE;
	}
	return !get_info(fd, &info) && info.flags & IOBOND_BOARD_ENGINE ?
	       IOBOND_ADD_ENGINE : 0;
}

int num_devices(int fd)
{
	struct iobond_board_info info;

	return get_info(fd, &info) ? -1 : (int)info.num_devices;
}

int get_dev(int fd, __u32 index, struct iobond_device_info *d)
{
	memset(d, 0, sizeof(*d));
	d->argsz = sizeof(*d);
	d->index = index;
	return ioctl(fd, IOBOND_GET_DEVICE, d) ? -errno : 0;
}

/*
 * A device's tag (struct iobond_device_add): FNV-1a over its kind and
 * what names it to the tenant, a NIC's MAC or a disk's serial, so that
 * the same device provisioned again, by restore or by hand, gets the same
 * one.  Never 0, which is none.
 */
__u64 device_tag(char kind, const void *id, size_t len)
{
	const unsigned char *p = id;
	__u64 h = 0xcbf29ce484222325ULL;

	h = (h ^ (unsigned char)kind) * 0x100000001b3ULL;
	while (len--)
		h = (h ^ *p++) * 0x100000001b3ULL;
	return h ?: 1;
}

static void print_mac(const __u8 *m)
{
	printf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
	       m[5]);
}

/* How a device's data crosses the link. */
const char *data_path(const struct iobond_device_info *d)
{
	return d->flags & IOBOND_DEVICE_ENGINE ? "engine" : "window";
}

static void print_dev(const struct iobond_device_info *d, bool first)
{
	const struct iobond_blk_config *blk = &d->config.blk;

	if (d->type == IOBOND_DEV_BLK && json) {
		printf("%s{\"index\":%u,\"type\":\"blk\",\"capacity\":%llu,"
		       "\"blk_size\":%u,\"seg_max\":%u,\"size_max\":%u,"
		       "\"queues\":%u,\"queue_size\":%u,\"features\":\"%#llx\","
		       "\"driver_features\":\"%#llx\",\"status\":%u,"
		       "\"queues_enabled\":\"%#x\",\"data\":\"%s\"}",
		       first ? "" : ",", d->index,
		       (unsigned long long)blk->capacity, blk->blk_size,
		       blk->seg_max, blk->size_max, d->num_queues, d->queue_size,
		       (unsigned long long)d->features,
		       (unsigned long long)d->driver_features, d->status,
		       d->queues_enabled, data_path(d));
		return;
	}
	if (d->type == IOBOND_DEV_BLK) {
		printf("  dev%u  blk  %llu sectors  block %u  queues %u x %u  status %#x  features %#llx/%#llx  enabled %#x  data %s\n",
		       d->index, (unsigned long long)blk->capacity,
		       blk->blk_size, d->num_queues, d->queue_size, d->status,
		       (unsigned long long)d->driver_features,
		       (unsigned long long)d->features, d->queues_enabled,
		       data_path(d));
		return;
	}
	if (json) {
		printf("%s{\"index\":%u,\"type\":\"%s\",\"mac\":\"", first ? "" : ",",
		       d->index, type_name(d->type));
		print_mac(d->config.net.mac);
		printf("\",\"mtu\":%u,\"queues\":%u,\"queue_size\":%u,"
		       "\"features\":\"%#llx\",\"driver_features\":\"%#llx\","
		       "\"status\":%u,\"queues_enabled\":\"%#x\",\"data\":\"%s\"}",
		       d->config.net.mtu, d->num_queues, d->queue_size,
		       (unsigned long long)d->features,
		       (unsigned long long)d->driver_features, d->status,
		       d->queues_enabled, data_path(d));
		return;
	}
	printf("  dev%u  %s  mac ", d->index, type_name(d->type));
	print_mac(d->config.net.mac);
	printf("  mtu %u  queues %u x %u  status %#x  features %#llx/%#llx  enabled %#x  data %s\n",
	       d->config.net.mtu, d->num_queues, d->queue_size, d->status,
	       (unsigned long long)d->driver_features,
	       (unsigned long long)d->features, d->queues_enabled,
	       data_path(d));
}

int cmd_status(int fd)
{
	struct iobond_board_info info;
	struct iobond_device_info d;
	bool first = true;
	char pci[16];
	__u32 i;
	int ret = get_info(fd, &info);

	if (ret)
		return fail("status", -ret, NULL);
	board_pci(info.index, pci);
	if (json)
		printf("{\"board\":%u,\"pci\":\"%s\",\"link_up\":%s,\"running\":%s,"
		       "\"engine\":%s,\"own_id\":%u,"
		       "\"peer_id\":%u,\"region_size\":%llu,\"window_size\":%llu,"
		       "\"devices\":[", info.index, pci,
		       info.flags & IOBOND_BOARD_LINK_UP ? "true" : "false",
		       info.flags & IOBOND_BOARD_RUNNING ? "true" : "false",
		       info.flags & IOBOND_BOARD_ENGINE ? "true" : "false",
		       info.own_id, info.peer_id,
		       (unsigned long long)info.region_size,
		       (unsigned long long)info.window_size);
	else
		printf("board%u: link %s, %s, engine %s, %u of %u devices, region %llu bytes, window %llu bytes\n",
		       info.index,
		       info.flags & IOBOND_BOARD_LINK_UP ? "up" : "down",
		       info.flags & IOBOND_BOARD_RUNNING ? "running" : "stopped",
		       info.flags & IOBOND_BOARD_ENGINE ? "on" : "off",
		       info.num_devices, info.max_devices,
		       (unsigned long long)info.region_size,
		       (unsigned long long)info.window_size);
	for (i = 0; i < info.max_devices; i++) {
		ret = get_dev(fd, i, &d);
		if (ret)
			return fail("status", -ret, NULL);
		if (!d.type)
			continue;
		print_dev(&d, first);
		first = false;
	}
	if (json)
		printf("]}\n");
	return 0;
}

static int cmd_serve(int fd, int argc, char **argv);
static int serve_ready = -1;	/* add-net --tap waits on it */

/*
 * add-net --tap: run "serve" for the new NIC as a daemon, logging to
 * /run/iobond/BOARD-devN.log; it stops with SIGTERM or the device.
 *
 * Return: 0 once it said it serves (its tap and the board are open),
 * else an errno.
 */
static int spawn_serve(__u32 index, const char *tap, char *log, size_t loglen)
{
	char dev[16], buf[8];
	char *argv[] = { "serve", dev, "--tap", (char *)tap, NULL };
	struct pollfd pfd;
	int fd, p[2], n;
	pid_t pid;

	snprintf(dev, sizeof(dev), "%u", index);
	mkdir("/run/iobond", 0755);
	snprintf(log, loglen, "/run/iobond/%s-dev%u.log", board_base(), index);
	if (pipe2(p, O_CLOEXEC))
		return errno;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return errno;
	if (!pid) {
		close(p[0]);
		if (setsid() < 0 || fork())
			_exit(0);
		/* The daemon keeps no file of ours but the pipe. */
		for (fd = 3; fd < 1024; fd++)
			if (fd != p[1])
				close(fd);
		fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd < 0)
			fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			dup2(fd, 0);
			close(fd);
		}
		serve_ready = p[1];
		fd = open_board(board_name);
		_exit(fd < 0 ? 1 : cmd_serve(fd, 4, argv));
	}
	close(p[1]);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	/* The pipe closes unanswered if serve gave up. */
	pfd = (struct pollfd){ .fd = p[0], .events = POLLIN };
	do
		n = poll(&pfd, 1, 30000);
	while (n < 0 && errno == EINTR);
	n = n == 1 ? read(p[0], buf, sizeof(buf)) : 0;
	close(p[0]);
	return n > 0 ? 0 : EIO;
}

int cmd_add_net(int fd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mac", required_argument, NULL, 'm' },
		{ "queues", required_argument, NULL, 'q' },
		{ "pairs", required_argument, NULL, 'p' },
		{ "queue-size", required_argument, NULL, 's' },
		{ "mtu", required_argument, NULL, 'u' },
		{ "features", required_argument, NULL, 'f' },
		{ "tap", required_argument, NULL, 't' },
		{ "engine", no_argument, NULL, 'e' },
		{ "window", no_argument, NULL, 'w' },
		{ "unit", no_argument, NULL, 'U' },
		{ }
	};
	const char *tap = NULL;
	char path = 0, unit[UNIT_NAME_MAX], log[PATH_MAX], vars[512];
	bool use_unit = false;
	/*
	 * By default what QEMU's virtio-net offers on a tap: mergeable rx
	 * buffers, which vhost-net serves, and the offloads the tap does
	 * (serve sets them): without them the board's TCP cuts and sums
	 * every 1.5 KB segment itself, on the tenant's CPU.
	 */
	struct iobond_device_add add = {
		.argsz = sizeof(add), .type = IOBOND_DEV_NET,
		.num_queues = 2, .queue_size = 256,
		.features = 1ULL << VIRTIO_NET_F_MRG_RXBUF | NET_OFFLOADS,
	};
	unsigned long v, pairs = 0;
	bool mac = false, features = false;
	char *end;
	int opt, ret;

	/*
	 * "+": the words stay in order, for provision_record().  optind 0
	 * has glibc read each parser's optstring afresh.
	 */
	optind = 0;
	while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			if (parse_mac(optarg, add.config.net.mac))
				return usage_error("--mac %s: expected xx:xx:xx:xx:xx:xx", optarg);
			mac = true;
			break;
		case 'q':
			if (parse_uint(optarg, 0xffff, &v))
				return usage_error("--queues %s: expected a number", optarg);
			add.num_queues = v;
			break;
		case 'p':
			if (parse_uint(optarg, NET_MAX_PAIRS, &v) || !v)
				return usage_error("--pairs %s: expected 1 to 7", optarg);
			pairs = v;
			break;
		case 's':
			if (parse_uint(optarg, 0xffff, &v))
				return usage_error("--queue-size %s: expected a number", optarg);
			add.queue_size = v;
			break;
		case 'u':
			if (parse_uint(optarg, 0xffff, &v))
				return usage_error("--mtu %s: expected a number", optarg);
			add.config.net.mtu = v;
			break;
		case 't':
			tap = optarg;
			break;
		case 'U':
			use_unit = true;
			break;
		case 'e':
		case 'w':
			if (path && path != opt)
				return usage_error("%s", "--engine or --window, not both");
			path = opt;
			break;
		case 'f':
			errno = 0;
			features = true;
			add.features = strtoull(optarg, &end, 16);
			if (errno || end == optarg || *end || *optarg == '-')
				return usage_error("--features %s: expected hex", optarg);
			break;
		default:
			return 2;
		}
	}
	if (!mac || optind != argc)
		return usage_error("%s", "add-net needs --mac MAC and nothing else");
	/*
	 * --pairs N: N rx/tx pairs, and past one the control queue that
	 * serve answers, with what it answers offered.
	 */
	if (pairs > 1) {
		add.num_queues = 2 * pairs + 1;
		if (!features)
			add.features |= NET_CTRL;
	} else if (pairs) {
		add.num_queues = 2;
	}
	if (use_unit && !tap)
		return usage_error("%s", "--unit needs --tap: the unit serves the NIC on it");
	if (use_unit && (!unit_word_ok(tap) || !unit_word_ok(board_name)))
		return usage_error("--unit: %s: " UNIT_WORD_RULE,
				   unit_word_ok(tap) ? board_name : tap);
	add.tag = device_tag('n', add.config.net.mac, sizeof(add.config.net.mac));
	add.flags = add_path_flags(fd, path);
	/*
	 * Through the window the board bounces every buffer in the NIC's
	 * zone, where 64 KiB TSO units would crowd out the rest: offloads
	 * by default only through the engine.
	 */
	if (!features && !(add.flags & IOBOND_ADD_ENGINE))
		add.features &= ~NET_OFFLOADS;
	/*
	 * Through the window serve reads the board's own control queue,
	 * whose commands virtio_net puts in indirect tables; netctrl.c
	 * follows none.  The engine hands serve plain chains.
	 */
	if (pairs > 1 && !(add.flags & IOBOND_ADD_ENGINE))
		return fail("add-net", EINVAL,
			    "a NIC of several pairs needs the link's engine (--engine)");

	if (ioctl(fd, IOBOND_ADD_DEVICE, &add)) {
		int err = errno;

		return fail("add-net", err,
			    err == EEXIST ? "that MAC is already on this board" :
			    err == ENOSPC ? NO_ROOM :
			    err == EINVAL ? "the kernel log (dmesg) names the field" :
			    err == ENXIO ? NO_ENGINE : NULL);
	}
	if (use_unit) {
		snprintf(vars, sizeof(vars), "BOARD=%s\nDEV=%u\nTAP=%s\n",
			 board_name, add.index, tap);
		if (unit_leave("iobond-serve", add.index, vars, unit, log)) {
			struct iobond_device_ref ref = { .argsz = sizeof(ref),
							 .index = add.index };

			ioctl(fd, IOBOND_REMOVE_DEVICE, &ref);
			return 1;
		}
	} else if (tap) {
		ret = spawn_serve(add.index, tap, log, sizeof(log));
		if (ret) {
			struct iobond_device_ref ref = { .argsz = sizeof(ref),
							 .index = add.index };

			fail("add-net: serve did not start", ret, log);
			tail_log(log);
			ioctl(fd, IOBOND_REMOVE_DEVICE, &ref);
			return 1;
		}
	}
	provision_record(fd, add.index, argc, argv);
	if (json) {
		printf("{\"index\":%u", add.index);
		if (tap) {
			printf(",\"tap\":");
			json_str(tap);
			if (use_unit) {
				printf(",\"unit\":");
				json_str(unit);
			}
			printf(use_unit ? ",\"conf\":" : ",\"log\":");
			json_str(log);
		}
		printf("}\n");
	} else if (use_unit) {
		printf("%s: dev%u added, to be served on %s by %s (%s; conf %s)\n",
		       board_name, add.index, tap, unit, unit_started(), log);
	} else if (tap) {
		printf("%s: dev%u added, served on %s (log %s)\n", board_name,
		       add.index, tap, log);
	} else {
		printf("%s: dev%u added\n", board_name, add.index);
	}
	return 0;
}

/* How long remove waits for the board to let go of a leaving disk. */
#define LEAVE_WAIT_MS	5000

/*
 * A disk that the board's driver holds leaves first: its slot is free
 * once the board has let go, in milliseconds for a board that is well.
 * Return: 0 once it is free (or the board is gone), else -1.
 */
static int wait_slot_free(int fd, __u32 index)
{
	struct iobond_device_info d;
	int waited;

	for (waited = 0; waited <= LEAVE_WAIT_MS; waited += 50) {
		if (get_dev(fd, index, &d) || !(d.flags & IOBOND_DEVICE_LEAVING))
			return 0;
		poll(NULL, 0, 50);
	}
	return -1;
}

static int cmd_remove(int fd, int argc, char **argv)
{
	struct iobond_device_ref ref = { .argsz = sizeof(ref) };
	unsigned long v;

	if (argc != 2)
		return usage_error("%s", "remove needs DEV (0, 1, ... or dev0, ...)");
	if (parse_dev(argv[1], &v))
		return usage_error("remove %s: no such device number", argv[1]);
	ref.index = v;
	/* A disk's mdev goes first; its backend finishes and exits. */
	if (blk_release(ref.index))
		return 1;
	if (ioctl(fd, IOBOND_REMOVE_DEVICE, &ref))
		return fail("remove", errno,
			    errno == ENOENT ? "that slot is empty" : NULL);
	provision_forget(ref.index);
	unit_forget(ref.index);
	if (wait_slot_free(fd, ref.index))
		fprintf(stderr, "iobondctl: %s: remove: dev%u is gone, but the board has not let go of it after %u ms: its slot stays taken until it does, the board stops, or an add finds no other\n",
			board_name, ref.index, LEAVE_WAIT_MS);
	if (json)
		printf("{\"removed\":%lu}\n", v);
	else
		printf("%s: dev%lu removed\n", board_name, v);
	return 0;
}

int cmd_ctrl(int fd, const char *cmd, __u32 flag)
{
	struct iobond_board_ctrl ctrl = { .argsz = sizeof(ctrl), .flags = flag };

	if (ioctl(fd, IOBOND_BOARD_CTRL, &ctrl))
		return fail(cmd, errno, NULL);
	if (json) {
		printf("{\"board\":");
		json_str(board_name);
		printf(",\"done\":\"%s\"}\n", cmd);
	} else
		printf("%s: %s\n", board_name, cmd);
	return 0;
}

static int cmd_link(int fd, int argc, char **argv)
{
	struct iobond_net_link nl = { .argsz = sizeof(nl) };
	unsigned long v;

	if (argc != 3 || (strcmp(argv[2], "up") && strcmp(argv[2], "down")) ||
	    parse_dev(argv[1], &v))
		return usage_error("%s", "link needs DEV up|down");
	nl.index = v;
	nl.flags = strcmp(argv[2], "up") ? 0 : IOBOND_NET_LINK_UP;
	if (ioctl(fd, IOBOND_SET_NET_LINK, &nl))
		return fail("link", errno,
			    errno == ENOENT ? "that slot is empty" :
			    errno == EINVAL ? "that device is no NIC" : NULL);
	if (json)
		printf("{\"index\":%lu,\"link\":\"%s\"}\n", v, argv[2]);
	else
		printf("%s: dev%lu link %s\n", board_name, v, argv[2]);
	return 0;
}

static int cmd_stats(int fd, int argc, char **argv)
{
	struct iobond_device_info d;
	struct iobond_queue_stats st;
	unsigned long v;
	__u32 q;
	int ret;

	if (argc != 2 || parse_dev(argv[1], &v))
		return usage_error("%s", "stats needs DEV");
	ret = get_dev(fd, v, &d);
	if (ret)
		return fail("stats", -ret, NULL);
	if (!d.type)
		return fail("stats", ENOENT, "that slot is empty");
	if (json)
		printf("{\"index\":%lu,\"queues\":[", v);
	for (q = 0; q < d.num_queues; q++) {
		st = (struct iobond_queue_stats){ .argsz = sizeof(st),
						  .index = v, .queue = q };
		if (ioctl(fd, IOBOND_GET_QUEUE_STATS, &st))
			return fail("stats", errno, NULL);
		if (json)
			printf("%s{\"queue\":%u,\"kicks\":%llu,\"interrupts\":%llu,\"bytes\":%llu}",
			       q ? "," : "", q, (unsigned long long)st.kicks,
			       (unsigned long long)st.interrupts,
			       (unsigned long long)st.bytes);
		else
			printf("dev%lu q%u: kicks %llu interrupts %llu bytes %llu\n",
			       v, q, (unsigned long long)st.kicks,
			       (unsigned long long)st.interrupts,
			       (unsigned long long)st.bytes);
	}
	if (json)
		printf("]}\n");
	return 0;
}

static const char *event_name(__u32 type)
{
	static const char *const names[] = {
		[IOBOND_EVENT_LINK_UP] = "link-up",
		[IOBOND_EVENT_LINK_DOWN] = "link-down",
		[IOBOND_EVENT_STATUS] = "status",
		[IOBOND_EVENT_QUEUE_ENABLED] = "queue-enabled",
		[IOBOND_EVENT_DEVICE_RESET] = "device-reset",
		[IOBOND_EVENT_OVERFLOW] = "overflow",
	};

	return type < sizeof(names) / sizeof(names[0]) && names[type] ?
	       names[type] : "unknown";
}

static int cmd_events(int fd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ }
	};
	unsigned long count = 0, timeout = 0, seen = 0;
	struct iobond_event ev[16];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int opt, n, i;
	ssize_t len;

	optind = 0;	/* glibc reads the optstring afresh */
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt == 'c' && !parse_uint(optarg, ~0UL, &count))
			continue;
		if (opt == 't' && !parse_uint(optarg, 3600000, &timeout))
			continue;
		return usage_error("%s", "events [--count N] [--timeout MS]");
	}
	while (!count || seen < count) {
		n = poll(&pfd, 1, timeout ? (int)timeout : -1);
		if (n < 0)
			return fail("events", errno, NULL);
		if (!n)
			break;
		if (pfd.revents & (POLLHUP | POLLERR))
			return fail("events", ENODEV, "the board went away");
		len = read(fd, ev, sizeof(ev));
		if (len < 0)
			return fail("events", errno, NULL);
		/* A read may bring more than --count asked for: only those. */
		for (i = 0; i < len / (ssize_t)sizeof(ev[0]) &&
			    (!count || seen < count); i++, seen++) {
			if (json)
				printf("{\"event\":\"%s\",\"index\":%u,\"arg\":%u,\"time_ns\":%llu}\n",
				       event_name(ev[i].type), ev[i].index,
				       ev[i].arg, (unsigned long long)ev[i].time_ns);
			else
				printf("%s dev%u %u\n", event_name(ev[i].type),
				       ev[i].index, ev[i].arg);
		}
		fflush(stdout);
	}
	return 0;
}

/* ---- serve: wire a NIC to vhost-net and a tap ---------------------- */

/*
 * A NIC of N pairs is served by N vhost-net instances, pair p's on queue p
 * of a multiqueue tap (its rx and tx are the device's queues 2p and
 * 2p + 1), and its control queue, the last, by serve itself (netctrl.c).
 */
struct served {
	int board;		/* /dev/iobond/boardN */
	__u32 index;
	void *window;
	size_t window_size;
	__u16 pairs;		/* the NIC's */
	__u16 active;		/* the pairs its driver uses */
	int tap[NET_MAX_PAIRS];	/* one queue of the tap per pair */
	bool attached[NET_MAX_PAIRS];	/* that queue takes packets */
	int vhost[NET_MAX_PAIRS];	/* [0] is -1 while not wired */
	__u32 generation;	/* the device's, when wired */
	int kick[IOBOND_MAX_QUEUES];
	int call[IOBOND_MAX_QUEUES];
	__u16 nq;		/* queues wired so far */
	bool has_ctrl;
	bool busy;		/* another process holds the board's eventfds */
	struct netctrl ctrl;
};

#define SERVE_POLL_MS	100
#define SERVE_BUSY_TRIES	5

static volatile sig_atomic_t serve_stop;

static void serve_signal(int sig)
{
	(void)sig;
	serve_stop = 1;
}

/*
 * What the tap does with the virtio-net header: the driver's offloads go
 * to the tap (TUNSETOFFLOAD), never to vhost-net, which passes the header
 * through and knows none of them.
 */
static unsigned int tap_offloads(__u64 feat)
{
	unsigned int off = 0;

	/* The tap refuses TSO without checksum offload. */
	if (!(feat & 1ULL << VIRTIO_NET_F_GUEST_CSUM))
		return 0;
	off |= TUN_F_CSUM;
	if (feat & 1ULL << VIRTIO_NET_F_GUEST_TSO4)
		off |= TUN_F_TSO4;
	if (feat & 1ULL << VIRTIO_NET_F_GUEST_TSO6)
		off |= TUN_F_TSO6;
	return off;
}

static int tap_open(const char *name, bool mq)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR |
					  (mq ? IFF_MULTI_QUEUE : 0) };
	int hdr = 12;	/* virtio-net header with num_buffers: VERSION_1 */
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "iobondctl: /dev/net/tun: %s (is tun loaded?)\n",
			strerror(errno));
		return -1;
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) || ioctl(fd, TUNSETVNETHDRSZ, &hdr) ||
	    ioctl(fd, TUNSETOFFLOAD, 0)) {
		fprintf(stderr, "iobondctl: tap %s: %s (is it another process's, or no tap?)\n",
			name, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * The NIC's carrier says whether anything serves it: a board whose driver
 * sees no carrier queues nothing, rather than timing out on a device that
 * stopped completing its packets.
 */
static void set_carrier(struct served *sv, bool up)
{
	struct iobond_net_link nl = { .argsz = sizeof(nl), .index = sv->index,
				      .flags = up ? IOBOND_NET_LINK_UP : 0 };

	if (ioctl(sv->board, IOBOND_SET_NET_LINK, &nl))
		fprintf(stderr, "iobondctl: %s: dev%u carrier %s: %s\n",
			board_name, sv->index, up ? "up" : "down",
			strerror(errno));
}

static bool wired(const struct served *sv)
{
	return sv->window != MAP_FAILED;
}

/* Tear the wiring down; the window is mapped anew for the next wiring. */
static void serve_unwire(struct served *sv)
{
	struct iobond_vring_eventfd ve = { .argsz = sizeof(ve), .fd = -1 };
	__u16 q;

	if (!wired(sv))
		return;
	for (q = 0; q < sv->pairs; q++) {
		if (sv->vhost[q] >= 0)
			close(sv->vhost[q]);
		sv->vhost[q] = -1;
	}
	for (q = 0; q < sv->nq; q++) {
		ve.index = sv->index;
		ve.queue = q;
		ve.flags = IOBOND_VRING_KICK;
		ioctl(sv->board, IOBOND_SET_VRING_EVENTFD, &ve);
		ve.flags = IOBOND_VRING_CALL;
		ioctl(sv->board, IOBOND_SET_VRING_EVENTFD, &ve);
		close(sv->kick[q]);
		close(sv->call[q]);
	}
	sv->nq = 0;
	munmap(sv->window, sv->window_size);
	sv->window = MAP_FAILED;
	fprintf(stderr, "iobondctl: %s: dev%u unwired\n", board_name, sv->index);
}

#define VHOST(fd, call, arg) do {					\
	if (ioctl(fd, call, arg)) {					\
		fprintf(stderr, "iobondctl: %s: " #call ": %s: vhost-net refused it (is vhost_net loaded?)\n", \
			board_name, strerror(errno));			\
		return -1;						\
	}								\
} while (0)

/*
 * The tap's queues take packets for the pairs the driver uses, and only
 * those: a flow the tap steered to a pair without receive buffers would
 * wait there.  0, or -1 once said why not.
 */
static int set_pairs(void *arg, __u16 n)
{
	struct served *sv = arg;
	struct ifreq ifr = { };
	__u16 p;

	for (p = 0; p < sv->pairs; p++) {
		if (sv->attached[p] == (p < n))
			continue;
		ifr.ifr_flags = p < n ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
		if (ioctl(sv->tap[p], TUNSETQUEUE, &ifr)) {
			fprintf(stderr, "iobondctl: %s: dev%u: the tap's queue %u: %s\n",
				board_name, sv->index, p, strerror(errno));
			/* Back to the pairs the driver still uses (best effort). */
			if (sv->active && n != sv->active)
				set_pairs(sv, sv->active);
			return -1;
		}
		sv->attached[p] = p < n;
	}
	if (sv->active != n)
		fprintf(stderr, "iobondctl: %s: dev%u: %u of %u pairs in use\n",
			board_name, sv->index, n, sv->pairs);
	sv->active = n;
	return 0;
}

/*
 * Queue @q's eventfds, with the board and, for a pair's queue, with its
 * vhost-net instance @vhost (-1 for the control queue).  Its ring in @vi.
 */
static int wire_queue(struct served *sv, int vhost, __u16 q,
		      struct iobond_vring_info *vi)
{
	struct iobond_vring_eventfd ve = { .argsz = sizeof(ve),
					   .index = sv->index, .queue = q };
	/* vhost-net knows a pair's queues as its 0 (rx) and 1 (tx). */
	struct vhost_vring_state num = { .index = q % 2 }, base = { .index = q % 2 };
	struct vhost_vring_addr addr = { .index = q % 2 };
	struct vhost_vring_file file = { .index = q % 2 };
	char *w = sv->window;
	int ret;

	*vi = (struct iobond_vring_info){ .argsz = sizeof(*vi),
					  .index = sv->index, .queue = q };
	if (ioctl(sv->board, IOBOND_GET_VRING, vi) ||
	    !(vi->flags & IOBOND_VRING_ENABLED)) {
		fprintf(stderr, "iobondctl: %s: dev%u queue %u is not enabled\n",
			board_name, sv->index, q);
		return -1;
	}
	sv->kick[q] = eventfd(0, EFD_CLOEXEC);
	sv->call[q] = eventfd(0, EFD_CLOEXEC);
	sv->nq = q + 1;
	ve.flags = IOBOND_VRING_KICK;
	ve.fd = sv->kick[q];
	if (ioctl(sv->board, IOBOND_SET_VRING_EVENTFD, &ve))
		goto err_board;
	ve.flags = IOBOND_VRING_CALL;
	ve.fd = sv->call[q];
	if (ioctl(sv->board, IOBOND_SET_VRING_EVENTFD, &ve))
		goto err_board;
	if (vhost < 0)
		return 0;
	num.num = vi->size;
	VHOST(vhost, VHOST_SET_VRING_NUM, &num);
	/*
	 * Resume where the ring is: a backend before us (killed, say) may
	 * have served part of it.  What it took and never completed is taken
	 * again, as QEMU restarts a vhost ring.
	 */
	base.num = vi->used_idx & 0xffff;
	VHOST(vhost, VHOST_SET_VRING_BASE, &base);
	addr.desc_user_addr = (unsigned long)(w + vi->desc);
	addr.avail_user_addr = (unsigned long)(w + vi->avail);
	addr.used_user_addr = (unsigned long)(w + vi->used);
	VHOST(vhost, VHOST_SET_VRING_ADDR, &addr);
	file.fd = sv->kick[q];
	VHOST(vhost, VHOST_SET_VRING_KICK, &file);
	file.fd = sv->call[q];
	VHOST(vhost, VHOST_SET_VRING_CALL, &file);
	file.fd = sv->tap[q / 2];
	VHOST(vhost, VHOST_NET_SET_BACKEND, &file);
	return 0;

err_board:
	ret = errno;
	fprintf(stderr, "iobondctl: %s: attaching eventfds: %s%s\n", board_name,
		strerror(ret), ret == EBUSY ? " (another process serves it)" : "");
	sv->busy = ret == EBUSY;
	return -1;
}

/* Pair @p's vhost-net instance, with @feat and the NIC's zone as memory. */
static int wire_pair(struct served *sv, __u16 p, __u64 feat)
{
	struct {
		struct vhost_memory mem;
		struct vhost_memory_region region;
	} mem = { .mem.nregions = 1 };
	struct iobond_vring_info vi;
	__u64 vfeat, zone = IOBOND_ZONE_SIZE(sv->window_size);
	int fd = open("/dev/vhost-net", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		fail("serve: /dev/vhost-net", errno, "is vhost_net loaded?");
		return -1;
	}
	sv->vhost[p] = fd;
	VHOST(fd, VHOST_SET_OWNER, NULL);
	VHOST(fd, VHOST_GET_FEATURES, &vfeat);
	if (feat & ~vfeat) {
		fprintf(stderr, "iobondctl: %s: dev%u negotiated %#llx, vhost-net lacks %#llx\n",
			board_name, sv->index, (unsigned long long)feat,
			(unsigned long long)(feat & ~vfeat));
		return -1;
	}
	VHOST(fd, VHOST_SET_FEATURES, &feat);
	/*
	 * vhost-net reaches the device's zone of the window and nothing else:
	 * a buffer the board put elsewhere is vhost's error, and another
	 * device's reset, which revokes that device's zone, never reaches it.
	 */
	mem.region.guest_phys_addr = sv->index * zone;
	mem.region.memory_size = zone;
	mem.region.userspace_addr = (unsigned long)sv->window + sv->index * zone;
	VHOST(fd, VHOST_SET_MEM_TABLE, &mem);
	return wire_queue(sv, fd, 2 * p, &vi) ?: wire_queue(sv, fd, 2 * p + 1, &vi);
}

/* The control queue, which serve answers itself. */
static int wire_ctrl(struct served *sv, const struct iobond_device_info *d)
{
	struct iobond_vring_info vi;
	struct netctrl *c = &sv->ctrl;
	__u64 zone = IOBOND_ZONE_SIZE(sv->window_size);

	if (wire_queue(sv, -1, 2 * sv->pairs, &vi))
		return -1;
	*c = (struct netctrl){
		.win = sv->window, .zone_off = sv->index * zone, .zone_size = zone,
		.desc = vi.desc, .avail = vi.avail, .used = vi.used,
		.size = vi.size, .used_idx = vi.used_idx,
		.event_idx = d->driver_features & 1ULL << VIRTIO_RING_F_EVENT_IDX,
		.max_pairs = sv->pairs, .set_pairs = set_pairs, .arg = sv,
	};
	memcpy(c->mac, d->config.net.mac, sizeof(c->mac));
	if (netctrl_init(c)) {
		fprintf(stderr, "iobondctl: %s: dev%u: the control queue's ring is not in the NIC's zone\n",
			board_name, sv->index);
		return -1;
	}
	return 0;
}

/* The board's driver is up: hand its queues to vhost-net. */
static int serve_wire(struct served *sv, const struct iobond_device_info *d)
{
	__u64 feat;
	int ret;
	__u16 p;

	/* Rings of a later generation than @d's are not these: see the loop. */
	sv->generation = d->generation;
	sv->window = mmap(NULL, sv->window_size, PROT_READ | PROT_WRITE,
			  MAP_SHARED, sv->board, 0);
	if (sv->window == MAP_FAILED) {
		fail("serve: mmap", errno, NULL);
		return EIO;
	}
	sv->nq = 0;
	sv->busy = false;
	/*
	 * Window offsets are the addresses, so vhost needs no IOTLB: no
	 * ACCESS_PLATFORM for it.  MAC, STATUS and MTU are config space, which
	 * the host kernel serves, and the control queue is ours: vhost-net
	 * never sees them.
	 */
	feat = d->driver_features & ~(1ULL << VIRTIO_F_ACCESS_PLATFORM |
				      1ULL << VIRTIO_NET_F_MAC |
				      1ULL << VIRTIO_NET_F_STATUS |
				      1ULL << VIRTIO_NET_F_MTU | NET_OFFLOADS | NET_CTRL_ALL);
	/* Before the backend: the tap queues nothing the driver cannot take. */
	if (ioctl(sv->tap[0], TUNSETOFFLOAD, tap_offloads(d->driver_features))) {
		fail("serve: the tap's offloads", errno, NULL);
		goto err;
	}
	for (p = 0; p < sv->pairs; p++)
		if (wire_pair(sv, p, feat))
			goto err;
	if (sv->has_ctrl && wire_ctrl(sv, d))
		goto err;
	/* Until its driver says otherwise, a NIC uses its first pair alone. */
	if (set_pairs(sv, 1))
		goto err;
	/*
	 * The board rang before anyone listened, and with EVENT_IDX it may
	 * not ring again: look at each ring once.
	 */
	for (p = 0; p < sv->nq; p++)
		eventfd_write(sv->kick[p], 1);
	set_carrier(sv, true);
	fprintf(stderr, "iobondctl: %s: dev%u wired to vhost-net, features %#llx, %u pair%s\n",
		board_name, sv->index, (unsigned long long)feat, sv->pairs,
		sv->pairs > 1 ? "s and a control queue" : "");
	return 0;

err:
	ret = sv->busy ? EBUSY : EIO;
	serve_unwire(sv);
	return ret;
}

/*
 * A reset revokes the NIC's zone, and serve's reads of its control queue
 * in the window fault (SIGBUS): only those are caught, and only while
 * serve_ctrl() reads; any other SIGBUS kills serve as it would have.
 */
static sigjmp_buf serve_fault;
static volatile sig_atomic_t in_ctrl;
static char *fault_lo, *fault_hi;

static void serve_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (in_ctrl && (char *)si->si_addr >= fault_lo && (char *)si->si_addr < fault_hi)
		siglongjmp(serve_fault, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * Answer the control queue's commands, @kicked or not (each poll looks, in
 * case a kick was lost); the board hears of them.
 */
static void serve_ctrl(struct served *sv, bool kicked)
{
	__u16 q = 2 * sv->pairs;
	eventfd_t v;
	int n;

	if (kicked)
		eventfd_read(sv->kick[q], &v);
	fault_lo = sv->window;
	fault_hi = fault_lo + sv->window_size;
	if (sigsetjmp(serve_fault, 1)) {
		in_ctrl = 0;
		fprintf(stderr, "iobondctl: %s: dev%u: the zone was revoked under the control queue\n",
			board_name, sv->index);
		serve_unwire(sv);
		return;
	}
	in_ctrl = 1;
	n = netctrl_serve(&sv->ctrl);
	in_ctrl = 0;
	if (n)
		eventfd_write(sv->call[q], 1);
	/* A batch was answered and more wait: poll() wakes at once for them. */
	if (n < 0)
		eventfd_write(sv->kick[q], 1);
}

/* Hold /run/iobond/BOARD-devN.serve for as long as serve runs; 0 or 1. */
static int serve_lock(__u32 index)
{
	char path[PATH_MAX];
	int fd, tries;

	mkdir("/run/iobond", 0755);
	snprintf(path, sizeof(path), "/run/iobond/%s-dev%u.serve", board_base(), index);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail("serve", errno, path);
	for (tries = 0; flock(fd, LOCK_EX | LOCK_NB); tries++) {
		if (errno != EWOULDBLOCK || tries == SERVE_BUSY_TRIES) {
			fail("serve", errno, errno == EWOULDBLOCK ?
			     "another serve holds that NIC" : path);
			close(fd);
			return 1;
		}
		sleep(1);
	}
	return 0;	/* the descriptor stays open, and the lock with it */
}

static int cmd_serve(int fd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tap", required_argument, NULL, 't' },
		{ }
	};
	struct served sv = { .board = fd, .window = MAP_FAILED };
	struct iobond_board_info info;
	struct iobond_device_info d;
	/*
	 * The board's file, for HUP only (the events are for the operator's
	 * readers, not ours), and the control queue's kicks while wired.
	 */
	struct pollfd pfd[2] = { { .fd = fd }, { .events = POLLIN } };
	struct sigaction sa = { .sa_sigaction = serve_sigbus, .sa_flags = SA_SIGINFO };
	const char *tap = NULL;
	unsigned long v;
	int opt, ret, wait, busy = 0;
	__u16 p;
	__u32 ok = VIRTIO_CONFIG_S_DRIVER_OK;
	__u8 mac[6];

	optind = 0;	/* glibc reads the optstring afresh */
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt != 't')
			return 2;
		tap = optarg;
	}
	if (!tap || optind != argc - 1 ||
	    parse_dev(argv[optind], &v))
		return usage_error("%s", "serve needs DEV and --tap NAME");
	sv.index = v;
	ret = get_info(fd, &info);
	if (!ret)
		ret = get_dev(fd, sv.index, &d);
	if (ret)
		return fail("serve", -ret, NULL);
	if (d.type != IOBOND_DEV_NET)
		return fail("serve", ENODEV, "that slot holds no NIC");
	/* The NIC we serve: another one in its slot is not ours. */
	memcpy(mac, d.config.net.mac, sizeof(mac));
	sv.window_size = info.window_size;
	/* The kernel took N pairs, and a control queue past one (board.c). */
	/*
	 * One serve per NIC, before any tap queue opens: a second one would
	 * add queues to the first's multiqueue tap, and reset its offloads.
	 * A killed serve's lock goes with it; a live one's is waited on as
	 * for its eventfds (SERVE_BUSY_TRIES).
	 */
	if (serve_lock(sv.index))
		return 1;
	sv.pairs = d.num_queues / 2;
	sv.has_ctrl = d.num_queues % 2;
	if (!sv.pairs || sv.pairs > NET_MAX_PAIRS)
		return fail("serve", EINVAL, "the NIC has no queue pairs, or too many");
	for (p = 0; p < sv.pairs; p++) {
		sv.vhost[p] = -1;
		sv.tap[p] = tap_open(tap, sv.pairs > 1);
		if (sv.tap[p] < 0)
			return 1;
		sv.attached[p] = true;
	}
	signal(SIGTERM, serve_signal);
	signal(SIGINT, serve_signal);
	sigaction(SIGBUS, &sa, NULL);
	if (serve_ready >= 0) {
		if (write(serve_ready, "ready\n", 6) < 0)
			return fail("serve", errno, NULL);
		close(serve_ready);
		serve_ready = -1;
	}
	fprintf(stderr, "iobondctl: %s: serving dev%u on %s\n", board_name,
		sv.index, tap);

	/*
	 * Wire at DRIVER_OK; unwire at reset, removal or stop; repeat.  The
	 * state is looked at every SERVE_POLL_MS; a reset in between revoked
	 * the device's zone, so vhost-net cannot touch the memory meanwhile.
	 */
	while (!serve_stop) {
		ret = get_dev(fd, sv.index, &d);
		if (ret)
			return fail("serve", -ret, NULL);
		if (!d.type) {
			serve_unwire(&sv);
			return fail("serve", ENOENT, "the device was removed");
		}
		if (d.type != IOBOND_DEV_NET || memcmp(mac, d.config.net.mac, 6) ||
		    d.num_queues != 2 * sv.pairs + sv.has_ctrl) {
			serve_unwire(&sv);
			return fail("serve", ENOENT, "the device was replaced");
		}
		/*
		 * A reset, stop or removal detached our eventfds, however
		 * quickly the board came back to DRIVER_OK: wire anew.
		 */
		if (wired(&sv) && (!(d.status & ok) ||
				   d.generation != sv.generation ||
				   !(d.flags & IOBOND_DEVICE_OWNED)))
			serve_unwire(&sv);
		wait = SERVE_POLL_MS;
		/* A stopped board's rings are on their way out. */
		if (!wired(&sv) && (d.status & ok) &&
		    d.queues_enabled == (1u << d.num_queues) - 1 &&
		    !get_info(fd, &info) && info.flags & IOBOND_BOARD_RUNNING) {
			ret = serve_wire(&sv, &d);
			/*
			 * Another serve holds it: give a killed one's release
			 * a few seconds to come, then leave it the NIC.
			 */
			if (ret == EBUSY && ++busy == SERVE_BUSY_TRIES)
				return 1;
			if (!ret)
				busy = 0;
			/* Said why; try again in a while. */
			if (ret)
				wait = 1000;
		}
		pfd[1].fd = wired(&sv) && sv.has_ctrl ? sv.kick[2 * sv.pairs] : -1;
		pfd[1].revents = 0;
		if (poll(pfd, 2, wait) < 0 && errno != EINTR)
			return fail("serve", errno, NULL);
		if (pfd[0].revents & (POLLHUP | POLLERR)) {
			serve_unwire(&sv);
			return fail("serve", ENODEV, "the board went away");
		}
		if (wired(&sv) && sv.has_ctrl)
			serve_ctrl(&sv, pfd[1].revents & POLLIN);
	}
	serve_unwire(&sv);
	set_carrier(&sv, false);
	for (p = 0; p < sv.pairs; p++)
		close(sv.tap[p]);
	return 0;
}

/* The commands that take a board, and how many words each takes alone. */
static const struct {
	const char *name;
	int alone;		/* argc for a command of fixed form, else 0 */
} board_cmds[] = {
	{ "status", 1 }, { "add-net", 0 }, { "add-blk", 0 }, { "remove", 0 },
	{ "start", 1 }, { "stop", 1 }, { "reset", 1 }, { "stats", 0 },
	{ "events", 0 }, { "serve", 0 }, { "link", 0 }, { "save", 1 },
	{ "restore", 1 }, { "limit-net", 0 }, { "limit-blk", 0 },
};

static bool known_cmd(const char *cmd, int argc)
{
	size_t i;

	for (i = 0; i < sizeof(board_cmds) / sizeof(board_cmds[0]); i++)
		if (!strcmp(cmd, board_cmds[i].name))
			return !board_cmds[i].alone || argc == board_cmds[i].alone;
	return false;
}

int main(int argc, char **argv)
{
	const char *cmd;
	int fd, ret, i, n;

	/* --json may come anywhere among the words. */
	for (i = n = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else
			argv[n++] = argv[i];
	}
	argv[n] = NULL;
	argc = n;
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "list"))
		return argc == 2 ? cmd_list() : (usage(stderr), 2);
	if (argc < 3) {
		usage(stderr);
		return 2;
	}
	board_name = argv[1];
	cmd = argv[2];
	/* A mistyped command is a usage error, whichever board it names. */
	if (!known_cmd(cmd, argc - 2))
		return usage_error("unknown command or arguments: %s (see iobondctl --help)",
				   cmd);
	fd = open_board(board_name);
	if (fd < 0)
		return 1;
	argc -= 2;
	argv += 2;
	if (!strcmp(cmd, "status"))
		ret = cmd_status(fd);
	else if (!strcmp(cmd, "add-net"))
		ret = cmd_add_net(fd, argc, argv);
	else if (!strcmp(cmd, "add-blk"))
		ret = cmd_add_blk(fd, argc, argv);
	else if (!strcmp(cmd, "remove"))
		ret = cmd_remove(fd, argc, argv);
	else if (!strcmp(cmd, "start"))
		ret = cmd_ctrl(fd, cmd, IOBOND_BOARD_START);
	else if (!strcmp(cmd, "stop"))
		ret = cmd_ctrl(fd, cmd, IOBOND_BOARD_STOP);
	else if (!strcmp(cmd, "reset"))
		ret = cmd_ctrl(fd, cmd, IOBOND_BOARD_RESET);
	else if (!strcmp(cmd, "stats"))
		ret = cmd_stats(fd, argc, argv);
	else if (!strcmp(cmd, "events"))
		ret = cmd_events(fd, argc, argv);
	else if (!strcmp(cmd, "serve"))
		ret = cmd_serve(fd, argc, argv);
	else if (!strcmp(cmd, "save"))
		ret = cmd_save(fd, argc);
	else if (!strcmp(cmd, "restore"))
		ret = cmd_restore(fd, argc);
	else if (!strcmp(cmd, "limit-net"))
		ret = cmd_limit_net(fd, argc, argv);
	else if (!strcmp(cmd, "limit-blk"))
		ret = cmd_limit_blk(fd, argc, argv);
	else
		ret = cmd_link(fd, argc, argv);
	close(fd);
	return ret;
}

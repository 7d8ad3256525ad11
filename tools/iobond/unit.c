// SPDX-License-Identifier: GPL-2.0
/*
 * iobondctl add-net --tap --unit, add-blk --unit: the device's service is
 * left to systemd instead of a daemon of iobondctl's own.
 *
 * The instance's conf, /etc/iobond/BOARD-devN.conf, says what its unit
 * (iobond-serve@.service, iobond-blk@.service) runs; its first line marks
 * it as iobondctl's, so that "remove" takes away only what add wrote, and
 * add never writes over a conf written by hand.  If systemd runs this
 * machine (/run/systemd/system, sd_booted()), the instance is restarted
 * (an instance still running, of the slot's last device, would not read
 * the new conf), and add fails if systemctl does; if not, the conf is
 * left in place for when it does.  "restore" writes it again with
 * the disk's new mdev, which a hand-written conf would need by hand.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "iobondctl.h"

#define CONF_DIR	"/etc/iobond"
#define MARK		"# written by iobondctl; \"iobondctl BOARD remove\" removes it\n"

static void conf_path(char *buf, size_t len, unsigned int index,
		      const char *suffix)
{
	snprintf(buf, len, CONF_DIR "/%s-dev%u.conf%s", board_base(), index,
		 suffix);
}

/* Is @conf there, and not iobondctl's (a conf written by hand)? */
static bool conf_by_hand(const char *conf)
{
	char line[sizeof(MARK)];
	FILE *f = fopen(conf, "r");
	bool ours;

	if (!f)
		return false;
	ours = fgets(line, sizeof(line), f) && !strcmp(line, MARK);
	fclose(f);
	return !ours;
}

/* sd_booted(): does systemd run this machine? */
static bool systemd_runs(void)
{
	return !access("/run/systemd/system", F_OK);
}

/**
 * unit_word_ok() - can @s pass through a conf into a unit's command line?
 * @s: an option's value
 *
 * The unit expands $DISK and $OPTS at whitespace (a control character
 * among them), and systemd would read quotes, backslashes and "$" in the
 * conf.  Specifiers ("%") are not expanded in a conf's values.
 */
bool unit_word_ok(const char *s)
{
	const char *c;

	for (c = s; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f || strchr("\"'\\$", *c))
			return false;
	return s[0];
}

/* systemctl @verb @unit; its words to /dev/null if @quiet. */
static int systemctl(const char *verb, const char *unit, bool quiet)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		int null = quiet ? open("/dev/null", O_WRONLY) : -1;

		if (null >= 0)
			dup2(null, 2);
		execlp("systemctl", "systemctl", verb, unit, (char *)NULL);
		fprintf(stderr, "iobondctl: systemctl: %s\n", strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -EIO;
}

/**
 * unit_leave() - write the instance's conf; start it if systemd runs
 * @template: "iobond-blk" or "iobond-serve"
 * @index: the device's slot
 * @vars: the conf's lines, "NAME=value\n" each
 * @unit: the instance's name, out
 * @conf: the conf's path, out
 *
 * Return: 0; or 1 after saying why, with no conf left.
 */
int unit_leave(const char *template, unsigned int index, const char *vars,
	       char unit[UNIT_NAME_MAX], char conf[PATH_MAX])
{
	char tmp[PATH_MAX];
	FILE *f;
	int ret;

	snprintf(unit, UNIT_NAME_MAX, "%s@%s-dev%u.service", template,
		 board_base(), index);
	conf_path(conf, PATH_MAX, index, "");
	conf_path(tmp, sizeof(tmp), index, ".new");
	mkdir(CONF_DIR, 0755);
	if (conf_by_hand(conf))
		return fail("--unit", EEXIST,
			    "a conf written by hand is there: move it away, or add without --unit");
	/* Whole or not at all: the unit may be reading the old one. */
	f = fopen(tmp, "w");
	if (!f || fputs(MARK, f) < 0 || fputs(vars, f) < 0 || fclose(f) ||
	    rename(tmp, conf)) {
		ret = errno;
		unlink(tmp);
		return fail("--unit: writing the unit's conf", ret, conf);
	}
	if (!systemd_runs())
		return 0;
	/* A failed instance would be held by its start limit. */
	systemctl("reset-failed", unit, true);
	ret = systemctl("restart", unit, false);
	if (ret) {
		unlink(conf);
		return fail("--unit: systemctl restart", -ret,
			    "'systemctl status' and 'journalctl -u' of the unit say why");
	}
	return 0;
}

/**
 * unit_forget() - remove slot @index's conf, if iobondctl wrote it
 * @index: the slot
 */
void unit_forget(unsigned int index)
{
	char conf[PATH_MAX];

	conf_path(conf, sizeof(conf), index, "");
	if (!access(conf, F_OK) && !conf_by_hand(conf))
		unlink(conf);
}

/**
 * unit_started() - does systemd run the unit, or only its conf wait?
 *
 * Return: the words add prints after the unit's name.
 */
const char *unit_started(void)
{
	return systemd_runs() ? "started" :
	       "left in place: systemd is not running here";
}

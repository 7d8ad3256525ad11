// SPDX-License-Identifier: GPL-2.0
/*
 * iobondctl: a board's device table, saved and restored.
 *
 * The kernel knows what each device is, not how it was made: a disk's
 * backing file, its limits and a NIC's tap live in the command that added
 * it.  So add-net and add-blk record their words, once the device is in,
 * in /run/iobond/BOARD-devN.args, with the device's instance, type and
 * MAC or capacity; remove forgets them, and a record that names another
 * device is of a device gone.  "save" prints, in
 * slot order, one line per device, its words separated by tabs, and
 * "start" if the board runs; "restore" reads such lines and runs them.
 * Saved to a file that outlives the host (/run does not), the table comes
 * back after a host restart:
 *
 *   iobondctl board0 save > /var/lib/iobond/board0.table
 *   iobondctl board0 restore < /var/lib/iobond/board0.table
 *
 * Each device gets the first free slot, so a table with holes comes back
 * without them: the board's drivers know a device by its MAC or serial,
 * which are kept, not by its slot.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iobondctl.h"

#define WORDS_MAX	32
#define LINE_MAX_LEN	4096

static void record_path(char *buf, size_t len, unsigned int index)
{
	snprintf(buf, len, "/run/iobond/%s-dev%u.args", board_base(), index);
}

/*
 * What tells device @d from another beside its instance, which starts
 * again at 1 when iobond_host is loaded again while /run keeps the
 * records: a NIC's MAC, a disk's capacity.
 */
static unsigned long long record_key(const struct iobond_device_info *d)
{
	const __u8 *m = d->config.net.mac;

	if (d->type == IOBOND_DEV_BLK)
		return d->config.blk.capacity;
	return (unsigned long long)m[0] << 40 | (unsigned long long)m[1] << 32 |
	       (unsigned long long)m[2] << 24 | m[3] << 16 | m[4] << 8 | m[5];
}

/**
 * provision_record() - keep the words that added device @index
 * @fd: the board
 * @index: its slot
 * @argc: the number of words, the command's name first
 * @argv: the words
 *
 * An empty word, or one with a tab or a newline, cannot be saved; the
 * device stays, and save will say it has no record.
 */
void provision_record(int fd, unsigned int index, int argc, char **argv)
{
	struct iobond_device_info d;
	bool chosen = false;
	char path[256];
	FILE *f;
	int i;

	for (i = 0; i < argc; i++)
		if (!argv[i][0] || strpbrk(argv[i], "\t\n")) {
			fprintf(stderr, "iobondctl: %s: dev%u: '%s' is empty or has a tab or a newline; save will not know this device\n",
				board_name, index, argv[i]);
			return;
		}
	if (get_dev(fd, index, &d)) {
		fprintf(stderr, "iobondctl: %s: dev%u: %s; save will not know it\n",
			board_name, index, strerror(errno));
		return;
	}
	mkdir("/run/iobond", 0755);
	record_path(path, sizeof(path), index);
	f = fopen(path, "we");
	if (!f) {
		fprintf(stderr, "iobondctl: %s: %s; save will not know dev%u\n",
			path, strerror(errno), index);
		return;
	}
	for (i = 0; i < argc; i++) {
		fprintf(f, "%s%s", i ? "\t" : "", argv[i]);
		chosen |= !strcmp(argv[i], "--engine") ||
			  !strcmp(argv[i], "--window");
	}
	/*
	 * The data path taken, if the words left it to the link: a restore
	 * soon after the host came back, before the engine showed again,
	 * must not pick another one (a held disk is taken back only on its
	 * own).
	 */
	if (!chosen)
		fprintf(f, "%s%s", argc ? "\t" : "",
			d.flags & IOBOND_DEVICE_ENGINE ? "--engine" : "--window");
	fprintf(f, "\ninstance %u type %u key %llx\n", d.instance, d.type,
		record_key(&d));
	if (fclose(f))
		fprintf(stderr, "iobondctl: %s: %s\n", path, strerror(errno));
}

/* Device @index went: so does its record. */
void provision_forget(unsigned int index)
{
	char path[256];

	record_path(path, sizeof(path), index);
	unlink(path);
}

/*
 * The recorded words of device @d into @line, if the record is of this
 * very device (its instance) and of its kind.
 */
static bool record_of(const struct iobond_device_info *d, char *line,
		      size_t len)
{
	char path[256], tail[64];
	unsigned int instance, type;
	unsigned long long key;
	FILE *f;
	bool ok;

	record_path(path, sizeof(path), d->index);
	f = fopen(path, "re");
	if (!f)
		return false;
	ok = fgets(line, len, f) && strchr(line, '\n') &&
	     fgets(tail, sizeof(tail), f) &&
	     sscanf(tail, "instance %u type %u key %llx", &instance, &type,
		    &key) == 3;
	fclose(f);
	if (!ok || instance != d->instance || type != d->type ||
	    key != record_key(d))
		return false;
	*strchr(line, '\n') = '\0';
	return !strncmp(line, d->type == IOBOND_DEV_BLK ? "add-blk\t" :
			"add-net\t", 8);
}

int cmd_save(int fd, int argc)
{
	struct iobond_board_info info = { .argsz = sizeof(info) };
	struct iobond_device_info d;
	char line[LINE_MAX_LEN];
	int ret = 0, err;
	__u32 i;

	if (argc != 1)
		return usage_error("%s", "save takes nothing more");
	if (ioctl(fd, IOBOND_GET_BOARD_INFO, &info))
		return fail("save", errno, NULL);
	for (i = 0; i < IOBOND_MAX_DEVICES; i++) {
		err = get_dev(fd, i, &d);
		if (err)
			return fail("save", -err, NULL);
		if (!d.type)
			continue;
		if (record_of(&d, line, sizeof(line))) {
			printf("%s\n", line);
			continue;
		}
		/* Said in the table, and on stderr: a restore would lack it. */
		printf("# dev%u: no record of how it was added\n", i);
		fprintf(stderr, "iobondctl: %s: dev%u: no record of how it was added (not by this host's iobondctl?): left out\n",
			board_name, i);
		ret = 1;
	}
	if (info.flags & IOBOND_BOARD_RUNNING)
		printf("start\n");
	return ret;
}

int cmd_restore(int fd, int argc)
{
	char line[LINE_MAX_LEN], *words[WORDS_MAX + 1], *rest;
	unsigned int lineno = 0;
	int n, ret;

	if (argc != 1)
		return usage_error("%s", "restore reads the table on stdin");
	if (num_devices(fd) != 0)
		return fail("restore", EEXIST,
			    "the board has devices already (see `iobondctl BOARD status`)");
	while (fgets(line, sizeof(line), stdin)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(stdin))
			return fail("restore", E2BIG, "a line is too long");
		line[strcspn(line, "\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		/* Word for word, as saved: an empty word is a broken table. */
		for (n = 0, rest = line; rest && n < WORDS_MAX; n++) {
			words[n] = strsep(&rest, "\t");
			if (!words[n][0]) {
				fprintf(stderr, "iobondctl: restore: line %u: an empty word\n",
					lineno);
				return 2;
			}
		}
		words[n] = NULL;
		if (rest) {
			fprintf(stderr, "iobondctl: restore: line %u: more than %d words\n",
				lineno, WORDS_MAX);
			return 2;
		}
		if (!strcmp(words[0], "add-net") || !strcmp(words[0], "add-blk")) {
			ret = !strcmp(words[0], "add-net") ?
			      cmd_add_net(fd, n, words) : cmd_add_blk(fd, n, words);
		} else if (!strcmp(words[0], "start") && n == 1) {
			ret = cmd_ctrl(fd, "start", IOBOND_BOARD_START);
		} else {
			fprintf(stderr, "iobondctl: restore: line %u: '%s' is not a saved command\n",
				lineno, words[0]);
			return 2;
		}
		if (ret) {
			fprintf(stderr, "iobondctl: restore: line %u failed; what came before it stays\n",
				lineno);
			return ret;
		}
	}
	return 0;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * iobondctl list: every board of the mainboard in one table, a row per
 * device (a board with none has one row of its own), or with --json an
 * array of each board's status.
 *
 *   BOARD   PCI           LINK  STATE    ENGINE  DEV   TYPE  ID                 QUEUES  DATA
 *   board0  0000:00:03.0  up    running  on      dev0  net   52:54:00:b0:00:00  2x256   engine
 *   board0  0000:00:03.0  up    running  on      dev1  blk   16MiB              1x128   engine
 *   board1  0000:00:04.0  down  stopped  off     -     -     -                  -       -
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iobondctl.h"

#define DEV_DIR		"/dev/iobond"
#define ROW		"%-8s %-12s %-5s %-8s %-7s %-5s %-5s %-18s %-8s %s\n"

/* Whether @s is a PCI function's name: dddd:bb:ss.f, in lower-case hex. */
static bool is_pci(const char *s)
{
	static const char form[] = "xxxx:xx:xx.f";
	size_t i;

	if (strlen(s) != sizeof(form) - 1)
		return false;
	for (i = 0; form[i]; i++) {
		if (form[i] == 'x' ? !strchr("0123456789abcdef", s[i]) || !s[i] :
		    form[i] == 'f' ? s[i] < '0' || s[i] > '7' : s[i] != form[i])
			return false;
	}
	return true;
}

/*
 * The PCI function of the board's link, from sysfs: the last path
 * component of /sys/class/iobond/boardN's device that reads as a PCI
 * address ("-" if none does).
 */
void board_pci(unsigned int index, char pci[16])
{
	char path[64], real[PATH_MAX], *c, *save, *last = NULL;

	snprintf(path, sizeof(path), "/sys/class/iobond/board%u/device", index);
	strcpy(pci, "-");
	if (!realpath(path, real))
		return;
	for (c = strtok_r(real, "/", &save); c; c = strtok_r(NULL, "/", &save))
		if (is_pci(c))
			last = c;
	if (last)
		snprintf(pci, 16, "%s", last);
}

static void row(const struct iobond_board_info *info,
		const struct iobond_device_info *d)
{
	char name[16], pci[16], dev[8] = "-", id[24] = "-", queues[16] = "-";
	const __u8 *m = d ? d->config.net.mac : NULL;

	snprintf(name, sizeof(name), "board%u", info->index);
	board_pci(info->index, pci);
	if (d) {
		snprintf(dev, sizeof(dev), "dev%u", d->index);
		snprintf(queues, sizeof(queues), "%ux%u", d->num_queues, d->queue_size);
		if (d->type == IOBOND_DEV_NET)
			snprintf(id, sizeof(id), "%02x:%02x:%02x:%02x:%02x:%02x",
				 m[0], m[1], m[2], m[3], m[4], m[5]);
		else if (!(d->config.blk.capacity % 2048))
			snprintf(id, sizeof(id), "%lluMiB",
				 (unsigned long long)d->config.blk.capacity >> 11);
		else
			snprintf(id, sizeof(id), "%llus",
				 (unsigned long long)d->config.blk.capacity);
	}
	printf(ROW, name, pci, info->flags & IOBOND_BOARD_LINK_UP ? "up" : "down",
	       info->flags & IOBOND_BOARD_RUNNING ? "running" : "stopped",
	       info->flags & IOBOND_BOARD_ENGINE ? "on" : "off", dev,
	       d ? type_name(d->type) : "-", id, queues,
	       d ? data_path(d) : "-");
}

/* One board's rows; 0, or 1 once said why not. */
static int board_rows(int fd)
{
	struct iobond_board_info info;
	struct iobond_device_info d;
	bool any = false;
	__u32 i;
	int ret = get_info(fd, &info);

	if (ret)
		return fail("list", -ret, NULL);
	for (i = 0; i < info.max_devices; i++) {
		ret = get_dev(fd, i, &d);
		if (ret)
			return fail("list", -ret, NULL);
		if (!d.type)
			continue;
		row(&info, &d);
		any = true;
	}
	if (!any)
		row(&info, NULL);
	return 0;
}

int cmd_list(void)
{
	struct dirent **names;
	int n, i, fd, ret = 0, shown = 0;

	n = scandir(DEV_DIR, &names, NULL, versionsort);
	if (n < 0) {
		if (errno != ENOENT) {
			fprintf(stderr, "iobondctl: %s: %s\n", DEV_DIR, strerror(errno));
			return 1;
		}
		n = 0;
	}
	if (json)
		printf("[");
	for (i = 0; i < n; i++) {
		if (names[i]->d_name[0] == '.')
			continue;
		board_name = names[i]->d_name;
		fd = open_board(board_name);
		if (fd < 0) {
			ret = 1;
			continue;
		}
		if (json && shown)
			printf(",");
		else if (!json && !shown)
			printf(ROW, "BOARD", "PCI", "LINK", "STATE", "ENGINE", "DEV",
			       "TYPE", "ID", "QUEUES", "DATA");
		shown++;
		ret |= json ? cmd_status(fd) : board_rows(fd);
		close(fd);
	}
	if (json)
		printf("]\n");
	else if (!shown && !ret)
		printf("no boards (is iobond_host loaded and a link bound?)\n");
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ret;
}

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the board's disk tests share: which disk (IOBOND_BLK_DEV, vda by
 * default), its sysfs attributes, the runner's values, and a pattern
 * that says where it is.
 */
#ifndef IOBOND_BLK_TEST_H
#define IOBOND_BLK_TEST_H

#include "iobond_test.h"

static char disk[64] = "/dev/vda", sysblk[64] = "/sys/block/vda";

static void __attribute__((constructor)) pick_disk(void)
{
	const char *dev = getenv("IOBOND_BLK_DEV");

	if (dev) {
		snprintf(disk, sizeof(disk), "/dev/%s", dev);
		snprintf(sysblk, sizeof(sysblk), "/sys/block/%s", dev);
	}
}

static inline long long sys_value(const char *attr)
{
	char path[128], buf[64];

	snprintf(path, sizeof(path), "%s/%s", sysblk, attr);
	if (iob_read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	return strtoll(buf, NULL, 0);
}

static inline int sys_string(const char *attr, char *buf, size_t len)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", sysblk, attr);
	return iob_read_file(path, buf, len) < 0 ? -1 : 0;
}

static inline long long env_value(const char *name)
{
	const char *v = getenv(name);

	return v ? strtoll(v, NULL, 0) : -1;
}

/* A pattern that says where it is and which round wrote it. */
static inline void pattern(__u8 *buf, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (i * 131 + seed * 7 + (i >> 12)) & 0xff;
}

#endif /* IOBOND_BLK_TEST_H */

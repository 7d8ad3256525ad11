/* SPDX-License-Identifier: GPL-2.0 */
/* iobondctl: what its command files share. */
#ifndef IOBONDCTL_H
#define IOBONDCTL_H

#include <stdbool.h>
#include <linux/iobond.h>

extern bool json;
extern const char *board_name;	/* as the user named it */

int fail(const char *what, int err, const char *hint);
int usage_error(const char *fmt, const char *arg);
int open_board(const char *name);
int parse_uint(const char *s, unsigned long max, unsigned long *v);
int parse_dev(const char *s, unsigned long *v);
int get_dev(int fd, __u32 index, struct iobond_device_info *d);

/* blkctl.c */
int cmd_add_blk(int fd, int argc, char **argv);
int blk_release(unsigned int index);

#endif /* IOBONDCTL_H */

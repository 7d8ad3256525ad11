/* SPDX-License-Identifier: GPL-2.0 */
/* iobondctl: what its command files share. */
#ifndef IOBONDCTL_H
#define IOBONDCTL_H

/* Why IOBOND_ADD_DEVICE found no room (ENOSPC): dmesg says which. */
#define NO_ROOM		"every device slot is taken, or its zone of the window is too small (dmesg says which)"
/* What an ENXIO from IOBOND_ADD_DEVICE with IOBOND_ADD_ENGINE means. */
#define NO_ENGINE	"no engine on the board's link: start iobond-engine for it (see 'iobondctl BOARD status')"

#include <limits.h>
#include <stdbool.h>
#include <linux/iobond.h>

extern bool json;
extern const char *board_name;	/* as the user named it */

int fail(const char *what, int err, const char *hint);
int usage_error(const char *fmt, const char *arg);
int open_board(const char *name);
const char *board_base(void);
void tail_log(const char *log);
void json_str(const char *s);
int parse_uint(const char *s, unsigned long max, unsigned long *v);
int parse_dev(const char *s, unsigned long *v);
int get_dev(int fd, __u32 index, struct iobond_device_info *d);
int get_info(int fd, struct iobond_board_info *info);
const char *type_name(__u32 type);
const char *data_path(const struct iobond_device_info *d);
int cmd_status(int fd);

/* netctrl.c: a multiqueue NIC's control queue, which serve answers */
struct netctrl {
	char *win;			/* the window, as serve mapped it */
	__u64 zone_off, zone_size;	/* the NIC's zone: all it may point at */
	__u64 desc, avail, used;	/* the ring: offsets in the window */
	__u16 size, last_avail, used_idx;
	bool event_idx, broken;
	__u8 mac[6];			/* the address the operator gave it */
	__u16 max_pairs;
	int (*set_pairs)(void *arg, __u16 pairs);	/* 0 once done */
	void *arg;
};
int netctrl_init(struct netctrl *c);
int netctrl_serve(struct netctrl *c);

/* limit.c */
int cmd_limit_net(int fd, int argc, char **argv);
int cmd_limit_blk(int fd, int argc, char **argv);
struct iobond_budget;
struct iobond_budget *budget_map(char *path, size_t len);

/* list.c */
int cmd_list(void);
void board_pci(unsigned int index, char pci[16]);
__u64 device_tag(char kind, const void *id, size_t len);

int num_devices(int fd);
__u32 add_path_flags(int fd, char path);
int cmd_add_net(int fd, int argc, char **argv);
int cmd_ctrl(int fd, const char *cmd, __u32 flag);

/* provision.c */
void provision_record(int fd, unsigned int index, int argc, char **argv);
void provision_forget(unsigned int index);
int cmd_save(int fd, int argc);
int cmd_restore(int fd, int argc);

/* unit.c: add --unit */
#define UNIT_NAME_MAX	64
#define UNIT_WORD_RULE	"a unit's conf takes no whitespace, control character, quote, backslash or $"
bool unit_word_ok(const char *s);
int unit_leave(const char *template, unsigned int index, const char *vars,
	       char unit[UNIT_NAME_MAX], char conf[PATH_MAX]);
void unit_forget(unsigned int index);
const char *unit_started(void);

/* blkctl.c */
int cmd_add_blk(int fd, int argc, char **argv);
int blk_release(unsigned int index);

#endif /* IOBONDCTL_H */

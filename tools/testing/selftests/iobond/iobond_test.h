/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the IO-Bond selftests that run inside the VM pair.
 *
 * The same binaries run on both sides.  The VM's init exports
 * IOBOND_SIDE=host|board; the side decides the module and its debugfs.
 * The link function is the VM's one ivshmem-doorbell (1af4:1110).
 */
#ifndef IOBOND_TEST_H
#define IOBOND_TEST_H

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/klog.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/iobond.h>

#define IOB_BDF_LEN	16	/* 0000:00:00.0 */

/*
 * 6.1's kselftest_harness.h runs a test's body (and teardown) even when
 * its fixture's setup called SKIP(); each body that can be skipped from
 * setup starts with this.
 */
#define IOB_RETURN_IF_SKIPPED() do { if (_metadata->skip) return; } while (0)

struct iob {
	bool host;
	const char *module;	/* iobond_host or iobond_guest */
	char ko[PATH_MAX];
	char bdf[IOB_BDF_LEN];
	char dbg[128];		/* debugfs directory of the link */
};

static inline long long iob_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static inline int iob_read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return n;
}

/*
 * Run @cmd with sh; its exit status (-1 if it did not exit), and the
 * start of its output in @out.  The rest is read and dropped, so that a
 * talkative command cannot block on a full pipe.
 */
static inline int iob_shell(const char *cmd, char *out, size_t len)
{
	FILE *p = popen(cmd, "r");
	char drop[256];
	size_t n = 0;
	int status;

	if (!p)
		return -1;
	n = fread(out, 1, len - 1, p);
	out[n] = 0;
	while (fread(drop, 1, sizeof(drop), p) > 0)
		;
	status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static inline int iob_write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	close(fd);
	return n < 0 ? -errno : 0;
}

/* Find the VM's ivshmem-doorbell function. */
static inline int iob_find_bdf(char *bdf)
{
	DIR *d = opendir("/sys/bus/pci/devices");
	struct dirent *e;
	char path[PATH_MAX], id[16];
	int found = -ENODEV;

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor",
			 e->d_name);
		if (iob_read_file(path, id, sizeof(id)) < 0 ||
		    strncmp(id, "0x1af4", 6))
			continue;
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device",
			 e->d_name);
		if (iob_read_file(path, id, sizeof(id)) < 0 ||
		    strncmp(id, "0x1110", 6))
			continue;
		snprintf(bdf, IOB_BDF_LEN, "%.15s", e->d_name);
		found = 0;
		break;
	}
	closedir(d);
	return found;
}

/* Fill @t from the environment; a negative errno if this is no VM of ours. */
static inline int iob_setup(struct iob *t)
{
	const char *side = getenv("IOBOND_SIDE");
	const char *dir = getenv("IOBOND_MODDIR") ?: "/lib/iobond";

	if (!side)
		return -ENOENT;
	t->host = !strcmp(side, "host");
	t->module = t->host ? "iobond_host" : "iobond_guest";
	snprintf(t->ko, sizeof(t->ko), "%s/%s.ko", dir, t->module);
	if (iob_find_bdf(t->bdf))
		return -ENODEV;
	snprintf(t->dbg, sizeof(t->dbg), "/sys/kernel/debug/%s/%s",
		 t->module, t->bdf);
	return 0;
}

static inline bool iob_loaded(const struct iob *t)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/module/%s", t->module);
	return access(path, F_OK) == 0;
}

static inline int iob_load(const struct iob *t)
{
	int fd = open(t->ko, O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, "", 0);
	close(fd);
	return ret ? -errno : 0;
}

static inline int iob_unload(const struct iob *t)
{
	return syscall(SYS_delete_module, t->module, O_NONBLOCK) ? -errno : 0;
}

/* The driver the link function is bound to, or "" if none. */
static inline void iob_bound_driver(const struct iob *t, char *buf,
				    size_t len)
{
	char path[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", t->bdf);
	n = readlink(path, target, sizeof(target) - 1);
	target[n > 0 ? n : 0] = '\0';
	snprintf(buf, len, "%s", n > 0 ? strrchr(target, '/') + 1 : "");
}

/*
 * A "key: value" line of one of the link's debugfs files, as a number
 * ("up" is 1, "down" 0); -1 if there is none.
 */
static inline long long iob_debugfs_value(const struct iob *t,
					  const char *file, const char *key)
{
	char path[PATH_MAX], buf[4096], *p;
	size_t klen = strlen(key);

	snprintf(path, sizeof(path), "%s/%s", t->dbg, file);
	if (iob_read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!strncmp(p, key, klen) && p[klen] == ':') {
			if (!strncmp(p + klen + 2, "up", 2))
				return 1;
			if (!strncmp(p + klen + 2, "down", 4))
				return 0;
			return strtoll(p + klen + 2, NULL, 0);
		}
	}
	return -1;
}

/* A line of the link's debugfs status. */
static inline long long iob_status(const struct iob *t, const char *key)
{
	return iob_debugfs_value(t, "status", key);
}

/* Per-vector doorbell counts from the status file. */
static inline long long iob_doorbells(const struct iob *t, unsigned int vec)
{
	char path[PATH_MAX], buf[4096], *p;
	unsigned int i;

	snprintf(path, sizeof(path), "%s/status", t->dbg);
	if (iob_read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	p = strstr(buf, "doorbells:");
	if (!p)
		return -1;
	p += strlen("doorbells:");
	for (i = 0; i < vec; i++)
		strtoull(p, &p, 10);
	return strtoll(p, NULL, 10);
}

/* Wait up to @ms for status @key to equal @want; the time taken, or -1. */
static inline long long iob_wait_status(const struct iob *t, const char *key,
					long long want, int ms)
{
	long long start = iob_now_ms();

	do {
		if (iob_status(t, key) == want)
			return iob_now_ms() - start;
		usleep(20000);
	} while (iob_now_ms() - start < ms);
	return -1;
}

/* Interrupts taken on the link's vector @vec, from /proc/interrupts. */
static inline long long iob_irq_count(const struct iob *t, unsigned int vec)
{
	char name[64], line[1024];
	long long total = -1;
	FILE *f = fopen("/proc/interrupts", "re");

	if (!f)
		return -1;
	snprintf(name, sizeof(name), " %s-v%u\n", t->module, vec);
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *end;

		if (!strstr(line, name))
			continue;
		p = strchr(line, ':') + 1;
		total = 0;
		for (;;) {
			long long n = strtoll(p, &end, 10);

			if (end == p)
				break;
			total += n;
			p = end;
		}
		break;
	}
	fclose(f);
	return total;
}

/* The whole kernel log, NUL-terminated, to be freed; NULL on error. */
static inline char *iob_klog(void)
{
	int len = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0);
	char *buf;
	int n;

	if (len <= 0)
		return NULL;
	buf = malloc(len + 1);
	if (!buf)
		return NULL;
	n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, len);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

static inline int iob_count_in(const char *p, const char *needle)
{
	int count = 0;

	for (; (p = strstr(p, needle)); p++)
		count++;
	return count;
}

/* Lines of the kernel log that contain @needle. */
static inline int iob_dmesg_count(const char *needle)
{
	char *buf = iob_klog();
	int count;

	if (!buf)
		return -1;
	count = iob_count_in(buf, needle);
	free(buf);
	return count;
}

/*
 * Lines that contain @needle after the last line that reads
 * "iobond-mark @mark", which the runner writes to /dev/kmsg before it
 * acts; -1 if there is no such line.  A count that starts at a mark sees
 * only what followed it, not what earlier steps left in the log.
 */
static inline int iob_dmesg_count_since(const char *mark, const char *needle)
{
	char line[128], *buf = iob_klog(), *p, *last = NULL;
	int count = -1;

	if (!buf)
		return -1;
	/* A cut mark could match a longer one. */
	if (snprintf(line, sizeof(line), "iobond-mark %s\n", mark) >=
	    (int)sizeof(line)) {
		free(buf);
		return -1;
	}
	for (p = buf; (p = strstr(p, line)); p++)
		last = p;
	if (last)
		count = iob_count_in(last + strlen(line), needle);
	free(buf);
	return count;
}

/*
 * The debug tier's kernel (KASAN, lockdep) runs everything several times
 * slower.  The runner says how much in IOBOND_TIMEOUT_SCALE, and every
 * test's harness timeout grows by that factor before the harness starts:
 * a hang still ends in a timeout, a slow kernel does not.
 */
static inline int iob_timeout_scale(void)
{
	const char *env = getenv("IOBOND_TIMEOUT_SCALE");
	int scale = env ? atoi(env) : 1;

	return scale < 1 || scale > 20 ? 1 : scale;
}

static inline void iob_scale_timeouts(void)
{
	int scale = iob_timeout_scale();
	struct __fixture_metadata *f;
	struct __test_metadata *t;

	if (scale == 1)
		return;
	for (f = __fixture_list; f; f = f->next)
		for (t = f->tests; t; t = t->next)
			t->timeout *= scale;
}

#undef TEST_HARNESS_MAIN
#define TEST_HARNESS_MAIN \
	static void __attribute__((constructor)) \
	__constructor_order_last(void) \
	{ \
		if (!__constructor_order) \
			__constructor_order = _CONSTRUCTOR_ORDER_BACKWARD; \
	} \
	int main(int argc, char **argv) { \
		iob_scale_timeouts(); \
		return test_harness_run(argc, argv); \
	}

#endif /* IOBOND_TEST_H */

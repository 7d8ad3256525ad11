/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A board's disk budget: what all its disks together may do, as
 * "iobondctl BOARD limit-blk" sets it.  One file per board,
 * /run/iobond/BOARD.budget, mapped shared by iobondctl and by every
 * iobond-blk of the board's disks (--budget).
 *
 * Each limit is a GCRA (a token bucket seen as a clock): @ops_tat and
 * @bytes_tat are when each bucket would be empty again, in
 * CLOCK_MONOTONIC nanoseconds; a request may go while neither is more
 * than IOBOND_BUDGET_BURST_NS ahead of now, and pushes each on by its
 * cost.  Each is one word, moved with compare-and-swap: no lock that a
 * killed backend could leave held.
 */
#ifndef IOBOND_BUDGET_H
#define IOBOND_BUDGET_H

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/types.h>

#define IOBOND_BUDGET_DIR	"/run/iobond"
#define IOBOND_BUDGET_BURST_NS	50000000ULL	/* as the per-disk throttle's */

struct iobond_budget {
	__u64 iops;		/* the board's limits; 0: none */
	__u64 bps;
	__u64 ops_tat;		/* see above; only ever compared-and-swapped */
	__u64 bytes_tat;
};

/*
 * The budget at @path, made if it is not there, mapped shared; NULL with
 * errno set.  It must be a regular file of ours, under that one name, so
 * that a link put in its place cannot aim our writes elsewhere.  Only
 * ever grown (posix_fallocate()): a newer backend may map a larger one.
 */
static inline struct iobond_budget *iobond_budget_map(const char *path)
{
	struct iobond_budget *g = MAP_FAILED;
	struct stat st;
	int fd, err;

	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
		  0600);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st))
		goto out;
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || st.st_nlink != 1) {
		errno = EPERM;
		goto out;
	}
	if (st.st_size < (off_t)sizeof(*g)) {
		err = posix_fallocate(fd, 0, sizeof(*g));
		if (err) {
			errno = err;
			goto out;
		}
	}
	g = mmap(NULL, sizeof(*g), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
out:
	err = errno;
	close(fd);
	errno = err;
	return g == MAP_FAILED ? NULL : g;
}

#endif /* IOBOND_BUDGET_H */

// SPDX-License-Identifier: GPL-2.0
/*
 * The board's disk when its backend is killed, in steps with the runner
 * between them (IOBOND_BLK_STEP):
 *
 *   seed     write and flush a pattern at the start of the disk
 *            (the runner starts fio, kills iobond-blk and waits)
 *   failed   fio ended by itself, with errors, and the board was told its
 *            disk needs a reset (the runner restarts iobond-blk and
 *            rebinds virtio_blk)
 *   seeded   the flushed pattern is intact
 *   retried  a backend killed and restarted within the grace period: fio
 *            ended without an error
 */
#define _GNU_SOURCE
#include "kselftest_harness.h"
#include "blk_test.h"

#define SEED_BYTES	(1 << 20)

TEST(backend_kill)
{
	const char *step = getenv("IOBOND_BLK_STEP");
	__u8 *want = aligned_alloc(4096, SEED_BYTES), *got = aligned_alloc(4096, SEED_BYTES);
	char out[256];
	int fd;

	if (!step)
		SKIP(return, "needs IOBOND_BLK_STEP");
	pattern(want, SEED_BYTES, 42);
	if (!strcmp(step, "seed")) {
		fd = open(disk, O_WRONLY | O_DIRECT);
		ASSERT_LE(0, fd);
		ASSERT_EQ(SEED_BYTES, pwrite(fd, want, SEED_BYTES, 0));
		ASSERT_EQ(0, fsync(fd));
		close(fd);
	} else if (!strcmp(step, "retried")) {
		/* The backend came back within the grace period: no error. */
		ASSERT_LE(0, iob_read_file("/tmp/fio.rc", out, sizeof(out)))
			TH_LOG("fio is still running: requests hang");
		EXPECT_EQ(0, atoi(out)) TH_LOG("fio failed");
	} else if (!strcmp(step, "failed")) {
		/* fio ended by itself: the runner waited no longer than the bound. */
		ASSERT_LE(0, iob_read_file("/tmp/fio.rc", out, sizeof(out)))
			TH_LOG("fio is still running: requests hang");
		EXPECT_NE(0, atoi(out)) TH_LOG("fio saw no error");
		ASSERT_EQ(0, sys_string("device/status", out, sizeof(out)));
		EXPECT_TRUE(strtol(out, NULL, 16) & 0x40)
			TH_LOG("status %s: no DEVICE_NEEDS_RESET", out);
	} else {
		fd = open(disk, O_RDONLY | O_DIRECT);
		ASSERT_LE(0, fd);
		ASSERT_EQ(SEED_BYTES, pread(fd, got, SEED_BYTES, 0));
		EXPECT_EQ(0, memcmp(want, got, SEED_BYTES));
		close(fd);
	}
	free(want);
	free(got);
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: GPL-2.0
/*
 * The board's disk over IO-Bond: the unmodified virtio_blk on our
 * transport, served by iobond-blk on the host.  Each test runs when the
 * runner gives it what to check against, and skips otherwise:
 *
 *   IOBOND_BLK_SECTORS, _LBS, _PBS, _QUEUES, _SERIAL: what the host set
 *   IOBOND_BLK_FIO=QD:JOBS,...  fio random write + crc32c verify, whole disk
 *   IOBOND_BLK_DISCARD=1     discard and write-zeroes read back as zeros
 *   IOBOND_BLK_RO=1          a read-only disk refuses writes, keeps data
 *   IOBOND_BLK_IOPS=N        a 10 s fio run measures N IOPS +- 10 %
 *
 * IOBOND_BLK_DEV names the disk (vda, the default).
 */
#define _GNU_SOURCE
#include <sys/ioctl.h>
#include <linux/fs.h>

#include "kselftest_harness.h"
#include "blk_test.h"

TEST(geometry)
{
	char serial[64] = "", want[64];

	if (env_value("IOBOND_BLK_SECTORS") < 0)
		SKIP(return, "needs IOBOND_BLK_SECTORS and the rest");
	EXPECT_EQ(env_value("IOBOND_BLK_SECTORS"), sys_value("size"));
	EXPECT_EQ(env_value("IOBOND_BLK_LBS"), sys_value("queue/logical_block_size"));
	EXPECT_EQ(env_value("IOBOND_BLK_PBS"), sys_value("queue/physical_block_size"));
	/* Segments and their size as the host limited them. */
	EXPECT_LE(sys_value("queue/max_segment_size"), 65536);
	EXPECT_GE(sys_value("queue/max_segments"), 1);
	if (env_value("IOBOND_BLK_QUEUES") > 0) {
		char out[256], cmd[128];

		snprintf(cmd, sizeof(cmd), "ls -d %s/mq/* | wc -l", sysblk);
		iob_shell(cmd, out, sizeof(out));
		EXPECT_EQ(env_value("IOBOND_BLK_QUEUES"), strtoll(out, NULL, 0));
	}
	if (getenv("IOBOND_BLK_SERIAL")) {
		sys_string("serial", serial, sizeof(serial));
		snprintf(want, sizeof(want), "%s", getenv("IOBOND_BLK_SERIAL"));
		EXPECT_EQ(0, strncmp(want, serial, strlen(want)));
	}
}

/*
 * fio: random writes over the whole disk, each block read back and
 * checked, for each QD:JOBS in IOBOND_BLK_FIO.  Each job has its own slice
 * and its own CPU, and so its own queue.
 *
 * Its own fixture only for its own timeout: 8,192 I/Os per pass take a
 * minute or more at QD 1 on the debug tier (about 80 IOPS under KASAN),
 * more than the harness's 30 s scaled by IOBOND_TIMEOUT_SCALE.
 */
FIXTURE(fio) {};
FIXTURE_SETUP(fio) {}
FIXTURE_TEARDOWN(fio) {}

TEST_F_TIMEOUT(fio, verify, 240)
{
	const char *spec = getenv("IOBOND_BLK_FIO");
	unsigned int qd, jobs;
	char cmd[512], out[8192], *p;
	long long size = sys_value("size") * 512;

	if (!spec)
		SKIP(return, "needs IOBOND_BLK_FIO=QD:JOBS[,QD:JOBS...]");
	for (; spec; spec = strchr(spec, ',') ? strchr(spec, ',') + 1 : NULL) {
		ASSERT_EQ(2, sscanf(spec, "%u:%u", &qd, &jobs));
		snprintf(cmd, sizeof(cmd),
			 "fio --name=disk --filename=%s --direct=1 --ioengine=io_uring "
			 "--rw=randwrite --bs=4k --iodepth=%u --numjobs=%u --size=%lld "
			 "--offset_increment=%lld --verify=crc32c --do_verify=1 "
			 "--verify_fatal=1 --cpus_allowed=0-%u "
			 "--cpus_allowed_policy=split --group_reporting "
			 "--randrepeat=0 2>&1", disk, qd, jobs, size / jobs,
			 size / jobs, jobs - 1);
		ASSERT_EQ(0, iob_shell(cmd, out, sizeof(out))) TH_LOG("%s", out);
		EXPECT_TRUE(strstr(out, "err= 0") != NULL) TH_LOG("%s", out);
		p = strstr(out, "write: IOPS");
		if (p)
			TH_LOG("QD %u, %u job(s): %.*s", qd, jobs,
			       (int)strcspn(p, "\n"), p);
	}
}

static void fill(int fd, off_t off, size_t len, unsigned int seed)
{
	__u8 *buf = aligned_alloc(4096, len);

	pattern(buf, len, seed);
	if (pwrite(fd, buf, len, off) != (ssize_t)len)
		fprintf(stderr, "# fill: %s\n", strerror(errno));
	free(buf);
}

static bool is_zero(int fd, off_t off, size_t len)
{
	__u8 *buf = aligned_alloc(4096, len);
	bool zero = pread(fd, buf, len, off) == (ssize_t)len &&
		    !buf[0] && !memcmp(buf, buf + 1, len - 1);

	free(buf);
	return zero;
}

TEST(discard_and_write_zeroes)
{
	__u64 discard[2] = { 1 << 20, 256 << 10 }, zero[2] = { 2 << 20, 128 << 10 };
	int fd;

	if (env_value("IOBOND_BLK_DISCARD") != 1)
		SKIP(return, "needs IOBOND_BLK_DISCARD=1");
	/* The board's block layer sends them to the device, not emulated. */
	ASSERT_LT(0, sys_value("queue/discard_max_bytes"));
	ASSERT_LT(0, sys_value("queue/write_zeroes_max_bytes"));
	fd = open(disk, O_RDWR | O_DIRECT);
	ASSERT_LE(0, fd);
	fill(fd, discard[0] - 4096, discard[1] + 8192, 1);
	fill(fd, zero[0] - 4096, zero[1] + 8192, 2);
	ASSERT_EQ(0, fsync(fd));
	ASSERT_EQ(0, ioctl(fd, BLKDISCARD, discard));
	ASSERT_EQ(0, ioctl(fd, BLKZEROOUT, zero));
	EXPECT_TRUE(is_zero(fd, discard[0], discard[1]));
	EXPECT_TRUE(is_zero(fd, zero[0], zero[1]));
	/* The blocks around them are untouched. */
	EXPECT_FALSE(is_zero(fd, discard[0] - 4096, 4096));
	EXPECT_FALSE(is_zero(fd, discard[0] + discard[1], 4096));
	EXPECT_FALSE(is_zero(fd, zero[0] - 4096, 4096));
	EXPECT_FALSE(is_zero(fd, zero[0] + zero[1], 4096));
	close(fd);
}

TEST(readonly)
{
	__u8 *before = aligned_alloc(4096, 65536), *after = aligned_alloc(4096, 65536);
	int fd;

	if (env_value("IOBOND_BLK_RO") != 1)
		SKIP(return, "needs IOBOND_BLK_RO=1");
	EXPECT_EQ(1, sys_value("ro"));
	fd = open(disk, O_RDONLY | O_DIRECT);
	ASSERT_LE(0, fd);
	ASSERT_EQ(65536, pread(fd, before, 65536, 0));
	close(fd);
	/*
	 * virtio_blk marks the disk read-only from VIRTIO_BLK_F_RO, and 6.1's
	 * blkdev_write_iter() refuses the write with EPERM before any request
	 * is made: the backend's own refusal is blkraw_test's to check.  The
	 * open succeeds; only a write through the disk's node is refused.
	 */
	fd = open(disk, O_WRONLY | O_DIRECT);
	ASSERT_LE(0, fd) TH_LOG("open for writing: %s", strerror(errno));
	pattern(after, 65536, 9);
	EXPECT_EQ(-1, pwrite(fd, after, 65536, 0));
	EXPECT_EQ(EPERM, errno) TH_LOG("write: %s", strerror(errno));
	close(fd);
	fd = open(disk, O_RDONLY | O_DIRECT);
	ASSERT_LE(0, fd);
	ASSERT_EQ(65536, pread(fd, after, 65536, 0));
	EXPECT_EQ(0, memcmp(before, after, 65536));
	close(fd);
}

TEST(throttled_iops)
{
	long long want = env_value("IOBOND_BLK_IOPS");
	char out[8192], cmd[256], *p;
	double iops;

	if (want <= 0)
		SKIP(return, "needs IOBOND_BLK_IOPS=N");
	snprintf(cmd, sizeof(cmd), "fio --name=throttle --filename=%s --direct=1 "
		 "--ioengine=io_uring --rw=randread --bs=4k --iodepth=16 "
		 "--runtime=10 --time_based 2>&1", disk);
	ASSERT_EQ(0, iob_shell(cmd, out, sizeof(out))) TH_LOG("%s", out);
	p = strstr(out, "IOPS=");
	ASSERT_TRUE(p != NULL) TH_LOG("%s", out);
	iops = strtod(p + 5, NULL);
	if (strchr("kK", p[5 + strspn(p + 5, "0123456789.")]))
		iops *= 1000;
	TH_LOG("measured %.0f IOPS against a limit of %lld", iops, want);
	EXPECT_GE(iops, want * 0.9);
	EXPECT_LE(iops, want * 1.1);
}

TEST_HARNESS_MAIN

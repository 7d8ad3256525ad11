// SPDX-License-Identifier: GPL-2.0
/*
 * The host's VFIO face: a provisioned disk as a mediated device, opened
 * through the standard container/group/device uAPI.  Its regions and
 * interrupts, what it refuses, that it and the vhost face never hold one
 * device together, and that iobondctl add-blk refuses bad input clearly.
 *
 * Runs in the host VM with iobond_host loaded; it leaves the board as it
 * found it (stopped, no devices).
 */
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "iobond_test.h"
#include "../../../../tools/iobond/iobond_vfio.h"

#define BOARD	"/dev/iobond/board0"
#define TYPES	"/sys/class/iobond/board0/mdev_supported_types"

FIXTURE(vfio) {
	int fd;
	__u32 index;
	char uuid[40];
	struct iob_vfio v;
};

static int sysfs_write(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY), ret = 0;

	if (fd < 0 || write(fd, s, strlen(s)) < 0)
		ret = errno;
	if (fd >= 0)
		close(fd);
	return ret;
}

static int make_mdev(__u32 index, const char *uuid)
{
	char path[256];

	snprintf(path, sizeof(path), TYPES "/iobond-dev%u/create", index);
	return sysfs_write(path, uuid);
}

static void remove_mdev(const char *uuid)
{
	char path[256];

	snprintf(path, sizeof(path), "/sys/bus/mdev/devices/%s/remove", uuid);
	sysfs_write(path, "1");
}

FIXTURE_SETUP(vfio)
{
	struct iob t;
	struct iobond_device_add add = {
		.argsz = sizeof(add), .type = IOBOND_DEV_BLK,
		.num_queues = 1, .queue_size = 64,
	};

	self->fd = -1;
	self->v.device = self->v.group = self->v.container = -1;
	if (iob_setup(&t) || !t.host)
		SKIP(return, "needs the host VM");
	self->fd = open(BOARD, O_RDWR);
	if (self->fd < 0)
		SKIP(return, "needs %s: %s", BOARD, strerror(errno));
	add.config.blk.capacity = 2048;
	add.config.blk.blk_size = 512;
	ASSERT_EQ(0, ioctl(self->fd, IOBOND_ADD_DEVICE, &add));
	self->index = add.index;
	snprintf(self->uuid, sizeof(self->uuid),
		 "a0b0c0d0-0000-4000-8000-%012d", getpid());
	ASSERT_EQ(0, make_mdev(self->index, self->uuid));
}

FIXTURE_TEARDOWN(vfio)
{
	struct iobond_device_ref ref = { .argsz = sizeof(ref) };

	if (self->fd < 0)
		return;
	iob_vfio_close(&self->v);
	remove_mdev(self->uuid);
	for (ref.index = 0; ref.index < IOBOND_MAX_DEVICES; ref.index++)
		ioctl(self->fd, IOBOND_REMOVE_DEVICE, &ref);
	close(self->fd);
}

static int vfio_open(FIXTURE_DATA(vfio) *self)
{
	const char *why;

	return -iob_vfio_open(&self->v, self->uuid, &why);
}

TEST_F(vfio, regions_and_interrupts)
{
	struct iobond_board_info info = { .argsz = sizeof(info) };
	struct vfio_irq_info irq = { .argsz = sizeof(irq) };
	struct iobond_vfio_state st;
	__u64 capacity;
	void *p;

	IOB_RETURN_IF_SKIPPED();
	ASSERT_EQ(0, ioctl(self->fd, IOBOND_GET_BOARD_INFO, &info));
	ASSERT_EQ(0, vfio_open(self));
	EXPECT_EQ(info.window_size, self->v.size[IOBOND_VFIO_WINDOW_REGION]);
	EXPECT_EQ(sizeof(st), self->v.size[IOBOND_VFIO_STATE_REGION]);
	EXPECT_EQ(IOBOND_MAX_QUEUES * IOBOND_INFLIGHT_STRIDE,
		  self->v.size[IOBOND_VFIO_INFLIGHT_REGION]);
	irq.index = IOBOND_VFIO_KICK_IRQ;
	ASSERT_EQ(0, ioctl(self->v.device, VFIO_DEVICE_GET_IRQ_INFO, &irq));
	EXPECT_EQ(1, irq.count);
	EXPECT_TRUE(irq.flags & VFIO_IRQ_INFO_EVENTFD);
	irq.index = IOBOND_VFIO_STATE_IRQ;
	ASSERT_EQ(0, ioctl(self->v.device, VFIO_DEVICE_GET_IRQ_INFO, &irq));
	EXPECT_EQ(1, irq.count);

	ASSERT_EQ(0, iob_vfio_state(&self->v, &st));
	EXPECT_EQ(IOBOND_DEV_BLK, st.type);
	EXPECT_EQ(1, st.num_queues);
	memcpy(&capacity, st.config, sizeof(capacity));
	EXPECT_EQ(2048, le64toh(capacity));
	/* The window and the records map; past their ends they do not. */
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, self->v.device,
		 self->v.off[IOBOND_VFIO_INFLIGHT_REGION]);
	EXPECT_TRUE(p != MAP_FAILED);
	munmap(p, 4096);
	p = mmap(NULL, info.window_size, PROT_READ, MAP_SHARED, self->v.device,
		 self->v.off[IOBOND_VFIO_WINDOW_REGION]);
	EXPECT_TRUE(p != MAP_FAILED);
	munmap(p, info.window_size);
	/* A mapping holds the device open: none may be left for teardown. */
	EXPECT_TRUE(MAP_FAILED == mmap(NULL, 8192, PROT_READ, MAP_SHARED,
				       self->v.device,
				       self->v.off[IOBOND_VFIO_INFLIGHT_REGION] +
				       15 * 4096));
	EXPECT_TRUE(MAP_FAILED == mmap(NULL, 8192, PROT_READ, MAP_SHARED,
				       self->v.device,
				       self->v.off[IOBOND_VFIO_WINDOW_REGION] +
				       info.window_size));
}

TEST_F(vfio, bad_requests_are_refused)
{
	struct vfio_region_info ri = { .argsz = sizeof(ri), .index = 9 };
	struct vfio_irq_info irq = { .argsz = sizeof(irq), .index = 5 };
	int32_t fds[2] = { -1, -1 }, bad = 999;
	__u32 one = 1;
	__u8 b[8];

	IOB_RETURN_IF_SKIPPED();
	ASSERT_EQ(0, vfio_open(self));
	EXPECT_EQ(-1, ioctl(self->v.device, VFIO_DEVICE_GET_REGION_INFO, &ri));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(self->v.device, VFIO_DEVICE_GET_IRQ_INFO, &irq));
	EXPECT_EQ(EINVAL, errno);
	/* Two kick triggers for one queue; an irq index past the last. */
	EXPECT_EQ(-EINVAL, iob_vfio_set_irqs(self->v.device, IOBOND_VFIO_KICK_IRQ,
					     0, 2, fds));
	EXPECT_EQ(-EINVAL, iob_vfio_set_irqs(self->v.device, 7, 0, 1, fds));
	EXPECT_EQ(-EBADF, iob_vfio_set_irqs(self->v.device, IOBOND_VFIO_KICK_IRQ,
					    0, 1, &bad));
	/* Notify: the wrong size, no such queue, a queue not enabled. */
	EXPECT_EQ(-1, pwrite(self->v.device, &one, 2,
			     self->v.off[IOBOND_VFIO_NOTIFY_REGION]));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, pwrite(self->v.device, &one, 4,
			     self->v.off[IOBOND_VFIO_NOTIFY_REGION] + 4 * 5));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, pwrite(self->v.device, &one, 4,
			     self->v.off[IOBOND_VFIO_NOTIFY_REGION]));
	EXPECT_EQ(EINVAL, errno);
	/* The state is read-only; no region reads past its end. */
	EXPECT_EQ(-1, pwrite(self->v.device, b, 4,
			     self->v.off[IOBOND_VFIO_STATE_REGION]));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, pread(self->v.device, b, 8,
			    self->v.off[IOBOND_VFIO_STATE_REGION] +
			    self->v.size[IOBOND_VFIO_STATE_REGION] - 4));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(self->v.device, _IO(VFIO_TYPE, VFIO_BASE + 60), b));
	EXPECT_EQ(ENOTTY, errno);
	/* A second mdev for the same slot; one for an empty slot. */
	EXPECT_EQ(EBUSY, make_mdev(self->index, "a0b0c0d0-0000-4000-8000-000000000001"));
	EXPECT_EQ(ENODEV, make_mdev(self->index + 1,
				    "a0b0c0d0-0000-4000-8000-000000000002"));
}

TEST_F(vfio, faces_exclude_each_other)
{
	struct iobond_vring_eventfd ve = {
		.argsz = sizeof(ve), .flags = IOBOND_VRING_KICK,
		.index = self->index, .fd = eventfd(0, 0),
	};

	IOB_RETURN_IF_SKIPPED();
	ASSERT_EQ(0, vfio_open(self));
	EXPECT_EQ(-1, ioctl(self->fd, IOBOND_SET_VRING_EVENTFD, &ve));
	EXPECT_EQ(EBUSY, errno);
	iob_vfio_close(&self->v);

	ASSERT_EQ(0, ioctl(self->fd, IOBOND_SET_VRING_EVENTFD, &ve));
	EXPECT_EQ(EBUSY, vfio_open(self));
	ve.fd = -1;
	ASSERT_EQ(0, ioctl(self->fd, IOBOND_SET_VRING_EVENTFD, &ve));
	EXPECT_EQ(0, vfio_open(self));
}

TEST_F(vfio, removal_reaches_the_backend)
{
	struct iobond_device_ref ref = { .argsz = sizeof(ref), .index = self->index };
	struct iobond_vfio_state st;
	int32_t efd = eventfd(0, EFD_NONBLOCK);
	__u64 n = 0;

	IOB_RETURN_IF_SKIPPED();
	ASSERT_EQ(0, vfio_open(self));
	ASSERT_EQ(0, iob_vfio_set_irqs(self->v.device, IOBOND_VFIO_STATE_IRQ,
				       0, 1, &efd));
	ASSERT_EQ(0, ioctl(self->fd, IOBOND_REMOVE_DEVICE, &ref));
	EXPECT_EQ(8, read(efd, &n, 8));
	EXPECT_LT(0, n);
	ASSERT_EQ(0, iob_vfio_state(&self->v, &st));
	EXPECT_EQ(0, st.type);
}

/* Run iobondctl; its exit status, and whether stderr has @needle. */
static int ctl(const char *args, const char *needle, bool *said)
{
	char cmd[512], out[4096];
	int status;

	snprintf(cmd, sizeof(cmd), "iobondctl board0 add-blk %s 2>&1", args);
	status = iob_shell(cmd, out, sizeof(out));
	*said = strstr(out, needle);
	if (!*said)
		fprintf(stderr, "# iobondctl %s said: %s", args, out);
	return status;
}

TEST_F(vfio, cli_refuses_bad_input)
{
	struct iobond_device_info d = { .argsz = sizeof(d) };
	bool said;
	FILE *f;

	IOB_RETURN_IF_SKIPPED();
	f = fopen("/tmp/tiny.img", "w");

	ASSERT_TRUE(f != NULL);
	fprintf(f, "%100s", "a file of 100 bytes");
	fclose(f);
	EXPECT_EQ(2, ctl("", "needs --file", &said));
	EXPECT_TRUE(said);
	EXPECT_EQ(1, ctl("--file /nonexistent.img", "No such file", &said));
	EXPECT_TRUE(said);
	EXPECT_EQ(1, ctl("--file /tmp/tiny.img", "less than one", &said));
	EXPECT_TRUE(said);
	EXPECT_EQ(1, ctl("--file /tmp", "Is a directory", &said));
	EXPECT_TRUE(said);
	EXPECT_EQ(2, ctl("--file /tmp/tiny.img --queues 0", "--queues", &said));
	EXPECT_TRUE(said);
	EXPECT_EQ(2, ctl("--file /tmp/tiny.img --queues 17", "--queues", &said));
	EXPECT_TRUE(said);
	EXPECT_EQ(2, ctl("--file /tmp/tiny.img --iops lots", "--iops", &said));
	EXPECT_TRUE(said);
	EXPECT_EQ(2, ctl("--file /tmp/tiny.img --serial 123456789012345678901",
			 "--serial", &said));
	EXPECT_TRUE(said);
	EXPECT_EQ(2, ctl("--file /tmp/tiny.img --bogus", "unrecognized", &said));
	EXPECT_TRUE(said);
	/* Nothing was added by any of them: only the fixture's disk. */
	for (d.index = 0; d.index < IOBOND_MAX_DEVICES; d.index++) {
		ASSERT_EQ(0, ioctl(self->fd, IOBOND_GET_DEVICE, &d));
		EXPECT_EQ(d.index == self->index ? IOBOND_DEV_BLK : 0, d.type);
	}
	unlink("/tmp/tiny.img");
}

TEST_HARNESS_MAIN

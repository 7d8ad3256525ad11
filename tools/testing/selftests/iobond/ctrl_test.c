// SPDX-License-Identifier: GPL-2.0
/*
 * The host's control face, /dev/iobond/board0: provisioning ioctls, what
 * they refuse, and that a refusal changes nothing.
 *
 * Runs in the host VM with iobond_host loaded and the board up; it leaves
 * the board as it found it (stopped, no devices).
 */
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_ring.h>

#include "kselftest_harness.h"
#include "iobond_test.h"

#define BOARD	"/dev/iobond/board0"

static const __u8 mac1[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x01 };
static const __u8 mac2[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x02 };

static struct iobond_device_add net_add(const __u8 *mac)
{
	struct iobond_device_add add = {
		.argsz = sizeof(add), .type = IOBOND_DEV_NET,
		.num_queues = 2, .queue_size = 256,
	};

	memcpy(add.config.net.mac, mac, 6);
	return add;
}

static int ioctl_err(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? errno : 0;
}

static int num_devices(int fd)
{
	struct iobond_board_info info = { .argsz = sizeof(info) };

	if (ioctl(fd, IOBOND_GET_BOARD_INFO, &info))
		return -1;
	return info.num_devices;
}

/* The board's flags, or -1: each GET goes in with flags 0. */
static long board_flags(int fd)
{
	struct iobond_board_info info = { .argsz = sizeof(info) };

	return ioctl(fd, IOBOND_GET_BOARD_INFO, &info) ? -1 : info.flags;
}

FIXTURE(ctrl) {
	int fd;
};

FIXTURE_SETUP(ctrl)
{
	struct iob t;

	self->fd = -1;
	if (iob_setup(&t) || !t.host)
		SKIP(return, "needs the host VM");
	self->fd = open(BOARD, O_RDWR);
	if (self->fd < 0)
		SKIP(return, "needs %s: %s", BOARD, strerror(errno));
	ASSERT_EQ(0, num_devices(self->fd)) TH_LOG("the board is not empty");
}

FIXTURE_TEARDOWN(ctrl)
{
	struct iobond_device_ref ref = { .argsz = sizeof(ref) };
	struct iobond_board_ctrl stop = { .argsz = sizeof(stop),
					  .flags = IOBOND_BOARD_STOP };

	if (self->fd < 0)
		return;
	for (ref.index = 0; ref.index < IOBOND_MAX_DEVICES; ref.index++)
		ioctl(self->fd, IOBOND_REMOVE_DEVICE, &ref);
	ioctl(self->fd, IOBOND_BOARD_CTRL, &stop);
	close(self->fd);
}

TEST_F(ctrl, board_info)
{
	struct iobond_board_info info = { .argsz = sizeof(info) };

	IOB_RETURN_IF_SKIPPED();
	ASSERT_EQ(0, ioctl_err(self->fd, IOBOND_GET_BOARD_INFO, &info));
	EXPECT_EQ(0, info.index);
	EXPECT_EQ(IOBOND_MAX_DEVICES, info.max_devices);
	EXPECT_EQ(IOBOND_MAX_QUEUES, info.max_queues);
	EXPECT_TRUE(info.flags & IOBOND_BOARD_LINK_UP);
	EXPECT_FALSE(info.flags & IOBOND_BOARD_RUNNING);
	EXPECT_EQ(64 << 20, info.region_size);
	EXPECT_EQ((64 << 20) - IOBOND_WINDOW_OFF, info.window_size);
	EXPECT_NE(info.own_id, info.peer_id);
}

TEST_F(ctrl, add_get_remove)
{
	struct iobond_device_add add = net_add(mac1);
	struct iobond_device_info d = { .argsz = sizeof(d) };
	struct iobond_device_ref ref = { .argsz = sizeof(ref) };

	IOB_RETURN_IF_SKIPPED();
	add.config.net.mtu = 9000;
	ASSERT_EQ(0, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &add));
	EXPECT_EQ(0, add.index);
	EXPECT_EQ(1, num_devices(self->fd));

	d.index = add.index;
	ASSERT_EQ(0, ioctl_err(self->fd, IOBOND_GET_DEVICE, &d));
	EXPECT_EQ(IOBOND_DEV_NET, d.type);
	EXPECT_EQ(2, d.num_queues);
	EXPECT_EQ(256, d.queue_size);
	EXPECT_EQ(0, memcmp(mac1, d.config.net.mac, 6));
	EXPECT_EQ(9000, d.config.net.mtu);
	/* VERSION_1, ACCESS_PLATFORM; MAC, STATUS and MTU with the config. */
	EXPECT_TRUE(d.features & (1ULL << 32));
	EXPECT_TRUE(d.features & (1ULL << 33));
	EXPECT_TRUE(d.features & (1ULL << 5));
	EXPECT_TRUE(d.features & (1ULL << 16));
	EXPECT_TRUE(d.features & (1ULL << 3));

	ref.index = add.index;
	EXPECT_EQ(0, ioctl_err(self->fd, IOBOND_REMOVE_DEVICE, &ref));
	EXPECT_EQ(ENOENT, ioctl_err(self->fd, IOBOND_REMOVE_DEVICE, &ref));
	ASSERT_EQ(0, ioctl_err(self->fd, IOBOND_GET_DEVICE, &d));
	EXPECT_EQ(0, d.type);
	EXPECT_EQ(0, num_devices(self->fd));
}

/* Each bad request is refused with its errno and leaves one device. */
TEST_F(ctrl, bad_adds_change_nothing)
{
	struct iobond_device_add good = net_add(mac1), bad;
	static const __u8 zero[6], mcast[6] = { 0x01, 0, 0x5e, 0, 0, 1 };
	struct iobond_board_info info = { .argsz = sizeof(info) };

	IOB_RETURN_IF_SKIPPED();
	ASSERT_EQ(0, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &good));

	bad = net_add(mac1);
	EXPECT_EQ(EEXIST, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &bad));
	bad = net_add(mac2);
	bad.argsz = 8;
	EXPECT_EQ(EINVAL, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &bad));
	bad = net_add(mac2);
	bad.flags = 1 << 7;	/* no such flag */
	EXPECT_EQ(EINVAL, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &bad));
	bad = net_add(mac2);
	bad.queue_size = 0;
	EXPECT_EQ(EINVAL, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &bad));
	bad = net_add(mac2);
	bad.queue_size = 100;
	EXPECT_EQ(EINVAL, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &bad));
	bad = net_add(mac2);
	bad.num_queues = IOBOND_MAX_QUEUES + 2;
	EXPECT_EQ(EINVAL, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &bad));
	bad = net_add(mac2);
	bad.num_queues = 3;	/* odd, without CTRL_VQ */
	EXPECT_EQ(EINVAL, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &bad));
	bad = net_add(mac2);
	bad.num_queues = 0;
	EXPECT_EQ(EINVAL, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &bad));
	bad = net_add(zero);
	EXPECT_EQ(EINVAL, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &bad));
	bad = net_add(mcast);
	EXPECT_EQ(EINVAL, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &bad));
	bad = net_add(mac2);
	bad.features = 1ULL << 40;
	EXPECT_EQ(EINVAL, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &bad));
	bad = net_add(mac2);
	bad.reserved[3] = 1;
	EXPECT_EQ(EINVAL, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &bad));
	bad = net_add(mac2);
	bad.config.net.mtu = 20;
	EXPECT_EQ(EINVAL, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &bad));
	bad = net_add(mac2);
	bad.type = 99;
	EXPECT_EQ(EINVAL, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &bad));
	EXPECT_EQ(ENOTTY, ioctl_err(self->fd, _IO(IOBOND_TYPE, 99), &bad));

	EXPECT_EQ(1, num_devices(self->fd));
	info.argsz = 4;
	EXPECT_EQ(EINVAL, ioctl_err(self->fd, IOBOND_GET_BOARD_INFO, &info));
}

static struct iobond_device_add blk_add(void)
{
	struct iobond_device_add add = {
		.argsz = sizeof(add), .type = IOBOND_DEV_BLK,
		.num_queues = 2, .queue_size = 64,
		.features = 1ULL << VIRTIO_BLK_F_MQ | 1ULL << VIRTIO_BLK_F_FLUSH,
	};

	add.config.blk.capacity = 8192;
	add.config.blk.blk_size = 4096;
	add.config.blk.physical_block_exp = 0;
	return add;
}

/* A disk keeps its geometry; the kernel sets the limits the window allows. */
TEST_F(ctrl, add_blk)
{
	struct iobond_device_add add = blk_add();
	struct iobond_device_info d = { .argsz = sizeof(d) };

	IOB_RETURN_IF_SKIPPED();
	ASSERT_EQ(0, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &add));
	d.index = add.index;
	ASSERT_EQ(0, ioctl_err(self->fd, IOBOND_GET_DEVICE, &d));
	EXPECT_EQ(IOBOND_DEV_BLK, d.type);
	EXPECT_EQ(8192, d.config.blk.capacity);
	EXPECT_EQ(4096, d.config.blk.blk_size);
	EXPECT_EQ(65536, d.config.blk.size_max);
	/* A request, header and status fit the ring without chaining. */
	EXPECT_LE(d.config.blk.seg_max, 64 - 2);
	EXPECT_GE(d.config.blk.seg_max, 1);
	/* SIZE_MAX, SEG_MAX, BLK_SIZE, TOPOLOGY always; no indirect rings. */
	EXPECT_EQ(0x446, d.features & 0x446);
	EXPECT_TRUE(d.features & (1ULL << VIRTIO_BLK_F_MQ));
	EXPECT_FALSE(d.features & (1ULL << VIRTIO_RING_F_INDIRECT_DESC));
	EXPECT_EQ(1, num_devices(self->fd));
}

/* Each bad disk is refused with its errno; nothing is added. */
TEST_F(ctrl, bad_blk_adds_change_nothing)
{
	struct iobond_device_add bad;

	IOB_RETURN_IF_SKIPPED();
	bad = blk_add();
	bad.config.blk.capacity = 0;
	EXPECT_EQ(EINVAL, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &bad));
	bad = blk_add();
	bad.config.blk.capacity = 7;	/* not a whole 4 KiB block */
	EXPECT_EQ(EINVAL, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &bad));
	bad = blk_add();
	bad.config.blk.blk_size = 1000;
	EXPECT_EQ(EINVAL, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &bad));
	bad = blk_add();
	bad.config.blk.blk_size = 8192;
	EXPECT_EQ(EINVAL, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &bad));
	bad = blk_add();
	bad.config.blk.physical_block_exp = 9;
	EXPECT_EQ(EINVAL, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &bad));
	bad = blk_add();
	bad.features &= ~(1ULL << VIRTIO_BLK_F_MQ);	/* 2 queues need MQ */
	EXPECT_EQ(EINVAL, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &bad));
	bad = blk_add();
	bad.features |= 1ULL << VIRTIO_BLK_F_CONFIG_WCE;	/* not offered */
	EXPECT_EQ(EINVAL, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &bad));
	bad = blk_add();
	bad.queue_size = 2;		/* no room for a request */
	EXPECT_EQ(EINVAL, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &bad));
	bad = blk_add();
	bad.queue_size = 2048;
	EXPECT_EQ(EINVAL, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &bad));
	bad = blk_add();
	bad.config.blk.seg_max = 4;	/* output only */
	EXPECT_EQ(EINVAL, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &bad));
	bad = blk_add();
	bad.config.blk.reserved[0] = 1;
	EXPECT_EQ(EINVAL, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &bad));
	EXPECT_EQ(0, num_devices(self->fd));
}

TEST_F(ctrl, slots_run_out)
{
	struct iobond_device_add add;
	__u8 mac[6];
	int i;

	IOB_RETURN_IF_SKIPPED();
	memcpy(mac, mac1, 6);
	for (i = 0; i < IOBOND_MAX_DEVICES; i++) {
		mac[5] = 0x10 + i;
		add = net_add(mac);
		ASSERT_EQ(0, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &add));
		EXPECT_EQ(i, add.index);
	}
	mac[5] = 0x20;
	add = net_add(mac);
	EXPECT_EQ(ENOSPC, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &add));
	EXPECT_EQ(IOBOND_MAX_DEVICES, num_devices(self->fd));
}

TEST_F(ctrl, start_stop_reset)
{
	struct iobond_board_ctrl c = { .argsz = sizeof(c) };

	IOB_RETURN_IF_SKIPPED();
	EXPECT_EQ(EINVAL, ioctl_err(self->fd, IOBOND_BOARD_CTRL, &c));
	c.flags = IOBOND_BOARD_START | IOBOND_BOARD_STOP;
	EXPECT_EQ(EINVAL, ioctl_err(self->fd, IOBOND_BOARD_CTRL, &c));
	c.flags = 1 << 7;
	EXPECT_EQ(EINVAL, ioctl_err(self->fd, IOBOND_BOARD_CTRL, &c));

	c.flags = IOBOND_BOARD_START;
	ASSERT_EQ(0, ioctl_err(self->fd, IOBOND_BOARD_CTRL, &c));
	EXPECT_EQ(IOBOND_BOARD_RUNNING,
		  board_flags(self->fd) & IOBOND_BOARD_RUNNING);
	/* Again: nothing changes (the runner checks the board's side). */
	EXPECT_EQ(0, ioctl_err(self->fd, IOBOND_BOARD_CTRL, &c));
	EXPECT_EQ(IOBOND_BOARD_RUNNING,
		  board_flags(self->fd) & IOBOND_BOARD_RUNNING);
	c.flags = IOBOND_BOARD_RESET;
	ASSERT_EQ(0, ioctl_err(self->fd, IOBOND_BOARD_CTRL, &c));
	EXPECT_EQ(0, board_flags(self->fd) & IOBOND_BOARD_RUNNING);
}

/* The GET ioctls' flags are output: one going in is refused. */
TEST_F(ctrl, get_refuses_input_flags)
{
	struct iobond_board_info info = { .argsz = sizeof(info), .flags = 1 };
	struct iobond_device_info d = { .argsz = sizeof(d), .flags = 1U << 31 };
	struct iobond_vring_info vi = { .argsz = sizeof(vi),
					.flags = IOBOND_VRING_ENABLED };
	struct iobond_device_add add = net_add(mac1);

	IOB_RETURN_IF_SKIPPED();
	ASSERT_EQ(0, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &add));
	EXPECT_EQ(EINVAL, ioctl_err(self->fd, IOBOND_GET_BOARD_INFO, &info));
	EXPECT_EQ(EINVAL, ioctl_err(self->fd, IOBOND_GET_DEVICE, &d));
	EXPECT_EQ(EINVAL, ioctl_err(self->fd, IOBOND_GET_VRING, &vi));
	info.flags = d.flags = vi.flags = 0;
	EXPECT_EQ(0, ioctl_err(self->fd, IOBOND_GET_BOARD_INFO, &info));
	EXPECT_EQ(0, ioctl_err(self->fd, IOBOND_GET_DEVICE, &d));
	EXPECT_EQ(0, ioctl_err(self->fd, IOBOND_GET_VRING, &vi));
	EXPECT_EQ(0, vi.flags);	/* the board enabled nothing */
}

static int board_ctrl(int fd, __u32 flag)
{
	struct iobond_board_ctrl c = { .argsz = sizeof(c), .flags = flag };

	return ioctl_err(fd, IOBOND_BOARD_CTRL, &c);
}

static long dev_flags(int fd)
{
	struct iobond_device_info d = { .argsz = sizeof(d) };

	return ioctl(fd, IOBOND_GET_DEVICE, &d) ? -1 : d.flags;
}

static long long dev_generation(int fd)
{
	struct iobond_device_info d = { .argsz = sizeof(d) };

	return ioctl(fd, IOBOND_GET_DEVICE, &d) ? -1 : d.generation;
}

static int set_eventfd(int fd, __u32 flag, int efd)
{
	struct iobond_vring_eventfd ve = { .argsz = sizeof(ve), .flags = flag,
					   .fd = efd };

	return ioctl_err(fd, IOBOND_SET_VRING_EVENTFD, &ve);
}

/*
 * A device's eventfds belong to the file that set them: another file is
 * refused until the owner lets go of all of them, or closes.  A NIC whose
 * backend closed its file loses its carrier.
 */
TEST_F(ctrl, vhost_face_has_one_owner)
{
	struct iobond_device_add add = net_add(mac1);
	int a, b, kick = eventfd(0, EFD_CLOEXEC), call = eventfd(0, EFD_CLOEXEC);
	int closed = iob_dmesg_count("dev0: its backend closed its file");
	long long gen;
	int down = iob_dmesg_count("dev0: link down");

	IOB_RETURN_IF_SKIPPED();
	ASSERT_LE(0, kick);
	ASSERT_LE(0, call);
	ASSERT_EQ(0, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &add));
	ASSERT_EQ(0, add.index);
	a = open(BOARD, O_RDWR | O_CLOEXEC);
	b = open(BOARD, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, a);
	ASSERT_LE(0, b);

	EXPECT_EQ(0, dev_flags(a));
	ASSERT_EQ(0, set_eventfd(a, IOBOND_VRING_KICK, kick));
	ASSERT_EQ(0, set_eventfd(a, IOBOND_VRING_CALL, call));
	EXPECT_EQ(IOBOND_DEVICE_OWNED, dev_flags(a));
	EXPECT_EQ(0, dev_flags(b));
	EXPECT_EQ(EBUSY, set_eventfd(b, IOBOND_VRING_KICK, kick));
	EXPECT_EQ(EBUSY, set_eventfd(b, IOBOND_VRING_CALL, -1));
	/* Letting go of one is not letting go. */
	EXPECT_EQ(0, set_eventfd(a, IOBOND_VRING_KICK, -1));
	EXPECT_EQ(EBUSY, set_eventfd(b, IOBOND_VRING_KICK, kick));
	EXPECT_EQ(0, set_eventfd(a, IOBOND_VRING_CALL, -1));
	EXPECT_EQ(0, dev_flags(a));
	EXPECT_EQ(0, set_eventfd(b, IOBOND_VRING_KICK, kick));
	EXPECT_EQ(EBUSY, set_eventfd(a, IOBOND_VRING_CALL, call));
	EXPECT_EQ(IOBOND_DEVICE_OWNED, dev_flags(b));

	/* The operator's reset of the board detaches them too, in public. */
	gen = dev_generation(b);
	EXPECT_EQ(0, board_ctrl(self->fd, IOBOND_BOARD_RESET));
	EXPECT_EQ(0, dev_flags(b));
	EXPECT_NE(gen, dev_generation(b));
	EXPECT_EQ(0, set_eventfd(b, IOBOND_VRING_KICK, kick));
	EXPECT_EQ(IOBOND_DEVICE_OWNED, dev_flags(b));

	/* The owner closes: the device is free, and its carrier is off. */
	close(b);
	EXPECT_EQ(closed + 1, iob_dmesg_count("dev0: its backend closed its file"));
	EXPECT_EQ(down + 1, iob_dmesg_count("dev0: link down"));
	EXPECT_EQ(0, set_eventfd(a, IOBOND_VRING_CALL, call));
	/* A file that holds nothing closes without a word. */
	EXPECT_EQ(0, set_eventfd(a, IOBOND_VRING_CALL, -1));
	close(a);
	EXPECT_EQ(closed + 1, iob_dmesg_count("dev0: its backend closed its file"));
	close(kick);
	close(call);
}

TEST_F(ctrl, stats_refuse_bad_queues)
{
	struct iobond_device_add add = net_add(mac1);
	struct iobond_queue_stats st = { .argsz = sizeof(st) };

	IOB_RETURN_IF_SKIPPED();
	EXPECT_EQ(ENOENT, ioctl_err(self->fd, IOBOND_GET_QUEUE_STATS, &st));
	ASSERT_EQ(0, ioctl_err(self->fd, IOBOND_ADD_DEVICE, &add));
	st.queue = 1;
	EXPECT_EQ(0, ioctl_err(self->fd, IOBOND_GET_QUEUE_STATS, &st));
	EXPECT_EQ(0, st.kicks);
	st.queue = 2;
	EXPECT_EQ(EINVAL, ioctl_err(self->fd, IOBOND_GET_QUEUE_STATS, &st));
	st.queue = 0;
	st.index = IOBOND_MAX_DEVICES;
	EXPECT_EQ(EINVAL, ioctl_err(self->fd, IOBOND_GET_QUEUE_STATS, &st));
}

/* Unbinding the link under an open file: ENODEV and POLLHUP, no oops. */
TEST_F(ctrl, removed_board)
{
	struct iobond_board_info info = { .argsz = sizeof(info) };
	struct pollfd pfd = { .fd = self->fd, .events = POLLIN };
	char path[128], bdf[IOB_BDF_LEN];
	struct iobond_event ev;
	int fd2;

	IOB_RETURN_IF_SKIPPED();
	ASSERT_EQ(0, iob_find_bdf(bdf));
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/iobond_host/unbind");
	ASSERT_EQ(0, iob_write_file(path, bdf));

	EXPECT_EQ(ENODEV, ioctl_err(self->fd, IOBOND_GET_BOARD_INFO, &info));
	EXPECT_EQ(1, poll(&pfd, 1, 1000));
	EXPECT_TRUE(pfd.revents & POLLHUP);
	while (read(self->fd, &ev, sizeof(ev)) > 0)
		;
	EXPECT_EQ(ENODEV, errno);
	EXPECT_NE(0, access(BOARD, F_OK));

	/* Bound again, the link gets board0 back while we still hold the old. */
	ASSERT_EQ(0, iob_write_file("/sys/bus/pci/drivers_probe", bdf));
	fd2 = open(BOARD, O_RDWR);
	ASSERT_LE(0, fd2);
	EXPECT_EQ(0, ioctl_err(fd2, IOBOND_GET_BOARD_INFO, &info));
	EXPECT_EQ(0, info.index);
	close(self->fd);
	self->fd = fd2;
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: GPL-2.0
/*
 * What the host made of the board's requests (slot_test ran on the board
 * just before): the events userspace reads from /dev/iobond/board0, the
 * device state, and the refusals in the kernel log.
 */
#include <linux/virtio_config.h>
#include <sys/ioctl.h>

#include "kselftest_harness.h"
#include "iobond_test.h"

#define BOARD	"/dev/iobond/board0"

TEST(board_requests_became_events)
{
	struct iobond_device_info d = { .argsz = sizeof(d) };
	struct iobond_event ev[64];
	int fd, n, i, step = 0;
	__u32 ok = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		   VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK;
	struct iob t;

	if (iob_setup(&t) || !t.host)
		SKIP(return, "needs the host VM");
	fd = open(BOARD, O_RDONLY | O_NONBLOCK);
	ASSERT_LE(0, fd);
	n = read(fd, ev, sizeof(ev));
	ASSERT_LT(0, n) TH_LOG("no events: %s", strerror(errno));
	n /= sizeof(ev[0]);

	/* In order: reset, feature negotiation, two queues, DRIVER_OK. */
	for (i = 0; i < n; i++) {
		if (ev[i].index != 0)
			continue;
		if (step == 0 && ev[i].type == IOBOND_EVENT_DEVICE_RESET)
			step++;
		else if (step == 1 && ev[i].type == IOBOND_EVENT_STATUS &&
			 ev[i].arg & VIRTIO_CONFIG_S_FEATURES_OK)
			step++;
		else if ((step == 2 || step == 3) &&
			 ev[i].type == IOBOND_EVENT_QUEUE_ENABLED &&
			 ev[i].arg == (__u32)step - 2)
			step++;
		else if (step == 4 && ev[i].type == IOBOND_EVENT_STATUS &&
			 ev[i].arg == ok)
			step++;
	}
	EXPECT_EQ(5, step) TH_LOG("%d events, sequence stopped at step %d",
				  n, step);
	/* The scribbler's last, good request was a reset. */
	d.index = 0;
	ASSERT_EQ(0, ioctl(fd, IOBOND_GET_DEVICE, &d));
	EXPECT_EQ(IOBOND_DEV_NET, d.type);
	EXPECT_EQ(0, d.status);
	EXPECT_EQ(0, d.queues_enabled);
	EXPECT_LE(2, iob_dmesg_count("dev0: refusing features"));
	EXPECT_LE(5, iob_dmesg_count("dev0: refusing queue"));
	EXPECT_LE(1, iob_dmesg_count("dev0: unknown request 77"));
	close(fd);
}

TEST_HARNESS_MAIN

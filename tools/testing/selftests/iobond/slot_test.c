// SPDX-License-Identifier: GPL-2.0
/*
 * The board's side of the device table, driven raw through the link
 * function's BARs with iobond_guest unloaded: the test plays a board
 * driver, a well-behaved one and then a scribbling one.  The host must
 * publish what was provisioned, answer every request within the bound,
 * refuse the bad ones, and keep running.
 *
 * IOBOND_MAC is the MAC the runner provisioned as dev0 on this board.
 */
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>

#include "kselftest_harness.h"
#include "raw_board.h"

FIXTURE(slot) {
	struct raw r;
};

FIXTURE_SETUP(slot)
{
	struct raw *r = &self->r;

	if (iob_setup(&r->t) || r->t.host)
		SKIP(return, "needs the board VM");
	if (iob_loaded(&r->t))
		SKIP(return, "needs iobond_guest unloaded: this test is the driver");
	if (!getenv("IOBOND_MAC"))
		SKIP(return, "needs IOBOND_MAC, the MAC provisioned as dev0");
	ASSERT_EQ(0, raw_open(r));
	ASSERT_EQ(IOBOND_MAGIC, le32toh(r->hdr->magic));
	ASSERT_EQ(IOBOND_SIDE_ONLINE, le32toh(r->hdr->host.state));
}

FIXTURE_TEARDOWN(slot)
{
}

TEST_F(slot, host_published_dev0)
{
	struct iobond_dev_slot *s = self->r.slot;
	struct virtio_net_config cfg;
	unsigned int mac[6], i;

	IOB_RETURN_IF_SKIPPED();
	ASSERT_EQ(6, sscanf(getenv("IOBOND_MAC"), "%x:%x:%x:%x:%x:%x", &mac[0],
			    &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]));
	ASSERT_EQ(IOBOND_SLOT_PRESENT, le32toh(s->state));
	EXPECT_EQ(1, le32toh(s->device_id));
	EXPECT_EQ(2, le16toh(s->num_queues));
	EXPECT_EQ(sizeof(cfg), le16toh(s->config_len));
	memcpy(&cfg, s->config, sizeof(cfg));
	for (i = 0; i < 6; i++)
		EXPECT_EQ(mac[i], cfg.mac[i]);
	EXPECT_EQ(VIRTIO_NET_S_LINK_UP, le16toh(cfg.status));
	for (i = 0; i < 2; i++) {
		EXPECT_EQ(256, le16toh(s->vq[i].size_max));
		EXPECT_LT(0, le16toh(s->vq[i].notify));
		EXPECT_GT(IOBOND_MAX_VECTORS, le16toh(s->vq[i].notify));
	}
	EXPECT_TRUE(le64toh(s->device_features) & (1ULL << VIRTIO_F_VERSION_1));
	EXPECT_TRUE(le64toh(s->device_features) &
		    (1ULL << VIRTIO_F_ACCESS_PLATFORM));
	/* Slots past the ones provisioned are empty. */
	EXPECT_EQ(IOBOND_SLOT_EMPTY, le32toh(s[1].state));
}

TEST_F(slot, good_driver_is_answered)
{
	struct raw *r = &self->r;
	__u64 offered = le64toh(r->slot->device_features);
	__u64 want = offered & ((1ULL << VIRTIO_F_VERSION_1) |
				(1ULL << VIRTIO_F_ACCESS_PLATFORM) |
				(1ULL << VIRTIO_NET_F_MAC));
	/* Slot 0's zone of the window: its rings go there, and only there. */
	__u64 z = IOBOND_ZONE_SIZE(le64toh(r->hdr->window_size));

	IOB_RETURN_IF_SKIPPED();
	EXPECT_EQ(0, request(r, IOBOND_OP_RESET, 0));
	EXPECT_EQ(0, set_status(r, VIRTIO_CONFIG_S_ACKNOWLEDGE |
				   VIRTIO_CONFIG_S_DRIVER, 0));
	EXPECT_EQ(0, set_status(r, VIRTIO_CONFIG_S_ACKNOWLEDGE |
				   VIRTIO_CONFIG_S_DRIVER |
				   VIRTIO_CONFIG_S_FEATURES_OK, want));
	EXPECT_EQ(0, enable_queue(r, 0, 256, 0, 4096, 8192));
	EXPECT_EQ(0, enable_queue(r, 1, 128, z - 16384, z - 8192, z - 4096));
	EXPECT_EQ(0, set_status(r, VIRTIO_CONFIG_S_ACKNOWLEDGE |
				   VIRTIO_CONFIG_S_DRIVER |
				   VIRTIO_CONFIG_S_FEATURES_OK |
				   VIRTIO_CONFIG_S_DRIVER_OK, want));
}

TEST_F(slot, scribbles_are_refused)
{
	struct raw *r = &self->r;
	__u64 offered = le64toh(r->slot->device_features);
	__u64 w = le64toh(r->hdr->window_size), z = IOBOND_ZONE_SIZE(w);

	__u64 need = (1ULL << VIRTIO_F_VERSION_1) |
		     (1ULL << VIRTIO_F_ACCESS_PLATFORM);
	__u32 drv = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER;

	IOB_RETURN_IF_SKIPPED();
	/* Features that were not offered, or without the DMA window. */
	EXPECT_EQ(0, request(r, IOBOND_OP_RESET, 0));
	EXPECT_EQ(EINVAL, set_status(r, VIRTIO_CONFIG_S_FEATURES_OK,
				     offered | (1ULL << 50)));
	EXPECT_EQ(EINVAL, set_status(r, VIRTIO_CONFIG_S_FEATURES_OK,
				     offered & ~(1ULL << VIRTIO_F_ACCESS_PLATFORM)));
	EXPECT_EQ(EINVAL, set_status(r, 0x1234, 0));
	/*
	 * The status moves as virtio says: never to 0 (that is a reset),
	 * no DRIVER_OK before FEATURES_OK, no FEATURES_OK taken back.
	 */
	EXPECT_EQ(EINVAL, set_status(r, 0, 0));
	EXPECT_EQ(EINVAL, set_status(r, drv | VIRTIO_CONFIG_S_DRIVER_OK, need));
	EXPECT_EQ(0, set_status(r, drv | VIRTIO_CONFIG_S_FEATURES_OK, need));
	EXPECT_EQ(EINVAL, set_status(r, drv, 0));
	/* Rings outside the window, misaligned, or of a bad size. */
	EXPECT_EQ(EINVAL, enable_queue(r, 0, 256, w - 16, 4096, 8192));
	EXPECT_EQ(EINVAL, enable_queue(r, 0, 256, ~0ULL - 4095, 4096, 8192));
	EXPECT_EQ(EINVAL, enable_queue(r, 0, 256, 8, 4096, 8192));
	/* In the window, but in another slot's zone, or across into it. */
	EXPECT_EQ(EINVAL, enable_queue(r, 0, 256, z, z + 4096, z + 8192));
	EXPECT_EQ(EINVAL, enable_queue(r, 0, 256, 0, 4096, z - 4));
	EXPECT_EQ(EINVAL, enable_queue(r, 0, 3, 0, 4096, 8192));
	EXPECT_EQ(EINVAL, enable_queue(r, 0, 512, 0, 8192, 16384));
	EXPECT_EQ(EINVAL, enable_queue(r, 7, 256, 0, 4096, 8192));
	EXPECT_EQ(EOPNOTSUPP, request(r, 77, 0));
	/* And the host still answers a well-formed request afterwards. */
	EXPECT_EQ(0, request(r, IOBOND_OP_RESET, 0));
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: GPL-2.0
/*
 * Running the board's DMA window dry: with every free byte of it taken
 * (debugfs "hog"), virtio_net's mappings fail cleanly and packets are
 * dropped; given back, traffic recovers.  No oops, no hang.
 *
 * IOBOND_PEER_IP   the host's address on the NIC under test
 */
#include "kselftest_harness.h"
#include "iobond_test.h"

static long long window(const struct iob *t, const char *key)
{
	return iob_debugfs_value(t, "window", key);
}

static int ping(const char *peer, int count)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "ping -c %d -i 0.2 -W 2 %s > /dev/null 2>&1",
		 count, peer);
	return WEXITSTATUS(system(cmd));
}

FIXTURE(window) {
	struct iob t;
	const char *peer;
	char hog[PATH_MAX];
};

FIXTURE_SETUP(window)
{
	self->peer = getenv("IOBOND_PEER_IP");
	if (iob_setup(&self->t) || self->t.host || !self->peer)
		SKIP(return, "needs the board VM and IOBOND_PEER_IP");
	snprintf(self->hog, sizeof(self->hog), "%s/hog", self->t.dbg);
}

FIXTURE_TEARDOWN(window)
{
	iob_write_file(self->hog, "0");
}

TEST_F_TIMEOUT(window, exhaustion_fails_cleanly, 120)
{
	int warned = iob_dmesg_count("DMA window full");
	long long start;
	char big[32];

	IOB_RETURN_IF_SKIPPED();
	ASSERT_EQ(0, ping(self->peer, 2)) TH_LOG("no traffic to begin with");
	/*
	 * Ask for all of it: the hog takes what it can, in shrinking chunks,
	 * and keeps whatever is freed while it holds, so that a packet
	 * received meanwhile cannot leave room for a send.
	 */
	snprintf(big, sizeof(big), "%lld", window(&self->t, "size"));
	ASSERT_EQ(0, iob_write_file(self->hog, big));
	TH_LOG("window: %lld bytes free after the hog took %lld",
	       window(&self->t, "free"), window(&self->t, "hogged"));
	EXPECT_EQ(0, window(&self->t, "free"));

	/* Nothing can be mapped: the pings are lost, and it is said. */
	EXPECT_NE(0, ping(self->peer, 3));
	EXPECT_LT(warned, iob_dmesg_count("DMA window full"));

	ASSERT_EQ(0, iob_write_file(self->hog, "0"));
	EXPECT_EQ(0, window(&self->t, "hogged"));
	start = iob_now_ms();
	while (ping(self->peer, 1) && iob_now_ms() - start < 20000)
		;
	TH_LOG("traffic back %lld ms after the window was", iob_now_ms() - start);
	EXPECT_EQ(0, ping(self->peer, 5));
}

TEST_HARNESS_MAIN

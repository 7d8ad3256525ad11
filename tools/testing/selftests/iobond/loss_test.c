// SPDX-License-Identifier: GPL-2.0
/*
 * The runner has just taken the peer away; this side must notice within
 * the documented bound, and say so in the log exactly once.
 *
 * IOBOND_LOSS=offline: the peer detached cleanly (module unloaded or OS
 *   shut down); it wrote OFFLINE, so no timeout is needed.
 * IOBOND_LOSS=silent: the peer vanished (VM killed); only the heartbeat
 *   timeout can tell.
 */
#include "kselftest_harness.h"
#include "iobond_test.h"

/* Documentation/iobond/link.rst: timeout plus two heartbeat periods. */
#define LOSS_BOUND_MS	(IOBOND_PEER_TIMEOUT_MS + 2 * IOBOND_HEARTBEAT_MS)

TEST(peer_lost_within_bound)
{
	const char *how = getenv("IOBOND_LOSS");
	long long after, losses;
	int logged;
	struct iob t;
	int ret = iob_setup(&t);

	if (ret)
		SKIP(return, "needs an IO-Bond VM (IOBOND_SIDE, an ivshmem function): %s",
		     strerror(-ret));
	if (!how)
		SKIP(return, "needs IOBOND_LOSS=offline|silent");

	/* The runner took the peer away just before starting us. */
	ASSERT_LE(0, iob_wait_status(&t, "peer", 0, 4 * LOSS_BOUND_MS))
		TH_LOG("the peer is still up");
	after = iob_status(&t, "lost_after_ms");
	TH_LOG("peer lost after its heartbeat stood for %lld ms", after);
	EXPECT_GE(LOSS_BOUND_MS, after);
	if (!strcmp(how, "offline")) {
		EXPECT_GT(IOBOND_PEER_TIMEOUT_MS, after);
		EXPECT_LE(1, iob_dmesg_count("lost: offline"));
	} else {
		EXPECT_LE(IOBOND_PEER_TIMEOUT_MS, after);
		EXPECT_LE(1, iob_dmesg_count("lost: heartbeat stopped"));
	}

	/* Logged once per loss, and not again while the peer stays away. */
	losses = iob_status(&t, "peer_losses");
	logged = iob_dmesg_count(" lost: ");
	usleep(3 * LOSS_BOUND_MS * 1000);
	EXPECT_EQ(losses, iob_status(&t, "peer_losses"));
	EXPECT_EQ(logged, iob_dmesg_count(" lost: "));
	EXPECT_EQ(0, iob_status(&t, "peer"));
}

TEST_HARNESS_MAIN

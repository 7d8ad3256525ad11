// SPDX-License-Identifier: GPL-2.0
/*
 * The runner has just taken the peer away; this side must notice within
 * the documented bound, and say so in the log exactly once.
 *
 * IOBOND_LOSS=offline: the peer detached cleanly (module unloaded or OS
 *   shut down); it wrote OFFLINE, so no timeout is needed.
 * IOBOND_LOSS=silent: the peer vanished (VM killed); only the heartbeat
 *   timeout can tell.
 * IOBOND_MARK=NAME: before it took the peer away, the runner wrote
 *   "iobond-mark NAME" to this side's /dev/kmsg, with a NAME of this step
 *   alone.  Only the log after that line counts: the loss may be logged
 *   before this test starts, and earlier steps' losses are in the log too.
 */
#include "kselftest_harness.h"
#include "iobond_test.h"

/* Documentation/iobond/link.rst: timeout plus two heartbeat periods. */
#define LOSS_BOUND_MS	(IOBOND_PEER_TIMEOUT_MS + 2 * IOBOND_HEARTBEAT_MS)

TEST(peer_lost_within_bound)
{
	const char *how = getenv("IOBOND_LOSS");
	const char *mark = getenv("IOBOND_MARK");
	const char *reason;
	long long after, losses;
	bool offline;
	struct iob t;
	int ret = iob_setup(&t);

	if (ret)
		SKIP(return, "needs an IO-Bond VM (IOBOND_SIDE, an ivshmem function): %s",
		     strerror(-ret));
	if (!how)
		SKIP(return, "needs IOBOND_LOSS=offline|silent");
	offline = !strcmp(how, "offline");
	reason = offline ? " lost: offline" : " lost: heartbeat stopped";
	/* Without a mark every count below would take in earlier losses. */
	ASSERT_NE(NULL, mark)
		TH_LOG("needs IOBOND_MARK, written to /dev/kmsg before the peer left");
	ASSERT_LE(0, iob_dmesg_count_since(mark, " lost: "))
		TH_LOG("no \"iobond-mark %s\" line in the kernel log", mark);

	ASSERT_LE(0, iob_wait_status(&t, "peer", 0, 4 * LOSS_BOUND_MS))
		TH_LOG("the peer is still up");
	after = iob_status(&t, "lost_after_ms");
	TH_LOG("peer lost after its heartbeat stood for %lld ms", after);
	EXPECT_GE(LOSS_BOUND_MS, after);
	/* OFFLINE is seen at once; a silent peer only once the timeout ran. */
	EXPECT_EQ(offline, after < IOBOND_PEER_TIMEOUT_MS)
		TH_LOG("lost after %lld ms, the timeout is %d ms", after,
		       IOBOND_PEER_TIMEOUT_MS);
	EXPECT_EQ(1, iob_dmesg_count_since(mark, reason))
		TH_LOG("\"%s\" after the mark", reason);
	EXPECT_EQ(1, iob_dmesg_count_since(mark, " lost: "));

	/* Not logged again, nor counted, while the peer stays away. */
	losses = iob_status(&t, "peer_losses");
	usleep(3 * LOSS_BOUND_MS * 1000);
	EXPECT_EQ(losses, iob_status(&t, "peer_losses"));
	EXPECT_EQ(1, iob_dmesg_count_since(mark, " lost: "));
	EXPECT_EQ(0, iob_status(&t, "peer"));
}

TEST_HARNESS_MAIN

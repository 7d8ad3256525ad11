// SPDX-License-Identifier: GPL-2.0
/*
 * The link seen from this side, with both modules loaded: peer ids,
 * heartbeats, and doorbell round trips that /proc/interrupts must count.
 *
 * IOBOND_PEER_ID, if set, is the id the other side reports as its own (the
 * runner asks it); the id this side learnt through the region must match.
 * The runner runs this on one side at a time, so that the vectors under
 * test carry no other doorbells.
 */
#include "kselftest_harness.h"
#include "iobond_test.h"

#define ECHOES		20
#define LINK_UP_MS	(4 * IOBOND_PEER_TIMEOUT_MS)

/* Both fixtures need the module loaded and the peer up. */
static void require_link(struct __test_metadata *_metadata, struct iob *t)
{
	int ret = iob_setup(t);

	if (ret)
		SKIP(return, "needs an IO-Bond VM (IOBOND_SIDE, an ivshmem function): %s",
		     strerror(-ret));
	if (!iob_loaded(t))
		SKIP(return, "needs %s loaded", t->module);
	ASSERT_LE(0, iob_wait_status(t, "peer", 1, LINK_UP_MS))
		TH_LOG("the peer is not up");
}

FIXTURE(link) {
	struct iob t;
};

FIXTURE_SETUP(link)
{
	require_link(_metadata, &self->t);
}

FIXTURE_TEARDOWN(link)
{
}

TEST_F(link, peer_ids)
{
	const char *expect = getenv("IOBOND_PEER_ID");
	long long own = iob_status(&self->t, "own_id");
	long long peer = iob_status(&self->t, "peer_id");

	IOB_RETURN_IF_SKIPPED();
	EXPECT_LE(0, own);
	EXPECT_GE(IOBOND_MAX_PEER_ID, own);
	EXPECT_NE(own, peer);
	if (expect)
		EXPECT_EQ(strtoll(expect, NULL, 0), peer);
	EXPECT_EQ(1, iob_status(&self->t, "attached"));
	EXPECT_NE(0, iob_status(&self->t, "epoch"));
	EXPECT_LE(3, iob_status(&self->t, "nvectors"));
	EXPECT_LE(3, iob_status(&self->t, "peer_nvectors"));
}

TEST_F(link, heartbeats_advance)
{
	long long own0 = iob_status(&self->t, "heartbeat");
	long long peer0 = iob_status(&self->t, "peer_heartbeat");
	long long own1, peer1;

	IOB_RETURN_IF_SKIPPED();
	usleep(1000 * 1000);
	own1 = iob_status(&self->t, "heartbeat");
	peer1 = iob_status(&self->t, "peer_heartbeat");
	/* Every 250 ms: about four a second, and no runaway either. */
	EXPECT_LE(2, own1 - own0);
	EXPECT_GE(8, own1 - own0);
	EXPECT_LE(2, peer1 - peer0);
	EXPECT_GE(8, peer1 - peer0);
	EXPECT_EQ(1, iob_status(&self->t, "peer"));
}

TEST_F(link, echo_refuses_bad_input)
{
	char path[PATH_MAX], cmd[32];

	IOB_RETURN_IF_SKIPPED();
	snprintf(path, sizeof(path), "%s/echo", self->t.dbg);
	snprintf(cmd, sizeof(cmd), "%d 1", IOBOND_MAX_VECTORS);
	EXPECT_EQ(-EINVAL, iob_write_file(path, cmd));
	EXPECT_EQ(-EINVAL, iob_write_file(path, "bell"));
	EXPECT_EQ(-EINVAL, iob_write_file(path, "1 0"));
	EXPECT_EQ(-EINVAL, iob_write_file(path, "1 999999"));
}

FIXTURE(echo) {
	struct iob t;
};

FIXTURE_VARIANT(echo) {
	unsigned int vector;
};

FIXTURE_VARIANT_ADD(echo, vector1) {
	.vector = 1,
};

FIXTURE_VARIANT_ADD(echo, vector2) {
	.vector = 2,
};

FIXTURE_SETUP(echo)
{
	require_link(_metadata, &self->t);
}

FIXTURE_TEARDOWN(echo)
{
}

/* Ring the peer ECHOES times; it rings back each time on the same vector. */
TEST_F(echo, round_trip)
{
	unsigned int v = variant->vector;
	long long irq0, irq1, db0, db1, rtt;
	char path[PATH_MAX], cmd[32], result[512];

	IOB_RETURN_IF_SKIPPED();
	irq0 = iob_irq_count(&self->t, v);
	db0 = iob_doorbells(&self->t, v);
	ASSERT_LE(0, irq0) TH_LOG("no %s-v%u in /proc/interrupts",
				  self->t.module, v);

	snprintf(path, sizeof(path), "%s/echo", self->t.dbg);
	snprintf(cmd, sizeof(cmd), "%u %u", v, ECHOES);
	ASSERT_EQ(0, iob_write_file(path, cmd));
	ASSERT_LT(0, iob_read_file(path, result, sizeof(result)));
	TH_LOG("vector %u: %s", v, result);
	EXPECT_NE(NULL, strstr(result, "answered: 20\n"));

	irq1 = iob_irq_count(&self->t, v);
	db1 = iob_doorbells(&self->t, v);
	EXPECT_EQ(ECHOES, irq1 - irq0);
	EXPECT_EQ(ECHOES, db1 - db0);
	rtt = strtoll(strstr(result, "rtt_us_avg: ") + 12, NULL, 10);
	EXPECT_LT(0, rtt);
}

TEST_HARNESS_MAIN

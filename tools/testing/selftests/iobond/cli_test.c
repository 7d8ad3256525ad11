// SPDX-License-Identifier: GPL-2.0
/*
 * iobondctl as an operator meets it: a mistyped command is a usage error
 * whichever board it names, --json comes anywhere and its strings are
 * escaped, a bad --features never reaches the kernel, add-net --tap
 * fails, taking its NIC away again, when serve cannot start, and a board's
 * table is saved and restored.
 *
 * Runs in the host VM with iobond_host loaded; it leaves the board as it
 * found it (stopped, no devices).
 */
#include <sys/ioctl.h>

#include "kselftest_harness.h"
#include "iobond_test.h"

#define BOARD	"/dev/iobond/board0"
/* A path to the board whose name JSON must escape: quote, backslash, ^A. */
#define ODD	"/tmp/q\"b\\x\001"

FIXTURE(cli) {
	int fd;
	char out[4096];
};

FIXTURE_SETUP(cli)
{
	struct iob t;

	self->fd = -1;
	if (iob_setup(&t) || !t.host)
		SKIP(return, "needs the host VM");
	self->fd = open(BOARD, O_RDWR | O_CLOEXEC);
	if (self->fd < 0)
		SKIP(return, "needs %s: %s", BOARD, strerror(errno));
}

FIXTURE_TEARDOWN(cli)
{
	struct iobond_device_ref ref = { .argsz = sizeof(ref) };

	if (self->fd < 0)
		return;
	for (ref.index = 0; ref.index < IOBOND_MAX_DEVICES; ref.index++)
		ioctl(self->fd, IOBOND_REMOVE_DEVICE, &ref);
	close(self->fd);
	unlink(ODD);
	/* Removed behind iobondctl's back: their records go by hand. */
	iob_shell("rm -f /run/iobond/board0-dev*.args", self->out, sizeof(self->out));
}

static int num_devices(int fd)
{
	struct iobond_board_info info = { .argsz = sizeof(info) };

	return ioctl(fd, IOBOND_GET_BOARD_INFO, &info) ? -1 : (int)info.num_devices;
}

/* Run iobondctl with @args (stderr too) into @out; its exit status. */
static int ctl(char *out, size_t len, const char *args)
{
	char cmd[512];
	int ret;

	snprintf(cmd, sizeof(cmd), "iobondctl %s 2>&1", args);
	ret = iob_shell(cmd, out, len);
	fprintf(stderr, "# iobondctl %s: %d: %s", args, ret, out);
	return ret;
}

TEST_F(cli, unknown_command_is_a_usage_error)
{
	IOB_RETURN_IF_SKIPPED();
	EXPECT_EQ(2, ctl(self->out, sizeof(self->out), "board0 sttaus"));
	EXPECT_NE(NULL, strstr(self->out, "unknown command or arguments: sttaus"));
	/* Not "no such board": the command is what is wrong. */
	EXPECT_EQ(2, ctl(self->out, sizeof(self->out), "board7 bogus"));
	EXPECT_EQ(NULL, strstr(self->out, "no such board"));
	EXPECT_EQ(2, ctl(self->out, sizeof(self->out), "board0 status now"));
	EXPECT_EQ(2, ctl(self->out, sizeof(self->out), "board0 start 0"));
	EXPECT_EQ(1, ctl(self->out, sizeof(self->out), "board7 status"));
	EXPECT_NE(NULL, strstr(self->out, "no such board"));
}

TEST_F(cli, json_anywhere_and_escaped)
{
	IOB_RETURN_IF_SKIPPED();
	ASSERT_EQ(0, ctl(self->out, sizeof(self->out), "board0 status --json"));
	EXPECT_EQ(0, strncmp(self->out, "{\"board\":0,", 11));
	ASSERT_EQ(0, ctl(self->out, sizeof(self->out), "board0 --json stop"));
	EXPECT_STREQ("{\"board\":\"board0\",\"done\":\"stop\"}\n", self->out);

	unlink(ODD);
	ASSERT_EQ(0, symlink(BOARD, ODD));
	ASSERT_EQ(0, ctl(self->out, sizeof(self->out), "'" ODD "' stop --json"));
	EXPECT_STREQ("{\"board\":\"/tmp/q\\\"b\\\\x\\u0001\",\"done\":\"stop\"}\n",
		     self->out);
}

TEST_F(cli, features_must_be_hex)
{
	IOB_RETURN_IF_SKIPPED();
	EXPECT_EQ(2, ctl(self->out, sizeof(self->out),
			 "board0 add-net --mac 52:54:00:12:34:99 --features zz"));
	EXPECT_NE(NULL, strstr(self->out, "--features zz: expected hex"));
	EXPECT_EQ(2, ctl(self->out, sizeof(self->out),
			 "board0 add-net --mac 52:54:00:12:34:99 --features 10zz"));
	EXPECT_EQ(2, ctl(self->out, sizeof(self->out),
			 "board0 add-net --mac 52:54:00:12:34:99 --features ''"));
	EXPECT_EQ(2, ctl(self->out, sizeof(self->out),
			 "board0 add-net --mac 52:54:00:12:34:99 --features -1"));
	EXPECT_EQ(0, num_devices(self->fd));
}

/* serve cannot open a tap by that name: the NIC does not stay behind. */
TEST_F(cli, add_net_tap_reports_serve)
{
	IOB_RETURN_IF_SKIPPED();
	/* The log is appended to: only this test's lines may count. */
	unlink("/run/iobond/board0-dev0.log");
	EXPECT_EQ(1, ctl(self->out, sizeof(self->out),
			 "board0 add-net --mac 52:54:00:12:34:98 --tap bad/name"));
	EXPECT_NE(NULL, strstr(self->out, "serve did not start"));
	EXPECT_NE(NULL, strstr(self->out, "tap bad/name"));
	EXPECT_EQ(0, num_devices(self->fd));

	unlink("/run/iobond/board0-dev0.log");
	ASSERT_EQ(0, ctl(self->out, sizeof(self->out),
			 "--json board0 add-net --mac 52:54:00:12:34:98 --tap clitap0"));
	EXPECT_STREQ("{\"index\":0,\"tap\":\"clitap0\",\"log\":\"/run/iobond/board0-dev0.log\"}\n",
		     self->out);
	EXPECT_EQ(1, num_devices(self->fd));
	/* serve leaves with its device. */
	EXPECT_EQ(0, ctl(self->out, sizeof(self->out), "board0 remove 0"));
	EXPECT_EQ(0, iob_shell("for i in $(seq 50); do grep -q 'device was removed' "
			       "/run/iobond/board0-dev0.log && exit 0; sleep 0.1; "
			       "done; exit 1", self->out, sizeof(self->out)));
}

static int get_dev(int fd, __u32 index, struct iobond_device_info *d)
{
	*d = (struct iobond_device_info){ .argsz = sizeof(*d), .index = index };
	return ioctl(fd, IOBOND_GET_DEVICE, d);
}

/*
 * A board's table saved, emptied and restored: the same devices, as the
 * operator added them.  One added behind iobondctl's back is named, not
 * silently lost; a restore onto a board with devices changes nothing.
 */
TEST_F(cli, save_and_restore)
{
	/* The words, and the data path taken where they left it open. */
	static const char want_fmt[] =
		"add-net\t--mac\t52:54:00:12:34:97\t--mtu\t1400\t--queue-size\t128\t%s\n"
		"add-net\t--mac=52:54:00:12:34:96\t--features\t0\t%s\n";
	struct iobond_board_info info = { .argsz = sizeof(info) };
	const char *path;
	char want[256];
	struct iobond_device_add raw = {
		.argsz = sizeof(raw), .type = IOBOND_DEV_NET,
		.num_queues = 2, .queue_size = 256,
		.config.net.mac = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x95 },
	};
	struct iobond_device_info before[2], after;
	char table[1024];
	int i;

	IOB_RETURN_IF_SKIPPED();
	ASSERT_EQ(0, ioctl(self->fd, IOBOND_GET_BOARD_INFO, &info));
	path = info.flags & IOBOND_BOARD_ENGINE ? "--engine" : "--window";
	snprintf(want, sizeof(want), want_fmt, path, path);
	ASSERT_EQ(0, ctl(self->out, sizeof(self->out),
			 "board0 add-net --mac 52:54:00:12:34:97 --mtu 1400 --queue-size 128"));
	ASSERT_EQ(0, ctl(self->out, sizeof(self->out),
			 "board0 add-net --mac=52:54:00:12:34:96 --features 0"));
	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, get_dev(self->fd, i, &before[i]));
	ASSERT_EQ(0, iob_shell("iobondctl board0 save > /tmp/cli.table && cat /tmp/cli.table",
			       table, sizeof(table)));
	EXPECT_STREQ(want, table);

	ASSERT_EQ(0, ctl(self->out, sizeof(self->out), "board0 remove 0"));
	ASSERT_EQ(0, ctl(self->out, sizeof(self->out), "board0 remove 1"));
	ASSERT_EQ(0, num_devices(self->fd));
	ASSERT_EQ(0, ctl(self->out, sizeof(self->out), "board0 restore < /tmp/cli.table"));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, get_dev(self->fd, i, &after));
		EXPECT_EQ(before[i].type, after.type);
		EXPECT_EQ(before[i].features, after.features);
		EXPECT_EQ(before[i].num_queues, after.num_queues);
		EXPECT_EQ(before[i].queue_size, after.queue_size);
		EXPECT_EQ(0, memcmp(&before[i].config, &after.config,
				    sizeof(after.config)));
	}
	/* Saved again, the table is the same. */
	ASSERT_EQ(0, iob_shell("iobondctl board0 save", table, sizeof(table)));
	EXPECT_STREQ(want, table);

	EXPECT_EQ(1, ctl(self->out, sizeof(self->out), "board0 restore < /tmp/cli.table"));
	EXPECT_NE(NULL, strstr(self->out, "has devices already"));
	EXPECT_EQ(2, num_devices(self->fd));

	ASSERT_EQ(0, ioctl(self->fd, IOBOND_ADD_DEVICE, &raw));
	EXPECT_EQ(1, iob_shell("iobondctl board0 save 2>/dev/null", table, sizeof(table)));
	EXPECT_NE(NULL, strstr(table, "# dev2: no record of how it was added"));
	EXPECT_EQ(2, ctl(self->out, sizeof(self->out), "board0 restore extra"));
	unlink("/tmp/cli.table");
}

TEST_HARNESS_MAIN

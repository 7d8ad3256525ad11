// SPDX-License-Identifier: GPL-2.0
/*
 * Packets across the bond: the board's virtio_net on one end, a tap served
 * by vhost-net on the host on the other, no userspace per packet between.
 *
 * IOBOND_PEER_IP    the other end's address (required)
 * IOBOND_ECHO_PORT  if set, a TCP echo server there: stream 64 MiB through
 *                   it and check every byte that comes back
 * On the host, the queue counters of dev0 must show the traffic.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "iobond_test.h"

#define STREAM_BYTES	(64ULL << 20)

FIXTURE(net) {
	const char *peer;
};

FIXTURE_VARIANT(net) {
	int size;
};

FIXTURE_VARIANT_ADD(net, ping56) { .size = 56 };
FIXTURE_VARIANT_ADD(net, ping1400) { .size = 1400 };
FIXTURE_VARIANT_ADD(net, ping8000_fragmented) { .size = 8000 };

FIXTURE_SETUP(net)
{
	self->peer = getenv("IOBOND_PEER_IP");
	if (!self->peer)
		SKIP(return, "needs IOBOND_PEER_IP");
}

FIXTURE_TEARDOWN(net)
{
}

TEST_F(net, ping)
{
	char cmd[256], out[4096];
	int status;

	IOB_RETURN_IF_SKIPPED();
	snprintf(cmd, sizeof(cmd),
		 "ping -c 10 -i 0.2 -W 5 -s %d %s > /tmp/ping.out 2>&1",
		 variant->size, self->peer);
	status = system(cmd);
	ASSERT_LT(0, iob_read_file("/tmp/ping.out", out, sizeof(out)));
	TH_LOG("%s", strstr(out, "---") ?: out);
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_NE(NULL, strstr(out, " 0% packet loss"));
}

/* The same pseudo-random stream on both ends of the comparison. */
static uint64_t next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void send_stream(int sock)
{
	uint64_t x = 0x10b0d, buf[8192];
	unsigned long long sent = 0;
	size_t i;

	while (sent < STREAM_BYTES) {
		for (i = 0; i < sizeof(buf) / 8; i++)
			buf[i] = next(&x);
		if (write(sock, buf, sizeof(buf)) != sizeof(buf))
			_exit(1);
		sent += sizeof(buf);
	}
	shutdown(sock, SHUT_WR);
	_exit(0);
}

FIXTURE(stream) {
	const char *peer;
};

FIXTURE_SETUP(stream)
{
	self->peer = getenv("IOBOND_PEER_IP");
	if (!self->peer || !getenv("IOBOND_ECHO_PORT"))
		SKIP(return, "needs IOBOND_PEER_IP and IOBOND_ECHO_PORT");
}

FIXTURE_TEARDOWN(stream)
{
}

TEST_F_TIMEOUT(stream, tcp_echo_64m, 900)
{
	const char *port = getenv("IOBOND_ECHO_PORT");
	struct sockaddr_in sa = { .sin_family = AF_INET };
	unsigned long long got = 0, bad = 0;
	uint64_t x = 0x10b0d, want = 0, word = 0;
	long long start;
	unsigned char buf[65536];
	int sock, status, fill = 0;
	ssize_t n, i;
	pid_t pid;

	IOB_RETURN_IF_SKIPPED();
	sa.sin_port = htons(atoi(port));
	ASSERT_EQ(1, inet_pton(AF_INET, self->peer, &sa.sin_addr));
	sock = socket(AF_INET, SOCK_STREAM, 0);
	ASSERT_LE(0, sock);
	ASSERT_EQ(0, connect(sock, (struct sockaddr *)&sa, sizeof(sa)));

	start = iob_now_ms();
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		send_stream(sock);
	while ((n = read(sock, buf, sizeof(buf))) > 0) {
		for (i = 0; i < n; i++) {
			word |= (uint64_t)buf[i] << (8 * fill);
			if (++fill < 8)
				continue;
			want = next(&x);
			bad += word != want;
			word = 0;
			fill = 0;
		}
		got += n;
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_EQ(STREAM_BYTES, got);
	EXPECT_EQ(0, bad);
	TH_LOG("64 MiB out and back in %lld ms: %.0f Mbit/s each way",
	       iob_now_ms() - start,
	       got * 8.0 / 1000.0 / (iob_now_ms() - start + 1));
	close(sock);
}

/* On the host: the queues of dev0 counted what went by. */
TEST(host_counted_the_traffic)
{
	struct iobond_queue_stats st = { .argsz = sizeof(st) };
	struct iob t;
	int fd, q;

	if (iob_setup(&t) || !t.host)
		SKIP(return, "the host's test");
	fd = open("/dev/iobond/board0", O_RDONLY);
	ASSERT_LE(0, fd);
	for (q = 0; q < 2; q++) {
		st.queue = q;
		ASSERT_EQ(0, ioctl(fd, IOBOND_GET_QUEUE_STATS, &st));
		TH_LOG("queue %d: %llu kicks, %llu interrupts, %llu bytes", q,
		       (unsigned long long)st.kicks,
		       (unsigned long long)st.interrupts,
		       (unsigned long long)st.bytes);
		EXPECT_LT(0, st.interrupts);
		if (q == 0)	/* what vhost-net wrote into receive buffers */
			EXPECT_LT(64 << 10, st.bytes);
	}
	/* The board kicks its transmit queue for every burst it sends. */
	EXPECT_LT(0, st.kicks);
	close(fd);
}

TEST_HARNESS_MAIN

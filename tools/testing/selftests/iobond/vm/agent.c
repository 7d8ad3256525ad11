// SPDX-License-Identifier: GPL-2.0
/*
 * iobond-agent: the VM end of the runner's control channel.
 *
 * vm/init execs it as PID 1 once the VM is set up.  It owns the second
 * serial port, runs each of the runner's commands with /bin/sh, and sends
 * back the output and the exit status.  Every message both ways is a frame
 * with a sequence number and two CRC32s; every data frame is acknowledged,
 * and resent until it is.  The channel therefore loses nothing: a frame
 * that had to be resent is counted, and the runner reports the count.
 *
 * Why not a shell loop: busybox ash's `read`, interrupted by a signal,
 * throws away the bytes of the line it had already consumed and starts
 * again.  PID 1 gets SIGCHLD whenever an orphaned daemon dies, so a
 * killed backend used to eat the front of the runner's next command.
 *
 * The frame format is in Documentation/iobond/testbed.rst and in the
 * runner (vmpair/channel.py); the two must agree.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

#define AG_MAGIC	"IOBF"
#define AG_HDR_LEN	20
#define AG_MAX_PAYLOAD	8192
#define AG_RESEND_MS	3000
#define AG_DRAIN_MAX	(1 << 20)

enum ag_type {
	AG_ACK = 'A',	/* seq acknowledges a data frame; never itself acked */
	AG_READY = 'R',	/* agent: up; payload is the VM's side */
	AG_CMD = 'C',	/* runner: le32 id, le32 cmd length, cmd, stdin */
	AG_OUT = 'O',	/* agent: le32 id, output bytes */
	AG_EXIT = 'X',	/* agent: le32 id, le32 status, le32 resent, le32 bad */
};

struct ag_frame {
	uint8_t type;
	uint32_t seq;
	uint32_t len;
	uint8_t payload[AG_MAX_PAYLOAD];
};

/* The channel: one serial port, stop-and-wait in each direction. */
struct ag_chan {
	int fd;
	uint32_t tx_seq;	/* last data frame we sent */
	uint32_t rx_seq;	/* last data frame we delivered */
	uint8_t rx[2 * (AG_HDR_LEN + AG_MAX_PAYLOAD)];
	size_t rx_len;
	uint32_t resent;	/* data frames sent again for want of an ack */
	uint32_t bad;		/* received bytes that were no valid frame */
	struct ag_frame pending; /* a command that came while we were busy */
	int have_pending;
	struct ag_frame scratch; /* what ag_send() receives while it waits */
};

static uint32_t ag_crc_table[256];

static void ag_crc_init(void)
{
	uint32_t c;
	int i, k;

	for (i = 0; i < 256; i++) {
		c = i;
		for (k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320 ^ (c >> 1) : c >> 1;
		ag_crc_table[i] = c;
	}
}

/* zlib's crc32(), which the runner uses. */
static uint32_t ag_crc32(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffff;

	while (n--)
		c = ag_crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffff;
}

static void ag_put32(uint8_t *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static uint32_t ag_get32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static long long ag_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void ag_write_all(int fd, const uint8_t *p, size_t n)
{
	ssize_t w;

	while (n) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;	/* the runner resends; nothing else to do */
		p += w;
		n -= w;
	}
}

static void ag_send_raw(struct ag_chan *ch, uint8_t type, uint32_t seq,
			const uint8_t *payload, uint32_t len)
{
	static uint8_t buf[AG_HDR_LEN + AG_MAX_PAYLOAD];

	memcpy(buf, AG_MAGIC, 4);
	buf[4] = type;
	buf[5] = 0;
	buf[6] = len;
	buf[7] = len >> 8;
	ag_put32(buf + 8, seq);
	ag_put32(buf + 12, ag_crc32(buf, 12));
	ag_put32(buf + 16, ag_crc32(payload, len));
	memcpy(buf + AG_HDR_LEN, payload, len);
	ag_write_all(ch->fd, buf, AG_HDR_LEN + len);
}

/*
 * Take one frame out of the receive buffer, if a whole valid one is there.
 * Bytes before a magic, and a frame whose header or payload fails its
 * CRC, are dropped and counted; the sender's resend repairs the loss.
 */
static int ag_parse(struct ag_chan *ch, struct ag_frame *f)
{
	uint8_t *b = ch->rx;
	uint32_t len;
	size_t skip;

	for (;;) {
		uint8_t *m = memmem(b, ch->rx_len, AG_MAGIC, 4);

		skip = m ? (size_t)(m - b) : (ch->rx_len > 3 ? ch->rx_len - 3 : 0);
		if (skip) {
			ch->bad += skip;
			memmove(b, b + skip, ch->rx_len - skip);
			ch->rx_len -= skip;
		}
		if (!m || ch->rx_len < AG_HDR_LEN)
			return 0;
		len = b[6] | b[7] << 8;
		if (ag_get32(b + 12) != ag_crc32(b, 12) || len > AG_MAX_PAYLOAD) {
			skip = 1;	/* not a header: look for the next magic */
		} else if (ch->rx_len < AG_HDR_LEN + len) {
			return 0;
		} else if (ag_get32(b + 16) != ag_crc32(b + AG_HDR_LEN, len)) {
			/*
			 * A frame that lost bytes took the front of the next
			 * one (the resend) as its payload: look for that one's
			 * magic rather than skip it too.
			 */
			skip = 1;
		} else {
			f->type = b[4];
			f->seq = ag_get32(b + 8);
			f->len = len;
			memcpy(f->payload, b + AG_HDR_LEN, len);
			skip = AG_HDR_LEN + len;
			memmove(b, b + skip, ch->rx_len - skip);
			ch->rx_len -= skip;
			return 1;
		}
		ch->bad += skip;
		memmove(b, b + skip, ch->rx_len - skip);
		ch->rx_len -= skip;
	}
}

/*
 * Receive one valid frame by @deadline (CLOCK_MONOTONIC ms; -1: wait for
 * ever).  Returns 1 for a frame, 0 once the deadline has passed.
 */
static int ag_recv(struct ag_chan *ch, struct ag_frame *f, long long deadline)
{
	struct pollfd p = { .fd = ch->fd, .events = POLLIN };
	long long left = -1;
	ssize_t n;

	for (;;) {
		if (ag_parse(ch, f))
			return 1;
		if (deadline >= 0) {
			left = deadline - ag_now_ms();
			if (left <= 0)
				return 0;
		}
		if (poll(&p, 1, (int)left) <= 0)
			continue;
		n = read(ch->fd, ch->rx + ch->rx_len, sizeof(ch->rx) - ch->rx_len);
		if (n > 0)
			ch->rx_len += n;
		else if (n == 0 || errno != EINTR)
			usleep(10000);	/* a port in error: do not spin */
	}
}

/*
 * A data frame from the runner.  A repeat of the last one (our ack was
 * lost) is acked again and dropped.  Returns 1 if @f is new.
 */
static int ag_accept(struct ag_chan *ch, const struct ag_frame *f)
{
	ag_send_raw(ch, AG_ACK, f->seq, NULL, 0);
	if (f->seq == ch->rx_seq)
		return 0;
	ch->rx_seq = f->seq;
	return 1;
}

/* Send a data frame and wait for its ack, resending as long as it takes. */
static void ag_send(struct ag_chan *ch, uint8_t type, const uint8_t *payload,
		    uint32_t len)
{
	static struct ag_frame *f;
	uint32_t seq = ++ch->tx_seq;
	int tries = 0;

	/* One buffer for the agent's life: PID 1 must not fail here. */
	if (!f)
		f = &ch->scratch;

	for (;;) {
		long long end = ag_now_ms() + AG_RESEND_MS;

		if (tries++)
			ch->resent++;
		ag_send_raw(ch, type, seq, payload, len);
		while (ag_recv(ch, f, end)) {
			if (f->type == AG_ACK && f->seq == seq)
				return;
			if (f->type == AG_CMD && ag_accept(ch, f)) {
				ch->pending = *f;
				ch->have_pending = 1;
			}
		}
	}
}

static void ag_child(const char *cmd, int in, int out, const sigset_t *mask)
{
	sigprocmask(SIG_UNBLOCK, mask, NULL);
	setsid();
	dup2(in, 0);
	dup2(out, 1);
	dup2(out, 2);
	execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
	_exit(127);
}

/* Feed the command its stdin from a child of its own, so no size blocks. */
static int ag_stdin(const uint8_t *data, size_t len)
{
	int p[2];

	pid_t pid = 0;

	if (pipe2(p, O_CLOEXEC))
		return -1;
	if (len)
		pid = fork();
	if (pid == 0 && len) {
		close(p[0]);
		ag_write_all(p[1], data, len);
		_exit(0);
	}
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return -1;
	}
	return p[0];
}

/* Reap every child; return 1 once @pid has exited, with its status. */
static int ag_reap(int sfd, pid_t pid, int *status)
{
	struct signalfd_siginfo si;
	int st, done = 0;
	pid_t p;

	while (read(sfd, &si, sizeof(si)) == sizeof(si))
		;
	while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
		if (p == pid) {
			*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			done = 1;
		}
	}
	return done;
}

/* Send what the command wrote, in frames; 0 at end of output. */
static ssize_t ag_forward(struct ag_chan *ch, int out, uint32_t id)
{
	static uint8_t buf[AG_MAX_PAYLOAD];
	ssize_t n = read(out, buf + 4, 4096);

	if (n > 0) {
		ag_put32(buf, id);
		ag_send(ch, AG_OUT, buf, 4 + n);
	}
	return n;
}

/*
 * What is in the pipe when the shell exits is sent, up to AG_DRAIN_MAX
 * bytes.  A daemon the command started may hold the pipe and write on:
 * a child of ours then reads the pipe to its end and drops it, so the
 * daemon neither blocks nor dies of SIGPIPE, and the agent goes on.
 */
static void ag_drain(struct ag_chan *ch, int out, uint32_t id)
{
	size_t sent = 0;
	ssize_t n;
	char sink[4096];

	fcntl(out, F_SETFL, O_NONBLOCK);
	while (sent < AG_DRAIN_MAX && (n = ag_forward(ch, out, id)) > 0)
		sent += n;
	if (fork() == 0) {
		fcntl(out, F_SETFL, 0);
		while (read(out, sink, sizeof(sink)) > 0)
			;
		_exit(0);
	}
	close(out);
}

/*
 * Run one command to its end.  The end is the shell's exit, not the end
 * of its output: a daemon it started may hold the pipe for ever.  What is
 * in the pipe when the shell exits is still sent.
 */
static void ag_run(struct ag_chan *ch, const struct ag_frame *f, int sfd,
		   const sigset_t *mask)
{
	uint32_t id, cmdlen;
	uint8_t ex[16];
	int p[2], in, status = 127, done = 0;
	char *cmd;
	pid_t pid;

	if (f->len < 8)
		return;
	id = ag_get32(f->payload);
	cmdlen = ag_get32(f->payload + 4);
	if (cmdlen > f->len - 8)
		cmdlen = f->len - 8;
	cmd = strndup((const char *)f->payload + 8, cmdlen);
	in = ag_stdin(f->payload + 8 + cmdlen, f->len - 8 - cmdlen);
	/* 126: the agent could not start it (no memory, no pipe, no fork). */
	if (!cmd || in < 0 || pipe2(p, O_CLOEXEC)) {
		status = 126;
		goto out;
	}
	pid = fork();
	if (pid == 0)
		ag_child(cmd, in, p[1], mask);
	close(p[1]);
	if (pid < 0)
		status = 126;
	while (pid > 0 && !done) {
		struct pollfd fds[2] = {
			{ .fd = p[0], .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
		};

		if (poll(fds, 2, -1) < 0)
			continue;
		if (fds[0].revents && ag_forward(ch, p[0], id) <= 0)
			fds[0].fd = -1;	/* EOF: only the exit is left */
		if (fds[1].revents)
			done = ag_reap(sfd, pid, &status);
		if (fds[0].fd < 0 && !done) {
			struct pollfd s = { .fd = sfd, .events = POLLIN };

			poll(&s, 1, -1);
			done = ag_reap(sfd, pid, &status);
		}
	}
	ag_drain(ch, p[0], id);
out:
	if (in >= 0)
		close(in);
	free(cmd);
	ag_put32(ex, id);
	ag_put32(ex + 4, status);
	ag_put32(ex + 8, ch->resent);
	ag_put32(ex + 12, ch->bad);
	ag_send(ch, AG_EXIT, ex, sizeof(ex));
}

static int ag_open(const char *dev)
{
	struct termios t;
	int fd = open(dev, O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (fd < 0 || tcgetattr(fd, &t))
		return -1;
	cfmakeraw(&t);
	t.c_cflag |= CLOCAL | CREAD;
	t.c_cflag &= ~CRTSCTS;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(fd, TCSANOW, &t))
		return -1;
	return fd;
}

int main(int argc, char **argv)
{
	struct ag_chan *ch = calloc(1, sizeof(*ch));
	const char *side = argc > 2 ? argv[2] : "vm";
	struct ag_frame *f = malloc(sizeof(*f));
	sigset_t mask;
	int sfd;

	if (argc < 2 || !ch || !f) {
		fprintf(stderr, "usage: iobond-agent TTY [SIDE]\n");
		return 2;
	}
	ag_crc_init();
	/* A child's death wakes poll through a signalfd, never EINTR. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	ch->fd = ag_open(argv[1]);
	if (ch->fd < 0 || sfd < 0) {
		perror("iobond-agent");
		goto fail;
	}
	ag_send(ch, AG_READY, (const uint8_t *)side, strlen(side));
	for (;;) {
		if (ch->have_pending) {
			ch->have_pending = 0;
			*f = ch->pending;
		} else if (!ag_recv(ch, f, ag_now_ms() + 1000) ||
			   f->type != AG_CMD || !ag_accept(ch, f)) {
			/* Orphans that died while we were idle. */
			ag_reap(sfd, -1, &(int){ 0 });
			continue;
		}
		ag_run(ch, f, sfd, &mask);
	}
fail:
	/* PID 1 must not return: the kernel would panic. */
	reboot(RB_POWER_OFF);
	return 1;
}

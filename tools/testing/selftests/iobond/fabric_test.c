// SPDX-License-Identifier: GPL-2.0
/*
 * Tests of iobond-fabric, run on the build machine with no VM: a test
 * client speaks the ivshmem server protocol and checks every message, fd
 * and notification the fabric sends.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"

#define NVEC		4
#define SIZE		(1 << 20)
#define TIMEOUT_MS	3000

static char fabric_bin[PATH_MAX];

static void find_fabric(void)
{
	const char *env = getenv("IOBOND_FABRIC");
	char self[PATH_MAX];
	ssize_t n;

	if (env) {
		snprintf(fabric_bin, sizeof(fabric_bin), "%s", env);
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = '\0';
	snprintf(fabric_bin, sizeof(fabric_bin),
		 "%s/../../../iobond/iobond-fabric", dirname(self));
}

/* Start a fabric on @dir with extra arguments; wait for board0.sock. */
static pid_t fabric_start(const char *dir, const char * const *extra)
{
	const char *argv[16] = { fabric_bin, "-q", "-d", dir, "-v", "4",
				 "-m", "1M" };
	char sock[PATH_MAX];
	int i = 8, tries;
	pid_t pid;

	while (extra && *extra)
		argv[i++] = *extra++;
	pid = fork();
	if (pid == 0) {
		execv(fabric_bin, (char *const *)argv);
		_exit(127);
	}
	snprintf(sock, sizeof(sock), "%s/board0.sock", dir);
	for (tries = 0; tries < 300; tries++) {
		if (access(sock, F_OK) == 0)
			return pid;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return -1;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

static int fabric_stop(pid_t pid)
{
	int status;

	kill(pid, SIGTERM);
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static int client_connect(const char *dir, int board)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/board%d.sock", dir,
		 board);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Receive one message.  Returns 1 with *val and *fd (-1 if none), 0 on
 * EOF, -1 on timeout or a malformed message.
 */
static int recv_msg(int sock, int64_t *val, int *fd, int timeout_ms)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = val, .iov_len = sizeof(*val) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	struct cmsghdr *cmsg;
	ssize_t n;

	*fd = -1;
	if (poll(&pfd, 1, timeout_ms) != 1)
		return -1;
	n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	if (n == 0 || (n < 0 && errno == ECONNRESET))
		return 0;
	if (n != sizeof(*val))
		return -1;
	*val = (int64_t)le64toh((uint64_t)*val);
	cmsg = CMSG_FIRSTHDR(&msg);
	if (cmsg && cmsg->cmsg_type == SCM_RIGHTS)
		memcpy(fd, CMSG_DATA(cmsg), sizeof(int));
	return 1;
}

static int readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

/* An eventfd's count, which reading resets; -1 if it has none to read. */
static long long take_count(int fd)
{
	uint64_t v;

	if (!readable(fd) || read(fd, &v, sizeof(v)) != sizeof(v))
		return -1;
	return v;
}

static int is_eventfd(int fd)
{
	char path[64], target[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	target[n > 0 ? n : 0] = '\0';
	return !strcmp(target, "anon_inode:[eventfd]");
}

/*
 * True if @a and @b are the same eventfd: a count written to one is read
 * from the other.  Two eventfds cannot be told apart by fstat (all are one
 * anonymous inode), so this is the test that a peer's copy is the owner's.
 * Nothing is left behind in either when they differ.
 */
static int same_eventfd(int a, int b)
{
	uint64_t v = 7;
	long long got;

	if (!is_eventfd(a) || !is_eventfd(b) || readable(a) || readable(b) ||
	    write(a, &v, sizeof(v)) != sizeof(v))
		return 0;
	got = take_count(b);
	if (got < 0)
		take_count(a);
	return got == 7;
}

/* True if a ring on @fds[@v] shows on it and on no other of the @n. */
static int rings_only(const int *fds, int n, int v)
{
	uint64_t one = 1;
	int i, others = 0;

	if (write(fds[v], &one, sizeof(one)) != sizeof(one))
		return 0;
	for (i = 0; i < n; i++)
		if (i != v)
			others += take_count(fds[i]) >= 0;
	return take_count(fds[v]) == 1 && !others;
}

struct client {
	int sock;
	int64_t id;
	int shm;
	int own[NVEC];
};

/* The greeting of an already connected @c, up to the region fd. */
static int recv_greeting(struct client *c)
{
	int64_t v;
	int fd;

	if (recv_msg(c->sock, &v, &fd, TIMEOUT_MS) != 1 || v != 0 || fd >= 0)
		return -2;
	if (recv_msg(c->sock, &v, &fd, TIMEOUT_MS) != 1 || v < 0 || fd >= 0)
		return -3;
	c->id = v;
	if (recv_msg(c->sock, &v, &c->shm, TIMEOUT_MS) != 1 || v != -1 ||
	    c->shm < 0)
		return -4;
	return 0;
}

/* Connect and check the whole greeting up to the region fd. */
static int client_greet(const char *dir, int board, struct client *c)
{
	c->sock = client_connect(dir, board);
	if (c->sock < 0)
		return -1;
	return recv_greeting(c);
}

/* Expect @n vectors' worth of (@id, eventfd) messages into @fds. */
static int expect_vectors(int sock, int64_t id, int *fds)
{
	int64_t v;
	int i;

	for (i = 0; i < NVEC; i++)
		if (recv_msg(sock, &v, &fds[i], TIMEOUT_MS) != 1 || v != id ||
		    fds[i] < 0)
			return -1;
	return 0;
}

static int client_own(struct client *c)
{
	return expect_vectors(c->sock, c->id, c->own);
}

static int quiet_for(int sock, int ms)
{
	struct pollfd pfd = { .fd = sock, .events = POLLIN };

	return poll(&pfd, 1, ms) == 0;
}

FIXTURE(fabric) {
	char dir[64];
	pid_t pid;
};

FIXTURE_SETUP(fabric)
{
	static const char * const extra[] = { "-P", "3", NULL };

	snprintf(self->dir, sizeof(self->dir), "/tmp/iobond-fabric-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	self->pid = fabric_start(self->dir, extra);
	ASSERT_GT(self->pid, 0) TH_LOG("cannot start %s", fabric_bin);
}

FIXTURE_TEARDOWN(fabric)
{
	if (self->pid > 0)
		EXPECT_EQ(0, fabric_stop(self->pid));
	rmdir(self->dir);
}

TEST_F(fabric, handshake)
{
	struct client c;
	struct stat st;
	void *p;
	int i;

	ASSERT_EQ(0, client_greet(self->dir, 0, &c));
	EXPECT_EQ(0, c.id);
	ASSERT_EQ(0, fstat(c.shm, &st));
	EXPECT_EQ(SIZE, st.st_size);
	p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, c.shm, 0);
	ASSERT_NE(MAP_FAILED, p);
	munmap(p, SIZE);
	/* A peer may not resize the region under the others. */
	EXPECT_NE(0, ftruncate(c.shm, SIZE / 2));
	ASSERT_EQ(0, client_own(&c));
	/* Its own eventfds, one per vector: a ring on one is on no other. */
	for (i = 0; i < NVEC; i++) {
		EXPECT_TRUE(is_eventfd(c.own[i])) TH_LOG("vector %d", i);
		EXPECT_TRUE(rings_only(c.own, NVEC, i)) TH_LOG("vector %d", i);
	}
	EXPECT_TRUE(quiet_for(c.sock, 200));
	close(c.sock);
}

TEST_F(fabric, join_and_leave)
{
	struct client a, b;
	int a_sees_b[NVEC], b_sees_a[NVEC];
	int64_t v;
	int fd, i;

	ASSERT_EQ(0, client_greet(self->dir, 0, &a));
	ASSERT_EQ(0, client_own(&a));
	ASSERT_EQ(0, client_greet(self->dir, 0, &b));
	EXPECT_EQ(1, b.id);
	/* The newcomer learns of the peer already there, then itself. */
	ASSERT_EQ(0, expect_vectors(b.sock, a.id, b_sees_a));
	ASSERT_EQ(0, client_own(&b));
	/* The peer already there learns of the newcomer. */
	ASSERT_EQ(0, expect_vectors(a.sock, b.id, a_sees_b));
	for (i = 0; i < NVEC; i++) {
		EXPECT_TRUE(same_eventfd(a_sees_b[i], b.own[i]));
		EXPECT_TRUE(same_eventfd(b_sees_a[i], a.own[i]));
	}
	/* Each vector has its own eventfd: a ring on 0 is not one on 1. */
	v = 1;
	ASSERT_EQ((ssize_t)sizeof(v), write(a_sees_b[0], &v, sizeof(v)));
	EXPECT_EQ(-1, read(b.own[1], &v, sizeof(v)));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ((ssize_t)sizeof(v), read(b.own[0], &v, sizeof(v)));
	/* And a's view of b is not b's view of a. */
	EXPECT_FALSE(same_eventfd(a_sees_b[0], b_sees_a[0]));

	close(b.sock);
	ASSERT_EQ(1, recv_msg(a.sock, &v, &fd, TIMEOUT_MS));
	EXPECT_EQ(b.id, v);
	EXPECT_EQ(-1, fd);
	EXPECT_TRUE(quiet_for(a.sock, 200));
	close(a.sock);
}

TEST_F(fabric, shared_region)
{
	struct client a, b;
	char *pa, *pb;

	ASSERT_EQ(0, client_greet(self->dir, 0, &a));
	ASSERT_EQ(0, client_greet(self->dir, 0, &b));
	pa = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, a.shm, 0);
	pb = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, b.shm, 0);
	ASSERT_NE(MAP_FAILED, pa);
	ASSERT_NE(MAP_FAILED, pb);
	strcpy(pa + SIZE - 64, "bonded");
	EXPECT_STREQ("bonded", pb + SIZE - 64);
	munmap(pa, SIZE);
	munmap(pb, SIZE);
}

/* QEMU 7.2 corrupts its heap if a new peer takes a departed one's id. */
TEST_F(fabric, ids_are_not_reused)
{
	struct client a, b, c;

	ASSERT_EQ(0, client_greet(self->dir, 0, &a));
	ASSERT_EQ(0, client_greet(self->dir, 0, &b));
	EXPECT_EQ(0, a.id);
	EXPECT_EQ(1, b.id);
	close(a.sock);
	close(b.sock);
	usleep(100000);
	ASSERT_EQ(0, client_greet(self->dir, 0, &c));
	EXPECT_EQ(2, c.id);
}

TEST_F(fabric, garbage_sender_is_dropped)
{
	struct client a, b, c;
	int fds[NVEC], fd;
	int64_t v;

	ASSERT_EQ(0, client_greet(self->dir, 0, &a));
	ASSERT_EQ(0, client_own(&a));
	ASSERT_EQ(0, client_greet(self->dir, 0, &b));
	ASSERT_EQ(0, expect_vectors(a.sock, b.id, fds));
	ASSERT_EQ(5, write(b.sock, "hello", 5));
	/* b is cut off after what it was owed... */
	while (recv_msg(b.sock, &v, &fd, TIMEOUT_MS) == 1)
		;
	EXPECT_EQ(0, recv_msg(b.sock, &v, &fd, 100));
	/* ...a is told b left, and the fabric still serves. */
	ASSERT_EQ(1, recv_msg(a.sock, &v, &fd, TIMEOUT_MS));
	EXPECT_EQ(b.id, v);
	EXPECT_EQ(-1, fd);
	ASSERT_EQ(0, client_greet(self->dir, 0, &c));
	EXPECT_EQ(b.id + 1, c.id);
}

TEST_F(fabric, early_closers_do_not_hurt)
{
	struct client c;
	int i, fd;

	for (i = 0; i < 20; i++) {
		fd = client_connect(self->dir, 0);
		ASSERT_GE(fd, 0);
		close(fd);
	}
	usleep(200000);
	ASSERT_EQ(0, client_greet(self->dir, 0, &c));
	EXPECT_GE(20, c.id);
	ASSERT_EQ(0, client_own(&c));
}

TEST_F(fabric, full_link_refuses)
{
	struct client c[3];
	int64_t v;
	int i, fd, extra;

	for (i = 0; i < 3; i++)
		ASSERT_EQ(0, client_greet(self->dir, 0, &c[i]));
	extra = client_connect(self->dir, 0);
	ASSERT_GE(extra, 0);
	EXPECT_EQ(0, recv_msg(extra, &v, &fd, TIMEOUT_MS));
	close(extra);
}

/* Read and close whatever @sock was sent, until it is quiet. */
static void drain(int sock)
{
	int64_t v;
	int fd;

	while (recv_msg(sock, &v, &fd, 200) == 1)
		if (fd >= 0)
			close(fd);
}

/* Wait until @pid is stopped (kill() only sends SIGSTOP). */
static int wait_stopped(pid_t pid)
{
	char path[64], buf[256], *p;
	int i;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	for (i = 0; i < 300; i++) {
		f = fopen(path, "r");
		if (!f)
			return -1;
		p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
		fclose(f);
		if (p && p[2] == 'T')
			return 0;
		usleep(10000);
	}
	return -1;
}

/*
 * A VM that restarts at once: its old connection's close and its new
 * connection wait in the same poll round.  The fabric is stopped while
 * both happen, so that they do.
 */
TEST_F(fabric, fast_restart_finds_room)
{
	struct client c[3], again;
	int i, j;

	/* Each reads what it is sent, so none is dropped as deaf. */
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, client_greet(self->dir, 0, &c[i]));
		for (j = 0; j <= i; j++)
			drain(c[j].sock);
	}
	ASSERT_EQ(0, kill(self->pid, SIGSTOP));
	ASSERT_EQ(0, wait_stopped(self->pid));
	close(c[0].sock);
	again.sock = client_connect(self->dir, 0);
	ASSERT_EQ(0, kill(self->pid, SIGCONT));
	ASSERT_GE(again.sock, 0);
	EXPECT_EQ(0, recv_greeting(&again));
	close(again.sock);
	close(c[1].sock);
	close(c[2].sock);
}

/* The fabric's CPU time so far, in clock ticks. */
static long long cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	fclose(f);
	/* After the name: state and 11 more fields, then utime and stime. */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			 &ut, &st) != 2)
		return -1;
	return ut + st;
}

/* The lowest file descriptor number @pid has free. */
static int lowest_free_fd(pid_t pid)
{
	char path[64];
	bool used[1024] = { false };
	struct dirent *e;
	DIR *d;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && (fd = atoi(e->d_name)) < 1024)
			used[fd] = true;
	closedir(d);
	for (fd = 0; fd < 1024 && used[fd]; fd++)
		;
	return fd;
}

/*
 * Out of file descriptors, accept() fails and the connection stays in the
 * backlog: the fabric must not spin on its readable socket, and takes the
 * client once descriptors are free again.
 */
TEST_F(fabric, accept_failure_does_not_spin)
{
	struct client c, late;
	struct rlimit old, low;
	long long before, after;

	ASSERT_EQ(0, client_greet(self->dir, 0, &c));
	ASSERT_EQ(0, client_own(&c));
	ASSERT_EQ(0, prlimit(self->pid, RLIMIT_NOFILE, NULL, &old));
	low = old;
	low.rlim_cur = lowest_free_fd(self->pid);
	ASSERT_LT(0, (int)low.rlim_cur);
	ASSERT_EQ(0, prlimit(self->pid, RLIMIT_NOFILE, &low, NULL));
	late.sock = client_connect(self->dir, 0);
	ASSERT_GE(late.sock, 0);
	usleep(200000);
	before = cpu_ticks(self->pid);
	usleep(1000000);
	after = cpu_ticks(self->pid);
	ASSERT_LE(0, before);
	/* A spinning loop takes a whole second; waiting takes next to none. */
	EXPECT_GT(sysconf(_SC_CLK_TCK) / 5, after - before)
		TH_LOG("%lld ticks of CPU in a second", after - before);
	EXPECT_TRUE(quiet_for(late.sock, 300));
	ASSERT_EQ(0, prlimit(self->pid, RLIMIT_NOFILE, &old, NULL));
	EXPECT_EQ(0, recv_greeting(&late));
	close(late.sock);
	close(c.sock);
}

TEST(sigterm_removes_sockets)
{
	char dir[] = "/tmp/iobond-fabric-XXXXXX", sock[128];
	static const char * const extra[] = { "-b", "2", NULL };
	struct client c;
	int64_t v;
	int fd;
	pid_t pid;

	ASSERT_NE(NULL, mkdtemp(dir));
	pid = fabric_start(dir, extra);
	ASSERT_GT(pid, 0);
	ASSERT_EQ(0, client_greet(dir, 1, &c));
	EXPECT_EQ(0, fabric_stop(pid));
	while (recv_msg(c.sock, &v, &fd, TIMEOUT_MS) == 1)
		;
	EXPECT_EQ(0, recv_msg(c.sock, &v, &fd, 100)) TH_LOG("not closed");
	snprintf(sock, sizeof(sock), "%s/board0.sock", dir);
	EXPECT_NE(0, access(sock, F_OK));
	snprintf(sock, sizeof(sock), "%s/board1.sock", dir);
	EXPECT_NE(0, access(sock, F_OK));
	EXPECT_EQ(0, rmdir(dir)) TH_LOG("left behind in %s", dir);
}

TEST(boards_have_separate_links)
{
	char dir[] = "/tmp/iobond-fabric-XXXXXX";
	static const char * const extra[] = { "-b", "3", NULL };
	struct client c[3];
	char *p[3];
	int i;
	pid_t pid;

	ASSERT_NE(NULL, mkdtemp(dir));
	pid = fabric_start(dir, extra);
	ASSERT_GT(pid, 0);
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, client_greet(dir, i, &c[i]));
		EXPECT_EQ(0, c[i].id);
		p[i] = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
			    c[i].shm, 0);
		ASSERT_NE(MAP_FAILED, p[i]);
		p[i][0] = 'a' + i;
	}
	for (i = 0; i < 3; i++)
		EXPECT_EQ('a' + i, p[i][0]);
	EXPECT_EQ(0, fabric_stop(pid));
	rmdir(dir);
}

TEST(stale_socket_and_second_fabric)
{
	char dir[] = "/tmp/iobond-fabric-XXXXXX";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, status, tries;
	ino_t stale;
	pid_t pid, second;

	ASSERT_NE(NULL, mkdtemp(dir));
	/* A socket file with nobody behind it, as a crash leaves. */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/board0.sock", dir);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ASSERT_EQ(0, bind(fd, (struct sockaddr *)&sa, sizeof(sa)));
	close(fd);
	ASSERT_EQ(0, stat(sa.sun_path, &st));
	stale = st.st_ino;

	pid = fabric_start(dir, NULL);
	ASSERT_GT(pid, 0);
	for (tries = 0; tries < 300; tries++) {
		if (stat(sa.sun_path, &st) == 0 && st.st_ino != stale)
			break;
		usleep(10000);
	}
	ASSERT_NE(stale, st.st_ino) TH_LOG("the stale socket was not replaced");
	fd = client_connect(dir, 0);
	EXPECT_GE(fd, 0);
	close(fd);

	/* A second fabric on a live socket refuses to start. */
	second = fork();
	if (second == 0) {
		execl(fabric_bin, fabric_bin, "-q", "-d", dir, NULL);
		_exit(127);
	}
	ASSERT_EQ(second, waitpid(second, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(1, WEXITSTATUS(status));
	fd = client_connect(dir, 0);
	EXPECT_GE(fd, 0) TH_LOG("the second fabric broke the first");
	close(fd);
	EXPECT_EQ(0, fabric_stop(pid));
	rmdir(dir);
}

TEST(bad_options_exit_2)
{
	static const char *const bad[][3] = {
		{ "-v", "0" }, { "-v", "1" }, { "-v", "65" }, { "-m", "3000" }, { "-m", "1M1" },
		{ "-m", "512K" }, { "-b", "0" }, { "-b", "999" }, { "-P", "1" },
		{ "extra" },
	};
	unsigned int i;
	int status;
	pid_t pid;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		pid = fork();
		if (pid == 0) {
			int null = open("/dev/null", O_WRONLY);

			dup2(null, 2);
			execl(fabric_bin, fabric_bin, "-d", "/nonexistent/x",
			      bad[i][0], bad[i][1], NULL);
			_exit(127);
		}
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		EXPECT_EQ(2, WEXITSTATUS(status)) TH_LOG("%s %s", bad[i][0],
							 bad[i][1] ?: "");
	}
}

int main(int argc, char **argv)
{
	find_fabric();
	signal(SIGPIPE, SIG_IGN);
	return test_harness_run(argc, argv);
}

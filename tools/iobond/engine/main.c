// SPDX-License-Identifier: GPL-2.0
/*
 * iobond-engine: the emulated IO-Bond's DMA engine, for one link.
 *
 *   iobond-engine -s /run/iobond/board0.sock -m /dev/shm/board0.ram
 *
 * It joins the link as a third peer of the fabric, maps the link's region
 * and the board VM's RAM (QEMU's memory-backend-file, share=on), and moves
 * the data of every engine slot between the two, as the FPGA's DMA engine
 * does: the board's CPU copies nothing, and the host never sees board
 * memory.  Documentation/iobond/engine.rst says how.
 *
 * One thread: every doorbell is an eventfd in one epoll set.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "main.h"

/*
 * q35 maps a board's RAM linearly from 0 up to 2.75 GiB; above that, part
 * of it moves past 4 GiB, and one space could not describe it.
 */
#define ENG_BOARD_MAX	0xb0000000ULL	/* QEMU's pc_q35_init() */

/* epoll data beside the vectors, which are 0..ENG_MAX_VECTORS-1 */
enum { EV_FABRIC = 1000, EV_TICK, EV_SIGNAL };

void eng_say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("iobond-engine: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

uint64_t eng_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000ULL + ts.tv_nsec / 1000;
}

static void *map_file(int fd, const char *what, uint64_t *size)
{
	struct stat st;
	void *p;

	if (fstat(fd, &st)) {
		eng_say("%s: %s", what, strerror(errno));
		return NULL;
	}
	*size = st.st_size;
	p = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		eng_say("%s: cannot map %llu bytes: %s", what,
			(unsigned long long)*size, strerror(errno));
		return NULL;
	}
	return p;
}

/* The region, the board's RAM, and each slot's zone of the window. */
static int map_memories(struct eng_link *l, const char *ram)
{
	uint64_t window, zone;
	unsigned int i;
	int fd;

	l->region = map_file(l->shm_fd, "the region", &l->region_size);
	if (!l->region)
		return -1;
	if (l->region_size < IOBOND_WINDOW_OFF + (1 << 20)) {
		eng_say("a region of %llu bytes has no window",
			(unsigned long long)l->region_size);
		return -1;
	}
	l->hdr = (struct iobond_link_hdr *)l->region;
	window = l->region_size - IOBOND_WINDOW_OFF;
	zone = IOBOND_ZONE_SIZE(window);
	for (i = 0; i < IOBOND_MAX_DEVICES; i++)
		l->slot[i].zone = (struct eng_space){
			.base = l->region + IOBOND_WINDOW_OFF + i * zone,
			.start = i * zone,
			.size = zone,
		};

	fd = open(ram, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		eng_say("%s: %s", ram, strerror(errno));
		return -1;
	}
	l->board.base = map_file(fd, ram, &l->board.size);
	close(fd);
	if (!l->board.base)
		return -1;
	if (l->board.size >= ENG_BOARD_MAX) {
		eng_say("%s: a board of more than 2.75 GiB is not mapped linearly",
			ram);
		return -1;
	}
	return 0;
}

static int watch(int ep, int fd, uint32_t what)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = what };

	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) {
		eng_say("epoll: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int setup_events(struct eng_link *l, int ep, int *tfd, int *sfd)
{
	struct itimerspec its = {
		.it_interval.tv_nsec = IOBOND_HEARTBEAT_MS * 1000000L,
		.it_value.tv_nsec = 1000000L,
	};
	sigset_t sigs;
	unsigned int v;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGUSR1);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	*sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	*tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (*sfd < 0 || *tfd < 0 || timerfd_settime(*tfd, 0, &its, NULL)) {
		eng_say("timer or signals: %s", strerror(errno));
		return -1;
	}
	for (v = 0; v < l->nvec; v++)
		if (watch(ep, l->efd[v], v))
			return -1;
	return watch(ep, l->sock, EV_FABRIC) || watch(ep, *tfd, EV_TICK) ||
	       watch(ep, *sfd, EV_SIGNAL) ? -1 : 0;
}

/* Vectors of ours the fabric sent late are watched as the others are. */
static void watch_new(struct eng_link *l, int ep, unsigned int *watched)
{
	while (*watched < l->nvec && !watch(ep, l->efd[*watched], *watched))
		++*watched;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: iobond-engine -s SOCKET -m RAMFILE\n"
"  -s SOCKET   the fabric's socket for the board's link\n"
"  -m RAMFILE  the board VM's RAM (memory-backend-file, share=on)\n"
"Relays the queues of the link's engine slots until SIGTERM; SIGUSR1 logs\n"
"what each queue relayed and where its rings stand.\n");
}

int main(int argc, char **argv)
{
	const char *sock = NULL, *ram = NULL;
	static struct eng_link l;
	struct pollfd pfd = { .events = POLLIN };
	struct epoll_event evs[16];
	unsigned int watched;
	int64_t left;
	int ep, tfd, sfd, opt, n, k;
	bool stop = false, lost = false, more = false;
	int64_t next = -1;

	while ((opt = getopt(argc, argv, "s:m:h")) != -1) {
		switch (opt) {
		case 's': sock = optarg; break;
		case 'm': ram = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!sock || !ram || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (eng_peer_connect(&l, sock) || map_memories(&l, ram))
		return 1;
	/* The others' vectors and ours come at once, right after the region. */
	pfd.fd = l.sock;
	while (poll(&pfd, 1, l.nvec ? 100 : 2000) == 1)
		if (eng_peer_message(&l) == -2)
			return 1;
	if (!l.nvec) {
		eng_say("the fabric gave no vectors");
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || setup_events(&l, ep, &tfd, &sfd))
		return 1;
	watched = l.nvec;
	eng_say("peer %u of %s, %u vectors; board RAM %s, %llu MiB", l.own_id,
		sock, l.nvec, ram, (unsigned long long)(l.board.size >> 20));

	while (!stop) {
		/* Until the next quiet queue's poll, in whole milliseconds. */
		n = epoll_wait(ep, evs, 16,
			       more ? 0 : next < 0 ? -1 : (int)((next + 999) / 1000));
		if (n < 0 && errno != EINTR) {
			eng_say("epoll: %s", strerror(errno));
			break;
		}
		for (k = 0; k < n; k++) {
			uint32_t what = evs[k].data.u32;
			struct signalfd_siginfo si;
			uint64_t cnt;

			switch (what) {
			case EV_FABRIC:
				switch (left = eng_peer_message(&l)) {
				case -2:
					stop = lost = true;
					break;
				case -1:
					break;
				default:
					eng_link_peer_left(&l, left);
				}
				watch_new(&l, ep, &watched);
				break;
			case EV_TICK:
				if (read(tfd, &cnt, sizeof(cnt)) < 0)
					break;
				eng_link_tick(&l);
				eng_link_mail(&l);
				break;
			case EV_SIGNAL:
				if (read(sfd, &si, sizeof(si)) != sizeof(si))
					break;
				if (si.ssi_signo == SIGUSR1)
					eng_link_stats(&l);
				else
					stop = true;
				break;
			default:
				if (read(l.efd[what], &cnt, sizeof(cnt)) < 0 &&
				    errno != EAGAIN)
					break;
				eng_link_vector(&l, what);
			}
		}
		next = eng_link_poll(&l, &more);
	}
	eng_link_stats(&l);
	eng_link_offline(&l);
	/* Its fabric gone, the engine failed: a supervisor starts it again. */
	return lost;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * iobondctl BOARD limit-net --tap NAME [--tap NAME...] [--mbit N] [--pps N]
 *
 * A board's network budget: what all its NICs together may send and
 * receive, in megabits and in packets a second, each way.  The taps are
 * the NICs' (serve's); tc's police actions enforce it on the host, where
 * the tenant cannot touch it: each tap gets a clsact qdisc whose ingress
 * (what the board sends) and egress (what it receives) filters all point
 * at the same police actions, named by the board's number, so the board's
 * NICs share one budget.  Over it, packets are dropped, as a policer does.
 * Without --mbit and --pps the taps' limits are removed.
 *
 * iobondctl BOARD limit-blk [--iops N] [--bps N]
 *
 * A board's disk budget: what all its disks together may do.  It lives in
 * /run/iobond/BOARD.budget, which every iobond-blk that add-blk starts for
 * the board maps (iobond_budget.h); a running backend follows a change at
 * once.  Without --iops and --bps the board has none.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "iobondctl.h"
#include "iobond_budget.h"

#define MAX_TAPS	IOBOND_MAX_DEVICES
/* tc's action index of board B's policer @which (LIMIT_*). */
#define POLICE_INDEX(b, which)	(0x10000 + 4 * (b) + (which))
enum { LIMIT_TX_BITS, LIMIT_TX_PKTS, LIMIT_RX_BITS, LIMIT_RX_PKTS };
/* Each policer's burst: 50 ms of its rate, and at least a few frames. */
#define BURST_MS	50
/* How long an unused policer may stay bound to a deleted filter. */
#define DROP_MS		2000
/* The most --mbit: its burst (BURST_MS of it, in bytes) fits tc's u32. */
#define MAX_MBIT	100000

/*
 * Run tc with @argv; 0, or 1 once said why not (quietly with @quiet).
 * With @out, what tc prints is read, and @out is how many bytes it was.
 */
static int tc_out(char *const argv[], bool quiet, size_t *out)
{
	int pfd[2] = { -1, -1 }, status, i;
	char buf[256];
	ssize_t got;
	pid_t pid;

	if (out && pipe2(pfd, O_CLOEXEC))
		return fail("limit-net: pipe", errno, NULL);
	pid = fork();
	if (pid < 0) {
		if (out) {
			close(pfd[0]);
			close(pfd[1]);
		}
		return fail("limit-net: fork", errno, NULL);
	}
	if (!pid) {
		if ((out && dup2(pfd[1], STDOUT_FILENO) < 0) ||
		    (quiet && !freopen("/dev/null", "w", stderr)))
			_exit(127);
		execvp("tc", argv);
		fprintf(stderr, "iobondctl: tc: %s (is iproute2 installed?)\n",
			strerror(errno));
		_exit(127);
	}
	if (out) {
		close(pfd[1]);
		/* All of it: tc must not die of SIGPIPE. */
		*out = 0;
		while ((got = read(pfd[0], buf, sizeof(buf))) != 0)
			if (got > 0)
				*out += got;
			else if (errno != EINTR)
				break;
		close(pfd[0]);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return fail("limit-net: waitpid", errno, NULL);
	if (WIFEXITED(status) && !WEXITSTATUS(status))
		return 0;
	if (!quiet) {
		fprintf(stderr, "iobondctl: %s: limit-net: tc refused:", board_name);
		for (i = 0; argv[i]; i++)
			fprintf(stderr, " %s", argv[i]);
		fprintf(stderr, "\n");
	}
	return 1;
}

static int tc(char *const argv[], bool quiet)
{
	return tc_out(argv, quiet, NULL);
}

/* The numbers of one police action's words. */
struct police_buf {
	char rate[32], burst[32], index[16];
};

/*
 * The words of police action @which of board @board at the given limits:
 * "action police RATE BURST mtu 65536 conform-exceed drop/pipe index N",
 * into @argv from @n, with @buf for the numbers; the new count.
 */
static int police_words(char **argv, int n, struct police_buf *buf,
			unsigned int board, unsigned int which,
			unsigned long mbit, unsigned long pps)
{
	bool bits = which == LIMIT_TX_BITS || which == LIMIT_RX_BITS;

	if (bits) {
		snprintf(buf->rate, sizeof(buf->rate), "%lumbit", mbit);
		/* Bytes: the rate's BURST_MS, and at least 8 full frames. */
		snprintf(buf->burst, sizeof(buf->burst), "%lu",
			 mbit * 1000 / 8 * BURST_MS > 8 * 1514 ?
			 mbit * 1000 / 8 * BURST_MS : 8 * 1514);
	} else {
		snprintf(buf->rate, sizeof(buf->rate), "%lu", pps);
		snprintf(buf->burst, sizeof(buf->burst), "%lu",
			 pps * BURST_MS / 1000 > 8 ? pps * BURST_MS / 1000 : 8);
	}
	snprintf(buf->index, sizeof(buf->index), "%u", POLICE_INDEX(board, which));
	argv[n++] = "action";
	argv[n++] = "police";
	argv[n++] = bits ? "rate" : "pkts_rate";
	argv[n++] = buf->rate;
	argv[n++] = bits ? "burst" : "pkts_burst";
	argv[n++] = buf->burst;
	/*
	 * Without an mtu, tc's rate table takes every frame past 2 KiB as
	 * over the limit, and so every TSO unit.
	 */
	argv[n++] = "mtu";
	argv[n++] = "65536";
	argv[n++] = "conform-exceed";
	argv[n++] = "drop/pipe";
	argv[n++] = "index";
	argv[n++] = buf->index;
	return n;
}

/* Delete @tap's filter of @dir (@tx: ingress) at @pref, if there is one. */
static void filter_del(const char *tap, bool tx, const char *pref)
{
	char *argv[] = { "tc", "filter", "del", "dev", (char *)tap,
			 tx ? "ingress" : "egress", "pref", (char *)pref, NULL };

	tc(argv, true);
}

/*
 * Whether @tap has a filter of @dir at @pref: tc lists it.  -1 if tc
 * could not be asked.
 */
static int filter_exists(const char *tap, bool tx, const char *pref)
{
	char *argv[] = { "tc", "filter", "show", "dev", (char *)tap,
			 tx ? "ingress" : "egress", "pref", (char *)pref, NULL };
	size_t len;

	return tc_out(argv, true, &len) ? -1 : len > 0;
}

/*
 * Add @tap's filter of @dir at @pref, with the board's police actions.
 * Each is named in full: a filter binds the one of its index, and makes
 * it with these limits only if it is gone (a bare index would make one
 * that passes everything).
 */
static int filter_add(const char *tap, bool tx, const char *pref,
		      unsigned int board, unsigned long mbit, unsigned long pps,
		      bool quiet)
{
	struct police_buf bits, pkts;
	char *argv[40] = { "tc", "filter", "add", "dev", (char *)tap,
			   tx ? "ingress" : "egress", "pref", (char *)pref,
			   "matchall" };
	int n = 9;

	if (mbit)
		n = police_words(argv, n, &bits, board,
				 tx ? LIMIT_TX_BITS : LIMIT_RX_BITS, mbit, pps);
	if (pps)
		n = police_words(argv, n, &pkts, board,
				 tx ? LIMIT_TX_PKTS : LIMIT_RX_PKTS, mbit, pps);
	argv[n] = NULL;
	return tc(argv, quiet);
}

/*
 * @tap's filter of @dir, with the board's police actions, at pref 1.  A
 * matchall filter cannot be replaced (EEXIST).  If pref 1 is free (the
 * first limit, or a change that stopped half-way), the filter goes there
 * and any left at pref 2 goes.  Otherwise the new one goes in beside the
 * old one, at pref 2, before the old one goes, and then takes its place.
 * Only the first filter that matches acts, so the old limits hold until
 * the new ones do, and a packet never meets both.  Pref 2 is only ever
 * deleted while pref 1 holds a filter.
 */
static int filter(const char *tap, bool tx, unsigned int board,
		  unsigned long mbit, unsigned long pps)
{
	if (!filter_add(tap, tx, "1", board, mbit, pps, true)) {
		filter_del(tap, tx, "2");
		return 0;
	}
	/* Not for EEXIST: say why, and leave what holds in place. */
	if (filter_exists(tap, tx, "1") != 1)
		return filter_add(tap, tx, "1", board, mbit, pps, false);
	filter_del(tap, tx, "2");	/* pref 1 holds meanwhile */
	if (filter_add(tap, tx, "2", board, mbit, pps, false))
		return 1;
	filter_del(tap, tx, "1");
	if (filter_add(tap, tx, "1", board, mbit, pps, false))
		return 1;
	filter_del(tap, tx, "2");
	return 0;
}

/*
 * The board's shared policers: those the limits use are made or changed
 * before any filter uses them; with @drop, those they do not use go, once
 * no filter uses them.
 */
static int policers(unsigned int board, unsigned long mbit, unsigned long pps,
		    bool drop)
{
	unsigned int which, i;

	for (which = LIMIT_TX_BITS; which <= LIMIT_RX_PKTS; which++) {
		bool bits = which == LIMIT_TX_BITS || which == LIMIT_RX_BITS;
		struct police_buf buf;
		char *argv[20] = { "tc", "actions", "replace" };
		char index[16];

		if (bits ? mbit : pps) {
			if (drop)
				continue;
			argv[police_words(argv, 3, &buf, board, which, mbit, pps)] = NULL;
			if (tc(argv, false))
				return 1;
			continue;
		}
		if (!drop)
			continue;
		/*
		 * Unused now.  A deleted filter lets go of its actions in a
		 * work item after an RCU grace period, and tc refuses
		 * (quietly) to delete one still bound: tries for up to
		 * DROP_MS.  A tap the operator did not name keeps it bound
		 * for good; it is harmless, and said.
		 */
		snprintf(index, sizeof(index), "%u", POLICE_INDEX(board, which));
		for (i = 0; ; i++) {
			char *del[] = { "tc", "actions", "delete", "action", "police",
					"index", index, NULL };
			char *get[] = { "tc", "actions", "get", "action", "police",
					"index", index, NULL };

			if (!tc(del, true) || tc(get, true))
				break;
			if (i == DROP_MS / 50) {
				fprintf(stderr, "iobondctl: %s: limit-net: note: police action %s is still bound (a tap not named?); left\n",
					board_name, index);
				break;
			}
			usleep(50000);
		}
	}
	return 0;
}

/*
 * One limit-net of a board at a time: two at once could each drop the
 * policers the other's filters are about to use.  The lock goes with
 * the process.
 */
static int lock_board_net(unsigned int board)
{
	char path[PATH_MAX];
	int fd;

	/* By number, as the policers are: any name of the board finds it. */
	mkdir(IOBOND_BUDGET_DIR, 0755);
	snprintf(path, sizeof(path), IOBOND_BUDGET_DIR "/board%u.net.lock", board);
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail("limit-net", errno, path);
	while (flock(fd, LOCK_EX))
		if (errno != EINTR)
			return fail("limit-net: flock", errno, path);
	return 0;
}

int cmd_limit_net(int fd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tap", required_argument, NULL, 't' },
		{ "mbit", required_argument, NULL, 'm' },
		{ "pps", required_argument, NULL, 'p' },
		{ }
	};
	const char *taps[MAX_TAPS];
	unsigned long mbit = 0, pps = 0;
	unsigned int ntaps = 0, i;
	struct iobond_board_info info;
	int opt, ret;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 't':
			if (ntaps == MAX_TAPS)
				return usage_error("%s", "--tap: a board has at most 8 NICs");
			taps[ntaps++] = optarg;
			break;
		case 'm':
			if (parse_uint(optarg, MAX_MBIT, &mbit) || !mbit)
				return usage_error("--mbit %s: expected 1 to 100000", optarg);
			break;
		case 'p':
			if (parse_uint(optarg, 100000000, &pps) || !pps)
				return usage_error("--pps %s: expected 1 to 100000000", optarg);
			break;
		default:
			return 2;
		}
	}
	if (!ntaps || optind != argc)
		return usage_error("%s", "limit-net needs --tap NAME for each of the board's NICs");
	ret = get_info(fd, &info);
	if (ret)
		return fail("limit-net", -ret, NULL);
	if (lock_board_net(info.index))
		return 1;
	if (!mbit && !pps) {
		/*
		 * Our filters go: prefs 1 and 2 of each way are limit-net's.
		 * The qdisc, and filters of other prefs on it, stay.
		 */
		for (i = 0; i < ntaps; i++) {
			filter_del(taps[i], true, "1");
			filter_del(taps[i], true, "2");
			filter_del(taps[i], false, "1");
			filter_del(taps[i], false, "2");
		}
		policers(info.index, 0, 0, true);
		printf("%s: no network limit on its %u tap(s)\n", board_name, ntaps);
		return 0;
	}
	/*
	 * Replaced in place, never removed first: the policers' new rates
	 * hold at once, and each filter's old actions until its new ones
	 * do.  A failure part-way leaves some taps at the old limits.
	 */
	for (i = 0; i < ntaps; i++) {
		char *add[] = { "tc", "qdisc", "replace", "dev", (char *)taps[i], "clsact", NULL };

		if (tc(add, false))
			return 1;
	}
	if (policers(info.index, mbit, pps, false))
		return 1;
	for (i = 0; i < ntaps; i++)
		if (filter(taps[i], true, info.index, mbit, pps) ||
		    filter(taps[i], false, info.index, mbit, pps))
			return 1;
	policers(info.index, mbit, pps, true);
	printf("%s: each way over its %u tap(s), at most", board_name, ntaps);
	if (mbit)
		printf(" %lu Mbit/s%s", mbit, pps ? " and" : "");
	if (pps)
		printf(" %lu packets/s", pps);
	printf("\n");
	return 0;
}

/*
 * The board's budget, made if it is not there, and mapped: @path gets its
 * name.  NULL once said why not.
 */
struct iobond_budget *budget_map(char *path, size_t len)
{
	struct iobond_budget *g;

	mkdir(IOBOND_BUDGET_DIR, 0755);
	snprintf(path, len, IOBOND_BUDGET_DIR "/%s.budget", board_base());
	g = iobond_budget_map(path);
	if (!g)
		fail("the board's disk budget", errno, path);
	return g;
}

/* Move a budget's clock back to @now if it is ahead. */
static void clock_down(__u64 *tat, __u64 now)
{
	__u64 old = __atomic_load_n(tat, __ATOMIC_RELAXED);

	while (old > now && !__atomic_compare_exchange_n(tat, &old, now, false,
							 __ATOMIC_RELAXED,
							 __ATOMIC_RELAXED))
		;
}

int cmd_limit_blk(int fd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "iops", required_argument, NULL, 'i' },
		{ "bps", required_argument, NULL, 'b' },
		{ }
	};
	unsigned long iops = 0, bps = 0, *v;
	struct iobond_budget *g;
	struct timespec ts;
	__u64 now;
	char path[PATH_MAX];
	int opt;

	(void)fd;	/* the board exists: main() opened it */
	optind = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (opt != 'i' && opt != 'b')
			return 2;
		v = opt == 'i' ? &iops : &bps;
		if (parse_uint(optarg, ULONG_MAX, v) || *optarg == '-')
			return usage_error(opt == 'i' ? "--iops %s: expected a number" :
					   "--bps %s: expected a number", optarg);
	}
	if (optind != argc)
		return usage_error("%s", "limit-blk takes --iops N and --bps N, nothing else");
	g = budget_map(path, sizeof(path));
	if (!g)
		return 1;
	__atomic_store_n(&g->iops, iops, __ATOMIC_RELAXED);
	__atomic_store_n(&g->bps, bps, __ATOMIC_RELAXED);
	/*
	 * The clocks ran at the old limits: a low one may have pushed them
	 * far ahead.  The new limits start from now.
	 */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = ts.tv_sec * 1000000000ULL + ts.tv_nsec;
	clock_down(&g->ops_tat, now);
	clock_down(&g->bytes_tat, now);
	munmap(g, sizeof(*g));
	if (!iops && !bps)
		printf("%s: no disk budget\n", board_name);
	else
		printf("%s: its disks together at most %lu IOPS and %lu bytes/s (0: no limit)\n",
		       board_name, iops, bps);
	return 0;
}

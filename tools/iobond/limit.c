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

/* Run tc with @argv; 0, or 1 once said why not. */
static int tc(char *const argv[], bool quiet)
{
	int status, i;
	pid_t pid = fork();

	if (pid < 0)
		return fail("limit-net: fork", errno, NULL);
	if (!pid) {
		if (quiet && !freopen("/dev/null", "w", stderr))
			_exit(127);
		execvp("tc", argv);
		fprintf(stderr, "iobondctl: tc: %s (is iproute2 installed?)\n",
			strerror(errno));
		_exit(127);
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

/* The police actions of @dir ("tx" or "rx") for @tap's filter. */
static int filter(const char *tap, const char *dir, unsigned int board,
		  unsigned long mbit, unsigned long pps)
{
	char bits[16], pkts[16];
	bool tx = !strcmp(dir, "tx");
	char *argv[32] = { "tc", "filter", "replace", "dev", (char *)tap,
			   tx ? "ingress" : "egress", "pref", "1", "matchall" };
	int n = 9;

	snprintf(bits, sizeof(bits), "%u",
		 POLICE_INDEX(board, tx ? LIMIT_TX_BITS : LIMIT_RX_BITS));
	snprintf(pkts, sizeof(pkts), "%u",
		 POLICE_INDEX(board, tx ? LIMIT_TX_PKTS : LIMIT_RX_PKTS));
	if (mbit) {
		argv[n++] = "action";
		argv[n++] = "police";
		argv[n++] = "index";
		argv[n++] = bits;
	}
	if (pps) {
		argv[n++] = "action";
		argv[n++] = "police";
		argv[n++] = "index";
		argv[n++] = pkts;
	}
	argv[n] = NULL;
	return tc(argv, false);
}

/* The board's shared policers, made or changed before any filter uses them. */
static int policers(unsigned int board, unsigned long mbit, unsigned long pps)
{
	char index[16], rate[32], burst[32];
	unsigned int which;

	for (which = LIMIT_TX_BITS; which <= LIMIT_RX_PKTS; which++) {
		bool bits = which == LIMIT_TX_BITS || which == LIMIT_RX_BITS;
		/*
		 * mtu: without it tc's rate table drops every frame past 2 KiB
		 * as over the limit, and so every TSO unit.
		 */
		char *argv[] = { "tc", "actions", "replace", "action", "police",
				 bits ? "rate" : "pkts_rate", rate,
				 bits ? "burst" : "pkts_burst", burst,
				 "mtu", "65536", "conform-exceed", "drop/pipe",
				 "index", index, NULL };

		snprintf(index, sizeof(index), "%u", POLICE_INDEX(board, which));
		if (!(bits ? mbit : pps)) {
			/* Unused now, unless another tap of the board still
			 * has it (then tc refuses, quietly). */
			char *del[] = { "tc", "actions", "delete", "action", "police",
					"index", index, NULL };

			tc(del, true);
			continue;
		}
		if (bits) {
			snprintf(rate, sizeof(rate), "%lumbit", mbit);
			/* Bytes: the rate's BURST_MS, and at least 8 full frames. */
			snprintf(burst, sizeof(burst), "%lu",
				 mbit * 1000 / 8 * BURST_MS > 8 * 1514 ?
				 mbit * 1000 / 8 * BURST_MS : 8 * 1514);
		} else {
			snprintf(rate, sizeof(rate), "%lu", pps);
			snprintf(burst, sizeof(burst), "%lu",
				 pps * BURST_MS / 1000 > 8 ? pps * BURST_MS / 1000 : 8);
		}
		if (tc(argv, false))
			return 1;
	}
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
			if (parse_uint(optarg, 1000000, &mbit) || !mbit)
				return usage_error("--mbit %s: expected 1 to 1000000", optarg);
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
	if (!mbit && !pps) {
		/* Our filters go (the qdisc, and others' filters on it, stay). */
		for (i = 0; i < ntaps; i++) {
			char *in[] = { "tc", "filter", "del", "dev", (char *)taps[i],
				       "ingress", "pref", "1", NULL };
			char *out[] = { "tc", "filter", "del", "dev", (char *)taps[i],
					"egress", "pref", "1", NULL };

			tc(in, true);
			tc(out, true);
		}
		if (policers(info.index, 0, 0))
			return 1;
		printf("%s: no network limit on its %u tap(s)\n", board_name, ntaps);
		return 0;
	}
	/*
	 * Replaced in place, never removed first: the old limits hold until
	 * the new ones do, and a failure leaves either in force.
	 */
	for (i = 0; i < ntaps; i++) {
		char *add[] = { "tc", "qdisc", "replace", "dev", (char *)taps[i], "clsact", NULL };

		if (tc(add, false))
			return 1;
	}
	if (policers(info.index, mbit, pps))
		return 1;
	for (i = 0; i < ntaps; i++)
		if (filter(taps[i], "tx", info.index, mbit, pps) ||
		    filter(taps[i], "rx", info.index, mbit, pps))
			return 1;
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

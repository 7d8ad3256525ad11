/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Seeded, reproducible fuzzing for the IO-Bond selftests.
 *
 * IOBOND_SEED=N replays a run: every operation draws its parameters from a
 * splitmix64 stream seeded with N, a fixed number of words per operation,
 * so that what one operation makes of the state it finds never shifts the
 * draws of the next.  Without IOBOND_SEED the seed comes from the clock and
 * the pid.  IOBOND_FUZZ_OPS=N sets the number of operations.
 * IOBOND_FUZZ_SKIP=a,b names operation kinds to leave out (to get past a
 * known bug and see the rest).
 *
 * Each fuzzer prints "# seed: N" first and "# ops: N, errors by errno: ..."
 * last, as KTAP comments.
 */
#ifndef IOBOND_FUZZ_H
#define IOBOND_FUZZ_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/types.h>

#define FZ_DEFAULT_OPS	10000
#define FZ_MAX_ERRNO	256
#define FZ_OP_WORDS	12	/* words drawn for every operation */
#define FZ_SHOW_MAX	40	/* violations shown in full */

struct fz_rng {
	__u64 s;
};

static inline __u64 fz_mix(__u64 z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* splitmix64: small, fast, and every seed gives a full-period stream. */
static inline __u64 fz_next(struct fz_rng *r)
{
	r->s += 0x9e3779b97f4a7c15ULL;
	return fz_mix(r->s);
}

/* The stream of thread or phase @lane of a run seeded with @seed. */
static inline void fz_rng_init(struct fz_rng *r, __u64 seed, __u64 lane)
{
	r->s = fz_mix(seed ^ fz_mix(lane + 1));
}

/*
 * One operation's draws.  An operation takes what it needs from @w in
 * order; past the end it derives more from the last, so its count of draws
 * may depend on the state without disturbing the next operation's.
 */
struct fz_op {
	__u64 w[FZ_OP_WORDS];
	unsigned int i;
};

static inline void fz_op_draw(struct fz_rng *r, struct fz_op *o)
{
	unsigned int i;

	for (i = 0; i < FZ_OP_WORDS; i++)
		o->w[i] = fz_next(r);
	o->i = 0;
}

static inline __u64 fz_u64(struct fz_op *o)
{
	if (o->i < FZ_OP_WORDS)
		return o->w[o->i++];
	return fz_mix(o->w[FZ_OP_WORDS - 1] + o->i++);
}

/* A number in [0, @n); 0 for @n == 0. */
static inline __u64 fz_below(struct fz_op *o, __u64 n)
{
	return n ? fz_u64(o) % n : 0;
}

/* True with probability @pct percent. */
static inline bool fz_chance(struct fz_op *o, unsigned int pct)
{
	return fz_below(o, 100) < pct;
}

/* One of @n values of @pool. */
#define fz_pick(o, pool) ((pool)[fz_below((o), sizeof(pool) / sizeof((pool)[0]))])

/* An index drawn by weight: @weights has @n entries. */
static inline unsigned int fz_weighted(struct fz_op *o, const unsigned int *weights,
				       unsigned int n)
{
	unsigned int i, total = 0;
	__u64 x;

	for (i = 0; i < n; i++)
		total += weights[i];
	x = fz_below(o, total);
	for (i = 0; i < n; i++) {
		if (x < weights[i])
			return i;
		x -= weights[i];
	}
	return n - 1;
}

static inline __u64 fz_env_u64(const char *name, __u64 dflt)
{
	const char *s = getenv(name);
	char *end;
	__u64 v;

	if (!s || !*s)
		return dflt;
	errno = 0;
	v = strtoull(s, &end, 0);
	/* A typo must not run (and pass) with another value than asked. */
	if (errno || *end || *s == '-') {
		printf("Bail out! %s=%s is no unsigned 64-bit number\n", name, s);
		exit(1);
	}
	return v;
}

/* IOBOND_SEED, or a new seed; printed either way, so a run can be replayed. */
static inline __u64 fz_seed(void)
{
	struct timespec ts;
	__u64 seed;

	if (getenv("IOBOND_SEED") && *getenv("IOBOND_SEED")) {
		seed = fz_env_u64("IOBOND_SEED", 0);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = fz_mix((__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec) ^
		       ((__u64)getpid() << 32);
	}
	printf("# seed: %llu\n", (unsigned long long)seed);
	fflush(stdout);
	return seed;
}

static inline __u64 fz_ops(void)
{
	__u64 n = fz_env_u64("IOBOND_FUZZ_OPS", FZ_DEFAULT_OPS);

	return n ? n : FZ_DEFAULT_OPS;
}

/* @kind is named in IOBOND_FUZZ_SKIP. */
static inline bool fz_skipped(const char *kind)
{
	const char *s = getenv("IOBOND_FUZZ_SKIP"), *p;
	size_t len = strlen(kind);

	for (p = s; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (!strncmp(p, kind, len) && (p[len] == ',' || !p[len]))
			return true;
	return false;
}

/* What a run saw: results by errno, and broken promises. */
struct fz_stats {
	unsigned long ops;
	unsigned long by_errno[FZ_MAX_ERRNO];
	unsigned long violations;
};

/* Count one result: 0 for success, else an errno. */
static inline void fz_count(struct fz_stats *st, int err)
{
	if (err < 0 || err >= FZ_MAX_ERRNO)
		err = FZ_MAX_ERRNO - 1;
	__atomic_fetch_add(&st->by_errno[err], 1, __ATOMIC_RELAXED);
}

/* A broken promise: counted, and shown while there are few. */
static inline void __attribute__((format(printf, 2, 3)))
fz_violation(struct fz_stats *st, const char *fmt, ...)
{
	unsigned long n = __atomic_add_fetch(&st->violations, 1, __ATOMIC_RELAXED);
	char line[512];
	va_list ap;

	if (n > FZ_SHOW_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	printf("# violation %lu: %s%s\n", n, line,
	       n == FZ_SHOW_MAX ? " (further ones only counted)" : "");
	fflush(stdout);
}

static inline const char *fz_errname(int err)
{
	const char *name;

	if (!err)
		return "0";
	if (err == FZ_MAX_ERRNO - 1)
		return "other";
	name = strerrorname_np(err);
	return name ? name : "?";
}

/* "# ops: N, errors by errno: 0:12 EINVAL:3 ..." */
static inline void fz_summary(const struct fz_stats *st, const char *extra)
{
	char line[2048];
	size_t n;
	int e;

	n = snprintf(line, sizeof(line), "# ops: %lu, errors by errno:", st->ops);
	for (e = 0; e < FZ_MAX_ERRNO && n < sizeof(line); e++)
		if (st->by_errno[e])
			n += snprintf(line + n, sizeof(line) - n, " %s:%lu",
				      fz_errname(e), st->by_errno[e]);
	printf("%s%s%s\n", line, extra && *extra ? ", " : "", extra ? extra : "");
	printf("# violations: %lu\n", st->violations);
	fflush(stdout);
}

#endif /* IOBOND_FUZZ_H */

// SPDX-License-Identifier: GPL-2.0
/*
 * The engine fuzzed from the host VM: the test is the backend of an engine
 * disk, through the disk's VFIO face as iobond-blk, and a hostile one.  It
 * serves the shadow ring it finds there, sometimes well (random bytes and
 * a good status, so that the board's requests go on) and mostly not:
 * completions of chains it never got, of chains twice, used indices that
 * leap, lengths past the buffers, the shadow's descriptors, available ring
 * and buffers scribbled (a descriptor whose next is itself among them),
 * event indices and flags at random, interrupts for any queue.
 *
 * The board VM meanwhile binds virtio_blk to the disk, reads and writes,
 * and unbinds it, again and again (the runner's loop): each bind is a
 * reset and a new start of the engine's queue.  The runner then holds the
 * engine to its word (engine.rst): a host fault fails the board's requests
 * and never hangs them, no fault is blamed on the board, the engine lives,
 * and the board's other devices work on.
 *
 * At its end the test breaks every queue it serves once more (a used index
 * past what it holds), so that nothing the board has out waits on it.
 *
 * IOBOND_EH_INDEX: the disk's slot (its mdev is the one iobondctl made);
 * IOBOND_EH_SECONDS: how long (default 30); IOBOND_SEED: fuzz.h.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include <linux/virtio_ring.h>

#include "kselftest_harness.h"
#include "iobond_test.h"
#include "fuzz.h"
#include "../../../../tools/iobond/iobond_vfio.h"

#define MAX_HELD	1024

struct ehq {
	bool live;
	uint16_t size;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t last_avail, used_idx;
	uint16_t held[MAX_HELD];
	unsigned int nheld;
};

struct eh {
	struct iob_vfio v;
	struct iobond_vfio_state st;
	uint8_t *win;
	uint64_t win_size, zone_off, zone_size;
	uint8_t *recs;
	int kick[IOBOND_MAX_QUEUES], state_fd;
	struct ehq q[IOBOND_MAX_QUEUES];
	bool stale;		/* a SIGBUS: map the window again */
	unsigned long answered, resyncs, sigbus, refused;
};

/*
 * A board reset revokes the zone of the test's mapping: the next access
 * faults.  volatile: the compiler must not drop the store as dead.
 */
static sigjmp_buf *volatile sigbus_jmp;

static void on_sigbus(int sig)
{
	if (sigbus_jmp)
		siglongjmp(*sigbus_jmp, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* [@off, @off + @len) of the disk's zone, or NULL. */
static void *zone_ptr(struct eh *e, uint64_t off, uint64_t len)
{
	if (off < e->zone_off || off - e->zone_off > e->zone_size ||
	    len > e->zone_size - (off - e->zone_off))
		return NULL;
	return e->win + off;
}

/* Find the mdev iobondctl made for slot @index. */
static int find_mdev(unsigned int index, char *uuid, size_t len)
{
	char path[128];
	struct dirent *d;
	DIR *dir;
	int ret = -ENOENT;

	snprintf(path, sizeof(path),
		 "/sys/class/iobond/board0/mdev_supported_types/iobond-dev%u/devices",
		 index);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while ((d = readdir(dir)))
		if (d->d_name[0] != '.') {
			snprintf(uuid, len, "%.40s", d->d_name);
			ret = 0;
		}
	closedir(dir);
	return ret;
}

/*
 * Map the window again and take the rings from a state read after it, as
 * iobond-blk does; a queue starts where its used ring stands.
 */
static void resync(struct eh *e)
{
	unsigned int q;

	e->resyncs++;
	if (e->win)
		munmap(e->win, e->win_size);
	e->win = mmap(NULL, e->win_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      e->v.device, e->v.off[IOBOND_VFIO_WINDOW_REGION]);
	if (e->win == MAP_FAILED)
		e->win = NULL;
	memset(e->q, 0, sizeof(e->q));
	if (!e->win || iob_vfio_state(&e->v, &e->st))
		e->st.num_queues = 0;
	if (e->st.num_queues > IOBOND_MAX_QUEUES)
		e->st.num_queues = IOBOND_MAX_QUEUES;
	if (!e->win || !(e->st.flags & IOBOND_VFIO_RUNNING))
		return;
	e->zone_size = IOBOND_ZONE_SIZE(e->win_size);
	e->zone_off = (uint64_t)e->st.index * e->zone_size;
	for (q = 0; q < e->st.num_queues; q++) {
		struct ehq *x = &e->q[q];
		uint32_t n = e->st.vq[q].size;

		if (!(e->st.queues_enabled & (1u << q)) || !n || n > MAX_HELD ||
		    (n & (n - 1)))
			continue;
		x->size = n;
		x->desc = zone_ptr(e, e->st.vq[q].desc, 16ULL * n);
		x->avail = zone_ptr(e, e->st.vq[q].avail, 6 + 2ULL * n);
		x->used = zone_ptr(e, e->st.vq[q].used, 6 + 8ULL * n);
		if (!x->desc || !x->avail || !x->used)
			continue;
		x->last_avail = x->used_idx = le16toh(x->used->idx);
		x->live = true;
	}
}

/* Take what the engine made available: @x holds it. */
static void take(struct ehq *x)
{
	uint16_t idx = le16toh(__atomic_load_n(&x->avail->idx, __ATOMIC_ACQUIRE));

	/* The test scribbles the available ring too: never past a ring. */
	if ((uint16_t)(idx - x->last_avail) > x->size)
		x->last_avail = idx - x->size;
	while (x->last_avail != idx && x->nheld < MAX_HELD)
		x->held[x->nheld++] =
			le16toh(x->avail->ring[x->last_avail++ & (x->size - 1)]);
}

/*
 * Interrupt the board for queue @q, as a backend does; false if refused
 * (a queue past the last, or the device gone: the state interrupt says so).
 */
static bool interrupt(struct eh *e, unsigned int q)
{
	uint32_t one = 1;

	return pwrite(e->v.device, &one, 4,
		      e->v.off[IOBOND_VFIO_NOTIFY_REGION] + 4 * q) == 4;
}

/* Publish used entry (@id, @len), and interrupt the board for queue @q. */
static void use(struct eh *e, unsigned int q, uint32_t id, uint32_t len)
{
	struct ehq *x = &e->q[q];

	x->used->ring[x->used_idx & (x->size - 1)].id = htole32(id);
	x->used->ring[x->used_idx & (x->size - 1)].len = htole32(len);
	__atomic_store_n(&x->used->idx, htole16(++x->used_idx), __ATOMIC_RELEASE);
	interrupt(e, q);
}

/*
 * Answer chain @head well: random bytes in its writable buffers, the last
 * byte (a disk's status) 0, the length all of them.  The chain is the
 * engine's, read from a ring the test may have scribbled: followed only
 * inside the zone, and no further than the ring is long.
 */
static void answer(struct eh *e, unsigned int q, uint16_t head, struct fz_op *o)
{
	struct ehq *x = &e->q[q];
	uint8_t *status = NULL;
	uint32_t total = 0, k;
	uint16_t i = head;

	for (k = 0; k < x->size && i < x->size; k++) {
		struct vring_desc d = x->desc[i];
		uint8_t *p = zone_ptr(e, le64toh(d.addr), le32toh(d.len));

		if (p && le32toh(d.len) && (le16toh(d.flags) & VRING_DESC_F_WRITE)) {
			memset(p, (uint8_t)fz_u64(o), le32toh(d.len));
			status = p + le32toh(d.len) - 1;
			total += le32toh(d.len);
		}
		if (!(le16toh(d.flags) & VRING_DESC_F_NEXT))
			break;
		i = le16toh(d.next);
	}
	if (status)
		*status = 0;
	use(e, q, head, total);
	e->answered++;
}

enum { OP_ANSWER, OP_HOLD, OP_BAD_ID, OP_TWICE, OP_LEAP, OP_LONG, OP_RING,
       OP_SELF, OP_USED, OP_POOL, OP_IRQ, OP_PAUSE, NR_OPS,
       OP_RESYNC = NR_OPS,	/* not drawn: a new state, or a SIGBUS */
       OP_BREAK };		/* + queue: the end's break */
static const char *const op_names[NR_OPS] = {
	"answer", "hold", "bad-id", "twice", "leap", "long", "ring", "self",
	"used", "pool", "irq", "pause",
};
static const unsigned int op_weights[NR_OPS] = {
	40, 8, 2, 1, 1, 5, 6, 3, 5, 5, 8, 10,
};

static void one_op(struct eh *e, struct fz_op *o, unsigned int kind)
{
	unsigned int q = fz_below(o, e->st.num_queues ?: 1), k;
	struct ehq *x = &e->q[q];

	if (kind == OP_RESYNC) {
		resync(e);
		return;
	}
	if (kind >= OP_BREAK) {
		/* A used index past what it holds: the queue is the host's fault. */
		x = &e->q[kind - OP_BREAK];
		if (x->live) {
			take(x);
			x->nheld = 0;
			x->used_idx += x->size + 1;
			use(e, kind - OP_BREAK, 0, 0);
		}
		return;
	}
	if (kind == OP_PAUSE) {
		usleep(1000 + fz_below(o, 20000));
		return;
	}
	if (kind == OP_IRQ) {
		/* Any queue, live or not, and one past the last (refused). */
		if (!interrupt(e, fz_below(o, IOBOND_MAX_QUEUES + 1)))
			e->refused++;
		return;
	}
	if (!x->live)
		return;
	take(x);
	switch (kind) {
	case OP_ANSWER:
		for (k = 0; k < x->nheld; k++)
			answer(e, q, x->held[k], o);
		x->nheld = 0;
		break;
	case OP_HOLD:
		break;
	case OP_BAD_ID:
		use(e, q, fz_chance(o, 50) ? fz_below(o, x->size) : (uint32_t)fz_u64(o),
		    (uint32_t)fz_u64(o));
		break;
	case OP_TWICE:
		if (x->nheld) {
			answer(e, q, x->held[0], o);
			answer(e, q, x->held[0], o);
			memmove(x->held, x->held + 1, --x->nheld * sizeof(x->held[0]));
		}
		break;
	case OP_LEAP:
		x->used_idx += 2 + fz_below(o, 0xfffe);
		__atomic_store_n(&x->used->idx, htole16(x->used_idx), __ATOMIC_RELEASE);
		break;
	case OP_LONG:
		/* A length past the buffers: cut to them, not a fault. */
		if (x->nheld)
			use(e, q, x->held[--x->nheld], 0xffffffffu - fz_below(o, 4096));
		break;
	case OP_RING:
		/* The shadow's descriptors and available ring are the engine's. */
		for (k = 0; k < 1 + fz_below(o, 16); k++) {
			uint64_t at = fz_below(o, 16ULL * x->size + 6 + 2ULL * x->size);

			((uint8_t *)x->desc)[at] = fz_u64(o);
		}
		break;
	case OP_SELF:
		k = fz_below(o, x->size);
		x->desc[k].flags = htole16(VRING_DESC_F_NEXT);
		x->desc[k].next = htole16(k);
		break;
	case OP_USED:
		/* Entries past the index, the flags and avail_event. */
		k = fz_below(o, x->size);
		x->used->ring[k].id = htole32(fz_u64(o));
		x->used->ring[k].len = htole32(fz_u64(o));
		if (fz_chance(o, 50))
			x->used->flags = htole16(fz_u64(o));
		else	/* avail_event, past the ring */
			((uint16_t *)x->used)[2 + 4 * x->size] = htole16(fz_u64(o));
		break;
	case OP_POOL:
		/* Anywhere in the zone: the pools, and the rings of any queue. */
		for (k = 0; k < 1 + fz_below(o, 64); k++)
			e->win[e->zone_off + fz_below(o, e->zone_size)] = fz_u64(o);
		break;
	}
}

/*
 * One operation; false if a reset revoked the zone under it (SIGBUS): the
 * window is then mapped again (OP_RESYNC, under the same guard).
 */
static bool guarded(struct eh *e, struct fz_op *o, unsigned int kind)
{
	sigjmp_buf jb;

	if (sigsetjmp(jb, 1)) {
		sigbus_jmp = NULL;
		e->sigbus++;
		e->stale = true;
		return false;
	}
	sigbus_jmp = &jb;
	one_op(e, o, kind);
	sigbus_jmp = NULL;
	return true;
}

/* Keep the kernel's hung-backend watch off the test: it is alive. */
static void alive(struct eh *e)
{
	unsigned int q;

	for (q = 0; q < IOBOND_MAX_QUEUES; q++)
		__atomic_fetch_add((uint32_t *)(e->recs + q * IOBOND_INFLIGHT_STRIDE +
						offsetof(struct iobond_inflight, alive)),
				   1, __ATOMIC_RELAXED);
}

/* Wait up to a millisecond for a kick or a change of state. */
static bool state_changed(struct eh *e)
{
	struct pollfd p[IOBOND_MAX_QUEUES + 1];
	unsigned int q, n = 0;
	uint64_t v;
	bool changed = false;

	for (q = 0; q < IOBOND_MAX_QUEUES; q++)
		p[n++] = (struct pollfd){ .fd = e->kick[q], .events = POLLIN };
	p[n++] = (struct pollfd){ .fd = e->state_fd, .events = POLLIN };
	if (poll(p, n, 1) <= 0)
		return false;
	for (q = 0; q < n; q++)
		if (p[q].revents & POLLIN && read(p[q].fd, &v, sizeof(v)) > 0 &&
		    p[q].fd == e->state_fd)
			changed = true;
	return changed;
}

FIXTURE(engh) {
	int unused;
};

FIXTURE_SETUP(engh)
{
}

FIXTURE_TEARDOWN(engh)
{
}

/* IOBOND_EH_SECONDS of it, and the end's break: well within the bound. */
TEST_F_TIMEOUT(engh, fuzz, 600)
{
	unsigned long by_kind[NR_OPS] = { 0 }, ops = 0;
	struct fz_rng rng;
	struct eh e = { .state_fd = -1 };
	long long end;
	const char *why;
	char uuid[64];
	unsigned int q;
	struct iob t;
	int32_t fds[IOBOND_MAX_QUEUES];

	if (iob_setup(&t) || !t.host)
		SKIP(return, "needs the host VM");
	if (!getenv("IOBOND_EH_INDEX"))
		SKIP(return, "needs IOBOND_EH_INDEX, an engine disk with no backend");
	fz_rng_init(&rng, fz_seed(), 0);
	end = iob_now_ms() + 1000 * fz_env_u64("IOBOND_EH_SECONDS", 30);
	ASSERT_EQ(0, find_mdev(fz_env_u64("IOBOND_EH_INDEX", 0), uuid, sizeof(uuid)));
	ASSERT_EQ(0, iob_vfio_open(&e.v, uuid, &why)) TH_LOG("open: %s", why);
	e.win_size = e.v.size[IOBOND_VFIO_WINDOW_REGION];
	e.recs = mmap(NULL, e.v.size[IOBOND_VFIO_INFLIGHT_REGION],
		      PROT_READ | PROT_WRITE, MAP_SHARED, e.v.device,
		      e.v.off[IOBOND_VFIO_INFLIGHT_REGION]);
	ASSERT_NE(MAP_FAILED, (void *)e.recs);
	for (q = 0; q < IOBOND_MAX_QUEUES; q++)
		fds[q] = e.kick[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	e.state_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ASSERT_EQ(0, iob_vfio_set_irqs(e.v.device, IOBOND_VFIO_STATE_IRQ, 0, 1,
				       &e.state_fd));
	ASSERT_EQ(0, iob_vfio_state(&e.v, &e.st));
	ASSERT_GE(IOBOND_MAX_QUEUES, e.st.num_queues);
	ASSERT_EQ(0, iob_vfio_set_irqs(e.v.device, IOBOND_VFIO_KICK_IRQ, 0,
				       e.st.num_queues, fds));
	signal(SIGBUS, on_sigbus);
	e.stale = true;

	while (iob_now_ms() < end) {
		struct fz_op o;
		unsigned int kind;

		fz_op_draw(&rng, &o);
		kind = fz_weighted(&o, op_weights, NR_OPS);
		alive(&e);
		if (state_changed(&e) || e.stale) {
			e.stale = false;
			guarded(&e, &o, OP_RESYNC);
			continue;
		}
		if (guarded(&e, &o, kind)) {
			by_kind[kind]++;
			ops++;
		}
	}

	/*
	 * Leave nothing of the board's waiting on the test: break each queue,
	 * as the state is now (the kernel fails what a queue started since
	 * has, once the test closed the device).
	 */
	if (state_changed(&e) || e.stale) {
		struct fz_op o = { .i = 0 };

		guarded(&e, &o, OP_RESYNC);
	}
	for (q = 0; q < IOBOND_MAX_QUEUES; q++) {
		struct fz_op o = { .i = 0 };

		guarded(&e, &o, OP_BREAK + q);
	}
	for (q = 0; q < NR_OPS; q++)
		printf("# %s: %lu\n", op_names[q], by_kind[q]);
	printf("# ops: %lu, chains answered well: %lu, resyncs: %lu, SIGBUS: %lu, interrupts refused: %lu\n",
	       ops, e.answered, e.resyncs, e.sigbus, e.refused);
	fflush(stdout);
	/* The board's loop made and reset the disk's queues meanwhile. */
	EXPECT_LT(2, e.resyncs);
	EXPECT_LT(0, e.answered);
	iob_vfio_close(&e.v);
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: GPL-2.0
/*
 * A board that scribbles over the bonded region, seeded and reproducible.
 * Runs in the board VM with iobond_guest unloaded, through the link
 * function's BARs (raw_board.h): the test is the board.
 *
 * The board can write every byte of the region; the layout (iobond.h)
 * gives it only some of them.  Board-writable: its own side block in the
 * header, and per slot driver_features, status, the request half of the
 * mailbox (req_seq, req_op, req_arg), the queues' size, msix and ring
 * offsets, and the reserved words between them; the window.  Host-owned:
 * the rest of the header (magic ... window_size, the host's block), and per
 * slot state ... device_status, the answer half of the mailbox, the queues'
 * size_max and notify, the config space.  The host must not trust the
 * former and must not read the latter back as truth; the test writes both.
 *
 * fuzz: IOBOND_FUZZ_OPS operations on the spare slots, the header and the
 * window: random 8/16/32/64-bit writes inside board-writable and host-owned
 * fields; plausible but wrong values (rings at the window's end or past it,
 * sizes that are no power of two or above size_max, FEATURES_OK without
 * DRIVER, features never offered, vectors past 32); requests made and
 * abandoned, or waited for; doorbells on random vectors.  Then it puts
 * back what it found, and holds the host to:
 *  - a reset of each scribbled device answered within IOBOND_HANDSHAKE_MS
 *    (the board's bound, devices.rst), and then a well-behaved driver's
 *    handshakes answered and a bad queue refused, each within the bound;
 *  - the host's heartbeat moving within IOBOND_PEER_TIMEOUT_MS;
 *  - nothing written by the host into the board's block, into the kept
 *    slots, or into the header page past struct iobond_link_hdr.
 *
 * used_ring_fetched_once: a disk in a spare slot, whose queue the host
 * enables while a second thread flips the used ring's offset between a good
 * one and one that points back into the header page; the host must use the
 * offset it checked.  Needs a virtio-blk device with no backend (its
 * requests are failed by the kernel, blk.c, which writes the used ring).
 *
 * IOBOND_SCRIBBLE_SPARE: the slots to scribble (e.g. "1,2"); by default
 * every slot but those in IOBOND_SCRIBBLE_KEEP (default "0", the NIC the
 * runner serves).  IOBOND_SEED, IOBOND_FUZZ_OPS, IOBOND_FUZZ_SKIP (kinds:
 * field, host-field, header, plausible, request, doorbell, window, pause):
 * fuzz.h.
 */
#define _GNU_SOURCE
#include <pthread.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

#include "kselftest_harness.h"
#include "raw_board.h"
#include "fuzz.h"

#define SLOT_SIZE	sizeof(struct iobond_dev_slot)
#define TABLE_END	(IOBOND_DEV_TABLE_OFF + IOBOND_MAX_DEVICES * SLOT_SIZE)
/* The header page past struct iobond_link_hdr: nobody's to write. */
#define CANARY_OFF	0x800
#define CANARY_LEN	(IOBOND_LINK_HDR_SIZE - CANARY_OFF)
#define CANARY_BYTE	0xc5
/* How long the first answer may take before the host counts as dead. */
#define SETTLE_MS	30000
#define SEQ_BLOCK	4096

_Static_assert(sizeof(struct iobond_link_hdr) <= CANARY_OFF, "canary overlaps");
_Static_assert(SLOT_SIZE == 2048, "slot layout");

#define SLOT_OFF(m)	offsetof(struct iobond_dev_slot, m)
#define SLOT_LEN(m)	sizeof(((struct iobond_dev_slot *)0)->m)
#define VQ_OFF(q)	(SLOT_OFF(vq) + (q) * sizeof(struct iobond_vq))
#define NEED_FEATURES	(1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_F_ACCESS_PLATFORM)

struct field {
	__u32 off, len;
};

/* Per slot, what the board writes, and what the host writes. */
static const struct field board_fields[] = {
	{ SLOT_OFF(driver_features), SLOT_LEN(driver_features) },
	{ SLOT_OFF(status), SLOT_LEN(status) },
	{ SLOT_OFF(reserved_board), SLOT_LEN(reserved_board) },
	{ SLOT_OFF(hs.req_seq), 3 * sizeof(__le32) },	/* req_seq, op, arg */
	{ SLOT_OFF(hs.reserved), SLOT_LEN(hs.reserved) },
	{ SLOT_OFF(reserved), SLOT_LEN(reserved) },
};

/* And the host's and the engine's, which a board can write as well. */
static const struct field host_fields[] = {
	{ 0, SLOT_OFF(driver_features) },		/* state ... reserved_host */
	{ SLOT_OFF(hs.ack_seq), 2 * sizeof(__le32) },	/* ack_seq, ack_result */
	{ SLOT_OFF(eng), SLOT_LEN(eng) },
	{ SLOT_OFF(config), SLOT_LEN(config) },
	{ SLOT_OFF(shadow), SLOT_LEN(shadow) },
};

/* In struct iobond_vq: size_max and notify are the host's, the rest ours. */
#define VQ_BOARD_OFF	offsetof(struct iobond_vq, size)
#define VQ_BOARD_LEN	(sizeof(struct iobond_vq) - VQ_BOARD_OFF)

enum skind {
	S_FIELD, S_HOSTFIELD, S_HEADER, S_PLAUSIBLE, S_REQUEST, S_DOORBELL,
	S_WINDOW, S_PAUSE, NSKINDS
};

static const char * const skind_names[NSKINDS] = {
	"field", "host-field", "header", "plausible", "request", "doorbell",
	"window", "pause",
};

static const unsigned int skind_weights[NSKINDS] = {
	[S_FIELD] = 35, [S_HOSTFIELD] = 10, [S_HEADER] = 5, [S_PLAUSIBLE] = 15,
	[S_REQUEST] = 15, [S_DOORBELL] = 12, [S_WINDOW] = 6, [S_PAUSE] = 2,
};

typedef __u16 __attribute__((aligned(1), may_alias)) u16_any;
typedef __u32 __attribute__((aligned(1), may_alias)) u32_any;
typedef __u64 __attribute__((aligned(1), may_alias)) u64_any;

/* A slot's req_seq values: the host's last answered one is among them. */
struct seqs {
	__u32 *v;
	size_t n, cap;
	__u32 last;
};

FIXTURE(scribble) {
	struct raw r;
	__u8 *snap;		/* [0, TABLE_END) as found */
	__u64 seed;
	__u64 nops;
	struct fz_rng rng;
	__u32 keep, spare, present;
	__u32 host_id, own_id, host_nvec;
	__u64 window_size;
	struct fz_stats st;
	unsigned long skipped[NSKINDS];
	unsigned long abandoned, answered, unanswered;
	long long max_ms;
	struct seqs seen[IOBOND_MAX_DEVICES];
};

/* ---- the region ------------------------------------------------------ */

static __u8 *slot_at(FIXTURE_DATA(scribble) *s, unsigned int i)
{
	return s->r.shm + IOBOND_DEV_TABLE_OFF + i * SLOT_SIZE;
}

static struct iobond_dev_slot *slot_of(FIXTURE_DATA(scribble) *s, unsigned int i)
{
	return (void *)slot_at(s, i);
}

static const struct iobond_dev_slot *snap_slot(FIXTURE_DATA(scribble) *s,
					       unsigned int i)
{
	return (const void *)(s->snap + IOBOND_DEV_TABLE_OFF + i * SLOT_SIZE);
}

/* One store of @width bytes, as a board's CPU would make it. */
static void put(__u8 *p, unsigned int width, __u64 v)
{
	switch (width) {
	case 1:
		*(volatile __u8 *)p = v;
		break;
	case 2:
		*(volatile u16_any *)p = htole16(v);
		break;
	case 4:
		*(volatile u32_any *)p = htole32(v);
		break;
	default:
		*(volatile u64_any *)p = htole64(v);
	}
}

static void copy_out(volatile __u8 *dst, const __u8 *src, size_t len)
{
	while (len--)
		*dst++ = *src++;
}

static void zero_out(volatile __u8 *dst, size_t len)
{
	while (len--)
		*dst++ = 0;
}

/* Ring the host's @vec as peer @peer (the host's id, unless scribbling). */
static void ring(FIXTURE_DATA(scribble) *s, __u32 peer, __u32 vec)
{
	__sync_synchronize();
	*(volatile __u32 *)(s->r.regs + REG_DOORBELL) =
		(peer & 0xffff) << 16 | (vec & 0xffff);
}

static void add_seq(FIXTURE_DATA(scribble) *s, unsigned int i, __u32 v)
{
	struct seqs *q = &s->seen[i];

	if (v == q->last && q->n)
		return;
	q->last = v;
	if (q->n == q->cap) {
		q->cap = q->cap ? 2 * q->cap : 256;
		q->v = realloc(q->v, q->cap * sizeof(*q->v));
		if (!q->v) {
			q->n = q->cap = 0;
			return;
		}
	}
	q->v[q->n++] = v;
}

static void note_seq(FIXTURE_DATA(scribble) *s, unsigned int i)
{
	add_seq(s, i, RD32(slot_of(s, i)->hs.req_seq));
}

static int cmp_u32(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

/*
 * @len consecutive request numbers slot @i never held: the host answers
 * only a req_seq other than the last it answered, which is one of those
 * the slot held (or 0, after a publish).
 */
static __u32 fresh_seqs(FIXTURE_DATA(scribble) *s, unsigned int i,
			   __u32 len)
{
	struct seqs *q = &s->seen[i];
	struct fz_op o;
	__u32 base, j;
	bool clash;

	note_seq(s, i);
	qsort(q->v, q->n, sizeof(*q->v), cmp_u32);
	do {
		fz_op_draw(&s->rng, &o);
		base = fz_u64(&o) | 1;
		clash = base > UINT32_MAX - len;
		for (j = 0; j < q->n && !clash; j++)
			clash = q->v[j] - base < len;
	} while (clash);
	return base;
}

/*
 * Make a request of slot @i with @seq and wait up to @ms for its answer:
 * the host's errno (0 if accepted), or -1; *@took is the wait.
 */
static int ask(FIXTURE_DATA(scribble) *s, unsigned int i, __u32 op,
	       __u32 arg, __u32 seq, int ms, long long *took)
{
	struct iobond_dev_slot *slot = slot_of(s, i);
	long long start;

	WR32(slot->hs.req_op, op);
	WR32(slot->hs.req_arg, arg);
	__sync_synchronize();
	WR32(slot->hs.req_seq, seq);
	note_seq(s, i);
	ring(s, s->host_id, IOBOND_CTRL_VECTOR);
	start = iob_now_ms();
	do {
		if (RD32(slot->hs.ack_seq) == seq) {
			__sync_synchronize();
			*took = iob_now_ms() - start;
			return RD32(slot->hs.ack_result);
		}
		usleep(200);
	} while (iob_now_ms() - start < ms);
	*took = iob_now_ms() - start;
	return -1;
}

/* Zero what the board writes in slot @i (req_seq stays: the host's). */
static void clear_board_fields(FIXTURE_DATA(scribble) *s, unsigned int i)
{
	__u8 *b = slot_at(s, i);
	unsigned int k, q;

	for (k = 0; k < ARRAY_SIZE(board_fields); k++)
		if (board_fields[k].off != SLOT_OFF(hs.req_seq))
			zero_out(b + board_fields[k].off, board_fields[k].len);
	WR32(slot_of(s, i)->hs.req_op, 0);
	WR32(slot_of(s, i)->hs.req_arg, 0);
	for (q = 0; q < IOBOND_MAX_QUEUES; q++)
		zero_out(b + VQ_OFF(q) + VQ_BOARD_OFF, VQ_BOARD_LEN);
}

/*
 * Put back what the test found: the host's fields as the host wrote them
 * (its heartbeat excepted: the host rewrites it), the board's block, the
 * canary if asked, and in each spare slot the host's fields (but the last
 * answer, and no device status: what a reset leaves), and nothing of the
 * board's.
 */
static void restore(FIXTURE_DATA(scribble) *s, bool canary)
{
	size_t hb = offsetof(struct iobond_link_hdr, host.heartbeat);
	size_t host = offsetof(struct iobond_link_hdr, host);
	unsigned int i, k, q;

	if (!s->snap)
		return;
	copy_out(s->r.shm, s->snap, host);
	copy_out(s->r.shm + host, s->snap + host, hb - host);
	copy_out(s->r.shm + hb + 8, s->snap + hb + 8,
		 sizeof(struct iobond_side) - (hb + 8 - host));
	copy_out(s->r.shm + offsetof(struct iobond_link_hdr, board),
		 s->snap + offsetof(struct iobond_link_hdr, board),
		 sizeof(struct iobond_side));
	if (canary)
		copy_out(s->r.shm + CANARY_OFF, s->snap + CANARY_OFF, CANARY_LEN);
	for (i = 0; i < IOBOND_MAX_DEVICES; i++) {
		if (!(s->spare & 1U << i))
			continue;
		/* Not the answer: the host's last is the truth now. */
		for (k = 0; k < ARRAY_SIZE(host_fields); k++)
			if (host_fields[k].off != SLOT_OFF(hs.ack_seq))
				copy_out(slot_at(s, i) + host_fields[k].off,
					 s->snap + IOBOND_DEV_TABLE_OFF + i * SLOT_SIZE +
					 host_fields[k].off, host_fields[k].len);
		for (q = 0; q < IOBOND_MAX_QUEUES; q++)
			copy_out(slot_at(s, i) + VQ_OFF(q),
				 s->snap + IOBOND_DEV_TABLE_OFF + i * SLOT_SIZE + VQ_OFF(q),
				 VQ_BOARD_OFF);
		WR32(slot_of(s, i)->device_status, 0);
		clear_board_fields(s, i);
	}
	__sync_synchronize();
}

static __u32 parse_slots(const char *list)
{
	__u32 mask = 0;
	char *end;
	long v;

	while (list && *list) {
		v = strtol(list, &end, 0);
		if (end == list)
			break;
		if (v >= 0 && v < IOBOND_MAX_DEVICES)
			mask |= 1U << v;
		list = end + strspn(end, ", ");
	}
	return mask;
}

FIXTURE_SETUP(scribble)
{
	struct raw *r = &self->r;
	unsigned int i;

	if (iob_setup(&r->t) || r->t.host)
		SKIP(return, "needs the board VM");
	if (iob_loaded(&r->t))
		SKIP(return, "needs iobond_guest unloaded: this test is the board");
	ASSERT_EQ(0, raw_open(r));
	ASSERT_EQ(IOBOND_MAGIC, le32toh(r->hdr->magic));
	ASSERT_EQ(IOBOND_SIDE_ONLINE, le32toh(r->hdr->host.state));
	ASSERT_LE(TABLE_END, IOBOND_WINDOW_OFF);
	ASSERT_LT(IOBOND_WINDOW_OFF, r->shm_size);
	self->window_size = le64toh(r->hdr->window_size);
	ASSERT_EQ(r->shm_size - IOBOND_WINDOW_OFF, self->window_size);
	self->host_id = le32toh(r->hdr->host.peer_id);
	self->host_nvec = le32toh(r->hdr->host.nvectors);
	self->own_id = *(volatile __u32 *)(r->regs + REG_IVPOSITION);
	ASSERT_GE(IOBOND_MAX_PEER_ID, self->host_id);
	ASSERT_NE(self->own_id, self->host_id);
	ASSERT_LE(1, self->host_nvec);
	ASSERT_GE(IOBOND_MAX_VECTORS, self->host_nvec);

	self->keep = parse_slots(getenv("IOBOND_SCRIBBLE_KEEP") ?: "0");
	self->spare = getenv("IOBOND_SCRIBBLE_SPARE") ?
		      parse_slots(getenv("IOBOND_SCRIBBLE_SPARE")) :
		      ((1U << IOBOND_MAX_DEVICES) - 1);
	self->spare &= ~self->keep;
	for (i = 0; i < IOBOND_MAX_DEVICES; i++)
		if (self->spare & 1U << i &&
		    le32toh(slot_of(self, i)->state) == IOBOND_SLOT_PRESENT)
			self->present |= 1U << i;
	if (!self->present)
		SKIP(return, "needs a device provisioned in a spare slot (spare %#x, kept %#x)",
		     self->spare, self->keep);

	self->snap = malloc(TABLE_END);
	ASSERT_NE(NULL, self->snap);
	for (i = 0; i < TABLE_END; i++)
		self->snap[i] = ((volatile __u8 *)r->shm)[i];
	for (i = 0; i < IOBOND_MAX_DEVICES; i++) {
		/* What the host may hold as answered: these, or 0. */
		add_seq(self, i, 0);
		add_seq(self, i, RD32(slot_of(self, i)->hs.ack_seq));
		note_seq(self, i);
	}
	/* A pattern only the host's stray writes would change. */
	for (i = 0; i < CANARY_LEN; i++)
		((volatile __u8 *)r->shm)[CANARY_OFF + i] = CANARY_BYTE;

	self->seed = fz_seed();
	self->nops = fz_ops();
	fz_rng_init(&self->rng, self->seed, 100);
	printf("# spare slots %#x (devices in %#x), kept %#x; host id %u, %u vectors; window %#llx\n",
	       self->spare, self->present, self->keep, self->host_id,
	       self->host_nvec, (unsigned long long)self->window_size);
	fflush(stdout);
}

FIXTURE_TEARDOWN(scribble)
{
	unsigned int i;

	restore(self, true);
	free(self->snap);
	for (i = 0; i < IOBOND_MAX_DEVICES; i++)
		free(self->seen[i].v);
}

static bool canary_intact(FIXTURE_DATA(scribble) *s)
{
	unsigned int i;

	for (i = 0; i < CANARY_LEN; i++)
		if (((volatile __u8 *)s->r.shm)[CANARY_OFF + i] != CANARY_BYTE)
			return false;
	return true;
}

/* ---- values ---------------------------------------------------------- */

static __u64 any_value(struct fz_op *o)
{
	static const __u64 pool[] = {
		0, 1, 2, 3, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff,
		0x80000000, 0xffffffff, 0x100000000ULL, 1ULL << 63, ~0ULL,
		~0ULL - 0xfff,
	};

	return fz_chance(o, 50) ? fz_pick(o, pool) : fz_u64(o);
}

/*
 * A window offset for a ring part of slot @i: good, at the end of its
 * zone, past it, in another zone, at the end of the window, past it, or
 * into the header.
 */
static __u64 ring_offset(FIXTURE_DATA(scribble) *s, struct fz_op *o,
			 unsigned int i)
{
	__u64 w = s->window_size, zs = IOBOND_ZONE_SIZE(w), zb = i * zs;
	const __u64 zone[] = {
		zb + 0x1000, zb + 0x2000, zb + 0x3000, zb + 0x8000, zb + zs / 2,
		zb + zs - 0x3000, zb + zs - 0x2000, zb + zs - 0x1000,
		zb + zs - 64, zb + zs - 16, zb + zs, zb - 0x1000,
	};
	const __u64 pool[] = {
		0x1000, 0x2000, 0x3000, 0x8000, w / 2, w - 0x3000, w - 0x2000,
		w - 0x1000, w - 64, w - 16, w - 8, w - 2, w, w + 0x1000,
		~0ULL, ~0ULL - 0xfff, 1ULL << 63, 1, 2, 3, 6, 0x1001,
		/* The header page seen from the window: never in it. */
		(__u64)CANARY_OFF - IOBOND_WINDOW_OFF,
		(__u64)0 - IOBOND_WINDOW_OFF,
	};

	return (fz_chance(o, 50) ? fz_pick(o, zone) : fz_pick(o, pool)) +
	       (fz_chance(o, 10) ? fz_below(o, 64) : 0);
}

static __u32 status_value(struct fz_op *o)
{
	static const __u32 pool[] = {
		0, VIRTIO_CONFIG_S_ACKNOWLEDGE,
		VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER,
		VIRTIO_CONFIG_S_FEATURES_OK,	/* without DRIVER */
		VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_ACKNOWLEDGE,
		0x0b, 0x0f, VIRTIO_CONFIG_S_DRIVER_OK,	/* OK, never FEATURES_OK */
		0x07, VIRTIO_CONFIG_S_NEEDS_RESET, VIRTIO_CONFIG_S_FAILED, 0x4f,
		0x8f, 0xff, 0x100, 0x1ff, 0xffffffff,
	};

	return fz_pick(o, pool);
}

static __u64 features_value(const struct iobond_dev_slot *snap, struct fz_op *o)
{
	__u64 offered = le64toh(snap->device_features);
	const __u64 pool[] = {
		offered, offered & NEED_FEATURES, offered | 1ULL << 50,
		offered & ~(1ULL << VIRTIO_F_ACCESS_PLATFORM),
		offered & ~(1ULL << VIRTIO_F_VERSION_1), 0, ~0ULL,
		NEED_FEATURES | 1ULL << 63,
	};

	return fz_chance(o, 85) ? fz_pick(o, pool) : fz_u64(o);
}

/* ---- the operations -------------------------------------------------- */

static unsigned int pick_slot(FIXTURE_DATA(scribble) *s, struct fz_op *o)
{
	__u32 mask = fz_chance(o, 75) ? s->present : s->spare;
	unsigned int n = __builtin_popcount(mask), k = fz_below(o, n), i;

	for (i = 0; i < IOBOND_MAX_DEVICES; i++)
		if (mask & 1U << i && !k--)
			return i;
	return 0;
}

/* A store of a random width at a random place in [@base + @f). */
static void scribble_field(struct fz_op *o, __u8 *base, struct field f,
			   size_t limit)
{
	unsigned int width = 1U << fz_below(o, 4);
	size_t off = f.off + fz_below(o, f.len);

	/* Mostly inside the field; sometimes across into the next. */
	if (off + width > f.off + f.len && fz_chance(o, 90)) {
		while (width > f.len)
			width >>= 1;
		off = f.off + f.len - width;
	}
	if (off + width > limit)
		off = limit - width;
	put(base + off, width, any_value(o));
}

static struct field vq_board_field(struct fz_op *o)
{
	return (struct field){ VQ_OFF(fz_below(o, IOBOND_MAX_QUEUES)) + VQ_BOARD_OFF,
			       VQ_BOARD_LEN };
}

static void op_field(FIXTURE_DATA(scribble) *s, struct fz_op *o)
{
	unsigned int i = pick_slot(s, o);
	struct field f = fz_chance(o, 50) ? vq_board_field(o) :
			 fz_pick(o, board_fields);

	scribble_field(o, slot_at(s, i), f, SLOT_SIZE);
}

static void op_host_field(FIXTURE_DATA(scribble) *s, struct fz_op *o)
{
	unsigned int i = pick_slot(s, o);
	struct field f;

	if (fz_chance(o, 25))
		f = (struct field){ VQ_OFF(fz_below(o, IOBOND_MAX_QUEUES)),
				    VQ_BOARD_OFF };
	else
		f = fz_pick(o, host_fields);
	scribble_field(o, slot_at(s, i), f, SLOT_SIZE);
}

static void op_header(FIXTURE_DATA(scribble) *s, struct fz_op *o)
{
	struct field f;

	switch (fz_below(o, 5)) {
	case 0:
	case 1:
	case 2:
		/* Our own block: state, ids, vectors, heartbeat, echo. */
		f = (struct field){ offsetof(struct iobond_link_hdr, board),
				    sizeof(struct iobond_side) };
		break;
	case 3:
		f = (struct field){ 0, offsetof(struct iobond_link_hdr, host) };
		break;
	default:
		f = (struct field){ offsetof(struct iobond_link_hdr, host),
				    sizeof(struct iobond_side) };
	}
	scribble_field(o, s->r.shm, f, sizeof(struct iobond_link_hdr));
}

static void op_plausible(FIXTURE_DATA(scribble) *s, struct fz_op *o)
{
	static const __u16 msix_pool[] = { 0, 1, 2, 15, 31, 32, 33, 0x7fff,
					      0xfffe, IOBOND_NO_VECTOR };
	unsigned int i = pick_slot(s, o);
	struct iobond_dev_slot *slot = slot_of(s, i);
	const struct iobond_dev_slot *snap = snap_slot(s, i);
	__u16 smax = le16toh(snap->vq[0].size_max);
	unsigned int nq = le16toh(snap->num_queues), q;

	if (fz_chance(o, 40)) {
		const __u16 size_pool[] = {
			0, 1, 2, 3, 4, 16, 100, 128, 255, 256, 257, 1024, 0x8000,
			0xffff, smax, (__u16)(smax * 2), (__u16)(smax - 1),
		};

		q = fz_below(o, nq + 2 < IOBOND_MAX_QUEUES ? nq + 2 : IOBOND_MAX_QUEUES);
		WR16(slot->vq[q].size, fz_pick(o, size_pool));
		WR16(slot->vq[q].msix, fz_pick(o, msix_pool));
		WR64(slot->vq[q].desc, ring_offset(s, o, i));
		WR64(slot->vq[q].avail, ring_offset(s, o, i));
		WR64(slot->vq[q].used, ring_offset(s, o, i));
		return;
	}
	WR64(slot->driver_features, features_value(snap, o));
	WR32(slot->status, status_value(o));
}

static void op_request(FIXTURE_DATA(scribble) *s, struct fz_op *o)
{
	static const __u32 ops[] = {
		IOBOND_OP_STATUS, IOBOND_OP_STATUS, IOBOND_OP_RESET,
		IOBOND_OP_QUEUE_ENABLE, IOBOND_OP_QUEUE_ENABLE, 0, 4, 77,
		0x80000001, 0xffffffff,
	};
	unsigned int i = pick_slot(s, o);
	struct iobond_dev_slot *slot = slot_of(s, i);
	unsigned int nq = le16toh(snap_slot(s, i)->num_queues);
	const __u32 args[] = { 0, 1, nq - 1, nq, 15, 16, 17, 0xffff, 0xffffffff };
	__u32 seq = RD32(slot->hs.req_seq);
	unsigned int how = fz_below(o, 10);
	long long took;
	int ret;

	/* Mostly the next number; sometimes a jump, the same, or the answer's. */
	seq = how < 6 ? seq + 1 : how < 8 ? (__u32)fz_u64(o) :
	      how < 9 ? seq : RD32(slot->hs.ack_seq);
	if (fz_chance(o, 10) && how < 8 && s->present & 1U << i) {
		/* Wait a little for this one; late answers only counted. */
		ret = ask(s, i, fz_pick(o, ops), fz_pick(o, args), seq,
			  IOBOND_HANDSHAKE_MS / 10, &took);
		if (ret < 0) {
			s->unanswered++;
		} else {
			s->answered++;
			fz_count(&s->st, ret);
			if (took > s->max_ms)
				s->max_ms = took;
		}
		return;
	}
	/* Asked, then abandoned: the next ops write over it. */
	WR32(slot->hs.req_op, fz_pick(o, ops));
	WR32(slot->hs.req_arg, fz_pick(o, args));
	if (fz_chance(o, 80))
		__sync_synchronize();
	WR32(slot->hs.req_seq, seq);
	if (fz_chance(o, 90))
		ring(s, s->host_id, IOBOND_CTRL_VECTOR);
	s->abandoned++;
}

static void op_doorbell(FIXTURE_DATA(scribble) *s, struct fz_op *o)
{
	unsigned int how = fz_below(o, 100);
	__u32 peer = s->host_id, vec;

	if (how < 80)
		vec = fz_below(o, s->host_nvec);
	else if (how < 95)
		vec = fz_below(o, IOBOND_MAX_VECTORS);
	else
		vec = fz_below(o, 0x10000);
	if (fz_chance(o, 2))
		peer = fz_chance(o, 50) ? s->own_id : fz_below(o, 0x10000);
	ring(s, peer, vec);
}

static void op_window(FIXTURE_DATA(scribble) *s, struct fz_op *o)
{
	__u8 *win = s->r.shm + IOBOND_WINDOW_OFF;
	unsigned int i = pick_slot(s, o), width;
	__u64 off = ring_offset(s, o, i), w = s->window_size;
	const struct iobond_dev_slot *snap = snap_slot(s, i);

	if (off >= w - 64)
		off = fz_below(o, w - 64);
	off += fz_below(o, 64);
	if (fz_chance(o, 50)) {
		/* A descriptor: plausible address, length and flags. */
		struct vring_desc *d = (void *)(win + (off & ~15ULL));

		if ((__u8 *)(d + 1) > win + w)
			return;
		WR64(d->addr, ring_offset(s, o, i));
		WR32(d->len, fz_pick(o, ((const __u32[]){ 0, 1, 16, 512, 4096,
							     0x10000, 0xffffffff })));
		WR16(d->flags, fz_below(o, 8));	/* NEXT, WRITE, INDIRECT */
		WR16(d->next, fz_chance(o, 50) ? fz_below(o, 8) : fz_u64(o));
	} else {
		width = 1U << fz_below(o, 4);
		if (off + width <= w)
			put(win + off, width, any_value(o));
	}
	/* And kick a queue of the slot, maybe. */
	if (fz_chance(o, 30))
		ring(s, s->host_id,
		     le16toh(snap->vq[fz_below(o, IOBOND_MAX_QUEUES)].notify));
}

/* ---- the tests ------------------------------------------------------- */

/* Flips a 64-bit field between two values until told to stop. */
struct flip {
	volatile __le64 *p;
	__le64 a, b;
	volatile int stop;
};

static void *flip_run(void *arg)
{
	struct flip *f = arg;

	while (!f->stop) {
		*f->p = f->a;
		*f->p = f->b;
	}
	*f->p = f->a;
	return NULL;
}

/* The first byte of [@off, @off + @len) where @now and @was differ, or -1. */
static long first_change(const __u8 *now, const __u8 *was, size_t off,
			 size_t len)
{
	size_t k;

	for (k = off; k < off + len; k++)
		if (((volatile const __u8 *)now)[k] != was[k])
			return k;
	return -1;
}

/* The answer to a well-formed request, held to the bound. */
#define EXPECT_ANSWER(want, s, i, op, arg, seq) do {			\
	long long __took;						\
	int __ret = ask(s, i, op, arg, seq, SETTLE_MS, &__took);	\
									\
	EXPECT_EQ(want, __ret) TH_LOG("dev%u: op %u arg %u", i, op, arg); \
	EXPECT_GE(IOBOND_HANDSHAKE_MS, __took)				\
		TH_LOG("dev%u: op %u answered in %lld ms", i, op, __took); \
} while (0)

/* Reset slot @i, then a driver up to DRIVER_OK; *@seq moves on. */
static void reset_to_driver_ok(struct __test_metadata *_metadata,
			       FIXTURE_DATA(scribble) *s, unsigned int i,
			       __u32 *seq)
{
	struct iobond_dev_slot *slot = slot_of(s, i);

	EXPECT_ANSWER(0, s, i, IOBOND_OP_RESET, 0, (*seq)++);
	WR64(slot->driver_features, NEED_FEATURES);
	WR32(slot->status, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		      VIRTIO_CONFIG_S_FEATURES_OK);
	EXPECT_ANSWER(0, s, i, IOBOND_OP_STATUS, 0, (*seq)++);
	WR32(slot->status, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		      VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	EXPECT_ANSWER(0, s, i, IOBOND_OP_STATUS, 0, (*seq)++);
}

TEST_F_TIMEOUT(scribble, used_ring_fetched_once, 600)
{
	FIXTURE_DATA(scribble) *s = self;
	__u8 *win = s->r.shm + IOBOND_WINDOW_OFF;
	const __u64 bad = (__u64)CANARY_OFF - IOBOND_WINDOW_OFF;
	struct iobond_dev_slot *slot;
	const struct iobond_dev_slot *snap;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	__u64 D, A, U, DATA;
	unsigned long rounds, round, accepted = 0, refused = 0, served = 0;
	long long start, end, least, took, until;
	unsigned int i;
	__u32 seq;
	__u16 notify, idx, first;
	int ret;
	pthread_t flipper;
	struct flip f;

	IOB_RETURN_IF_SKIPPED();
	for (i = 0; i < IOBOND_MAX_DEVICES; i++)
		if (s->present & 1U << i &&
		    le32toh(snap_slot(s, i)->device_id) == VIRTIO_ID_BLOCK)
			break;
	if (i == IOBOND_MAX_DEVICES)
		SKIP(return, "needs a virtio-blk device with no backend in a spare slot");
	slot = slot_of(s, i);
	snap = snap_slot(s, i);
	/* The rings and the buffer lie in the disk's zone of the window. */
	D = i * IOBOND_ZONE_SIZE(s->window_size) + 0x1000;
	A = D + 0x1000;
	U = D + 0x2000;
	DATA = D + 0x3000;
	desc = (void *)(win + D);
	avail = (void *)(win + A);
	used = (void *)(win + U);
	notify = le16toh(snap->vq[0].notify);
	ASSERT_LE(4, le16toh(snap->vq[0].size_max));
	rounds = s->nops / 100 < 20 ? 20 : s->nops / 100;
	seq = fresh_seqs(s, i, 4 * rounds + 64);
	WR32(slot->hs.ack_seq, seq - 1);

	/* A driver up to DRIVER_OK, with a 4-entry queue and a request. */
	reset_to_driver_ok(_metadata, s, i, &seq);
	zero_out(win + D, 4 * 4096);
	WR64(desc[0].addr, DATA);
	WR32(desc[0].len, 16);
	WR16(desc[0].flags, VRING_DESC_F_WRITE);
	WR16(slot->vq[0].size, 4);
	WR16(slot->vq[0].msix, IOBOND_NO_VECTOR);
	WR64(slot->vq[0].desc, D);
	WR64(slot->vq[0].avail, A);
	WR64(slot->vq[0].used, U);
	EXPECT_ANSWER(0, s, i, IOBOND_OP_QUEUE_ENABLE, 0, seq++);
	WR16(avail->ring[0], 0);
	__sync_synchronize();
	WR16(avail->idx, 1);
	ring(s, s->host_id, notify);

	/* Nothing serves the disk: the kernel fails the request (blk.c). */
	end = iob_now_ms() + IOBOND_BLK_GRACE_MS + 5000;
	while (!(RD32(slot->device_status) & VIRTIO_CONFIG_S_NEEDS_RESET) &&
	       iob_now_ms() < end)
		usleep(50000);
	if (!(RD32(slot->device_status) & VIRTIO_CONFIG_S_NEEDS_RESET))
		SKIP(goto out, "dev%u's request was not failed in %d ms: a backend serves it?",
		     i, IOBOND_BLK_GRACE_MS + 5000);
	EXPECT_EQ(1, RD16(used->idx));

	/*
	 * From now on each kick fails what the driver ring holds at once,
	 * through the used ring as the host stored it.  Enable the queue
	 * again and again while another thread flips the used ring's offset:
	 * the host checks one value, and must store that one.
	 */
	f = (struct flip){ .p = (volatile __le64 *)&slot->vq[0].used,
			   .a = htole64(U), .b = htole64(bad) };
	ASSERT_EQ(0, pthread_create(&flipper, NULL, flip_run, &f));
	first = RD16(used->idx);
	start = iob_now_ms();
	end = start + 120000 * iob_timeout_scale();
	/*
	 * Long enough for the grace clock to fire a few times, so that the
	 * host writes through the used rings it stored, and the canary can
	 * tell whether one was the bad one.
	 */
	least = start + 4 * IOBOND_BLK_GRACE_MS;
	for (round = 0; (round < rounds || iob_now_ms() < least) &&
	     iob_now_ms() < end; round++) {
		/*
		 * A queue is enabled once per reset (board.c).  The kernel's
		 * grace clock, started by the first unserved kick, fails the
		 * request every IOBOND_BLK_GRACE_MS through whatever ring it
		 * stored last: over the rounds, many of them.
		 */
		reset_to_driver_ok(_metadata, s, i, &seq);
		idx = RD16(used->idx);
		ret = ask(s, i, IOBOND_OP_QUEUE_ENABLE, 0, seq++,
			  2 * IOBOND_HANDSHAKE_MS, &took);
		if (ret) {
			refused++;
			continue;
		}
		accepted++;
		WR16(avail->ring[0], 0);
		WR16(avail->idx, 1);
		ring(s, s->host_id, notify);
		for (until = iob_now_ms() + 500; iob_now_ms() < until; usleep(2000))
			if (!canary_intact(s) || RD16(used->idx) != idx)
				break;
		if (!canary_intact(s))
			break;
	}
	f.stop = 1;
	pthread_join(flipper, NULL);
	/* Each request the host failed moved the good ring's index on. */
	served = (__u16)(RD16(used->idx) - first);
	printf("# dev%u: %lu enables in %lld ms, %lu accepted, %lu refused; the good used ring was written %lu times\n",
	       i, round, iob_now_ms() - start, accepted, refused, served);
	fflush(stdout);
	EXPECT_TRUE(canary_intact(s))
		TH_LOG("dev%u: the host wrote into the header page through a used ring it never accepted (board.c reads vq->used again after checking it)",
		       i);
	EXPECT_LT(0, accepted);
	/* Otherwise the host never wrote through a stored ring: no test. */
	EXPECT_LT(0, served)
		TH_LOG("dev%u: the host failed no request in %lld ms", i,
		       iob_now_ms() - start);
out:
	WR64(slot->vq[0].used, U);
	EXPECT_ANSWER(0, s, i, IOBOND_OP_RESET, 0, seq++);
	clear_board_fields(s, i);
}

TEST_F_TIMEOUT(scribble, fuzz, 3600)
{
	static void (*const ops[NSKINDS])(FIXTURE_DATA(scribble) *, struct fz_op *) = {
		[S_FIELD] = op_field, [S_HOSTFIELD] = op_host_field,
		[S_HEADER] = op_header, [S_PLAUSIBLE] = op_plausible,
		[S_REQUEST] = op_request, [S_DOORBELL] = op_doorbell,
		[S_WINDOW] = op_window,
	};
	FIXTURE_DATA(scribble) *s = self;
	size_t board_blk = offsetof(struct iobond_link_hdr, board);
	char extra[256];
	struct fz_rng rng;
	struct fz_op o;
	__u64 n, hb;
	long long end, took;
	unsigned int i, k;
	__u32 seq;
	int ret;

	IOB_RETURN_IF_SKIPPED();
	fz_rng_init(&rng, s->seed, 0);
	for (n = 0; n < s->nops; n++) {
		fz_op_draw(&rng, &o);
		k = fz_weighted(&o, skind_weights, NSKINDS);
		s->st.ops++;
		if (fz_skipped(skind_names[k])) {
			s->skipped[k]++;
			continue;
		}
		if (k == S_PAUSE)
			usleep(fz_below(&o, 2000));
		else
			ops[k](s, &o);
		for (i = 0; i < IOBOND_MAX_DEVICES; i++)
			if (s->spare & 1U << i)
				note_seq(s, i);
	}
	snprintf(extra, sizeof(extra),
		 "requests answered %lu (slowest %lld ms), unanswered within %d ms %lu, abandoned %lu",
		 s->answered, s->max_ms, IOBOND_HANDSHAKE_MS / 10, s->unanswered,
		 s->abandoned);
	fz_summary(&s->st, extra);
	for (k = 0; k < NSKINDS; k++)
		if (s->skipped[k])
			printf("# %s: %lu skipped\n", skind_names[k], s->skipped[k]);
	/* The harness ends each test with _exit(): what is not flushed is lost. */
	fflush(stdout);

	/* Sane again: what we found, and no request pending. */
	restore(s, false);

	for (i = 0; i < IOBOND_MAX_DEVICES; i++) {
		const struct iobond_dev_slot *snap = snap_slot(s, i);
		struct iobond_dev_slot *slot = slot_of(s, i);
		__u16 smax = le16toh(snap->vq[0].size_max);
		__u16 size = smax < 64 ? smax : 64;
		/* Slot i's zone of the window: [zb, zb + zs). */
		__u64 zs = IOBOND_ZONE_SIZE(s->window_size), zb = i * zs;

		if (!(s->present & 1U << i))
			continue;
		seq = fresh_seqs(s, i, 16);
		WR32(slot->hs.ack_seq, seq - 1);
		/* The first answer: slow if the host still works off the flood. */
		ret = ask(s, i, IOBOND_OP_RESET, 0, seq++, SETTLE_MS, &took);
		printf("# dev%u: reset answered %d in %lld ms\n", i, ret, took);
		fflush(stdout);
		ASSERT_NE(-1, ret) TH_LOG("dev%u: no answer in %d ms", i, SETTLE_MS);
		EXPECT_EQ(0, ret);
		EXPECT_GE(IOBOND_HANDSHAKE_MS, took)
			TH_LOG("dev%u: the first reset after the scribbling took %lld ms",
			       i, took);

		/* A well-behaved driver is served; a bad queue still refused. */
		WR64(slot->driver_features, 0);
		WR32(slot->status, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
		EXPECT_ANSWER(0, s, i, IOBOND_OP_STATUS, 0, seq++);
		WR64(slot->driver_features, le64toh(snap->device_features) &
					    NEED_FEATURES);
		WR32(slot->status, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			      VIRTIO_CONFIG_S_FEATURES_OK);
		EXPECT_ANSWER(0, s, i, IOBOND_OP_STATUS, 0, seq++);
		WR16(slot->vq[0].size, size);
		WR16(slot->vq[0].msix, 1);
		WR64(slot->vq[0].desc, zb + 0x1000);
		WR64(slot->vq[0].avail, zb + zs - 0x2000);
		WR16(slot->vq[0].size, 3);
		EXPECT_ANSWER(EINVAL, s, i, IOBOND_OP_QUEUE_ENABLE, 0, seq++);
		WR16(slot->vq[0].size, size);
		/* Past the zone: the next slot's, or past the window. */
		WR64(slot->vq[0].used, zb + zs);
		EXPECT_ANSWER(EINVAL, s, i, IOBOND_OP_QUEUE_ENABLE, 0, seq++);
		WR64(slot->vq[0].used, zb + zs - 0x1000);
		EXPECT_ANSWER(0, s, i, IOBOND_OP_QUEUE_ENABLE, 0, seq++);
		/* Once per reset: a live queue does not move. */
		EXPECT_ANSWER(EBUSY, s, i, IOBOND_OP_QUEUE_ENABLE, 0, seq++);
		WR32(slot->status, 0x1234);
		EXPECT_ANSWER(EINVAL, s, i, IOBOND_OP_STATUS, 0, seq++);
		EXPECT_ANSWER(0, s, i, IOBOND_OP_RESET, 0, seq++);
		clear_board_fields(s, i);
	}

	/* The host lives: its heartbeat moves, within the board's bound. */
	hb = RD64(s->r.hdr->host.heartbeat);
	end = iob_now_ms() + IOBOND_PEER_TIMEOUT_MS;
	while (RD64(s->r.hdr->host.heartbeat) == hb && iob_now_ms() < end)
		usleep(20000);
	EXPECT_NE(hb, RD64(s->r.hdr->host.heartbeat))
		TH_LOG("the host's heartbeat stood for %d ms", IOBOND_PEER_TIMEOUT_MS);
	EXPECT_EQ(IOBOND_MAGIC, RD32(s->r.hdr->magic));
	EXPECT_EQ(RD64(((struct iobond_link_hdr *)s->snap)->epoch),
		  RD64(s->r.hdr->epoch)) TH_LOG("the host formatted the region again");

	/* The host wrote nothing that is not its own. */
	usleep(2 * IOBOND_HEARTBEAT_MS * 1000);
	EXPECT_EQ(-1, first_change(s->r.shm, s->snap, board_blk,
				   sizeof(struct iobond_side)))
		TH_LOG("the board's block changed");
	EXPECT_TRUE(canary_intact(s))
		TH_LOG("the host wrote into the header page past the header");
	for (i = 0; i < IOBOND_MAX_DEVICES; i++) {
		/*
		 * All but config_generation, device_status, the answer to a
		 * request the board's driver may have left, and the config.
		 */
		static const struct field stable[] = {
			{ 0, SLOT_OFF(config_generation) },
			{ SLOT_OFF(device_features),
			  SLOT_OFF(device_status) - SLOT_OFF(device_features) },
			{ SLOT_OFF(driver_features),
			  SLOT_OFF(hs.ack_seq) - SLOT_OFF(driver_features) },
			{ SLOT_OFF(hs.reserved), SLOT_OFF(config) - SLOT_OFF(hs.reserved) },
		};
		long at = -1;

		if (!(s->keep & 1U << i))
			continue;
		for (k = 0; k < ARRAY_SIZE(stable) && at < 0; k++)
			at = first_change(slot_at(s, i), (const __u8 *)snap_slot(s, i),
					  stable[k].off, stable[k].len);
		EXPECT_EQ(-1, at) TH_LOG("kept slot dev%u changed at byte %ld", i, at);
	}
}

TEST_HARNESS_MAIN

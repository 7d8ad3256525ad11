// SPDX-License-Identifier: GPL-2.0
/*
 * The engine's queue relay, on the build machine: the real relay code
 * between a board's ring in one memory and its shadow in another.  Each
 * memory has an inaccessible page on either side, and everything of the
 * window but the shadow ring's page and the pool is inaccessible too, so
 * a stray access there kills the test (AddressSanitizer does not watch
 * mmap()ed memory; it and UBSan watch the engine's own).
 *
 * The board's driver and the host's device are played by the test: the
 * driver posts chains as virtio_ring.c would, and the device answers each
 * chain by writing its out-bytes, XORed, into its in-buffers.  Then both
 * sides misbehave: the board with random rings, loops and lengths, the
 * host with random completions.  The engine stops the queue (and for the
 * host's fault fails the board's chains), touches nothing outside what it
 * was given, and serves a legitimate queue again once restarted.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "../../../iobond/engine/engine.h"

#define MEM_SIZE	(1 << 20)
#define BRING		0x1000		/* the board's ring */
#define BBUF		0x10000		/* the board's buffers */
#define SRING		0x0		/* the shadow ring, in the window */
#define POOL		0x10000
#define POOL_SIZE	0x80000
#define RING		32		/* both rings' size */

/* A memory with an inaccessible page on each side. */
static void space_map(struct eng_space *s, uint64_t size)
{
	long pg = sysconf(_SC_PAGESIZE);
	uint8_t *p = mmap(NULL, size + 2 * pg, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED || mprotect(p + pg, size, PROT_READ | PROT_WRITE))
		abort();
	s->base = p + pg;
	s->start = 0;
	s->size = size;
}

static void space_unmap(struct eng_space *s)
{
	long pg = sysconf(_SC_PAGESIZE);

	munmap(s->base - pg, s->size + 2 * pg);
}

/* Where a ring of @n entries at @at lies: desc, then avail, then used. */
static struct eng_ring_addr ring_at(uint64_t at, uint16_t n)
{
	uint64_t avail = at + 16 * n;

	return (struct eng_ring_addr){
		.size = n, .desc = at, .avail = avail,
		.used = (avail + 6 + 2 * n + 3) & ~3ULL,
	};
}

/* The three parts of the ring @a in @mem. */
static void ring_find(struct eng_space *mem, struct eng_ring_addr a,
		      struct vring_desc **desc, struct vring_avail **avail,
		      struct vring_used **used)
{
	*desc = eng_ptr(mem, a.desc, 16 * a.size);
	*avail = eng_ptr(mem, a.avail, 6 + 2 * a.size);
	*used = eng_ptr(mem, a.used, 6 + 8 * a.size);
}

/* The board's driver, as the test plays it. */
struct drv {
	struct eng_space *mem;
	struct eng_ring_addr a;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t next_desc;	/* descriptors are handed out in turn */
	uint16_t avail_idx;
	uint16_t last_used;
	uint64_t next_buf;	/* and so are buffers */
};

static void drv_init(struct drv *d, struct eng_space *mem, uint16_t n)
{
	memset(d, 0, sizeof(*d));
	d->mem = mem;
	d->a = ring_at(BRING, n);
	ring_find(mem, d->a, &d->desc, &d->avail, &d->used);
	memset(d->desc, 0, d->a.used + 6 + 8 * n - d->a.desc);
	d->next_buf = BBUF;
}

static uint64_t drv_buf(struct drv *d, uint32_t len)
{
	uint64_t at = d->next_buf;

	d->next_buf += (len + 63) & ~63U;
	if (d->next_buf > MEM_SIZE)
		abort();
	return at;
}

/* Descriptor @i: @len bytes at @addr, device-writable if @write. */
static void drv_desc(struct vring_desc *table, uint16_t i, uint64_t addr,
		     uint32_t len, uint16_t flags, uint16_t next)
{
	table[i].addr = htole64(addr);
	table[i].len = htole32(len);
	table[i].flags = htole16(flags);
	table[i].next = htole16(next);
}

static void drv_publish(struct drv *d, uint16_t head)
{
	d->avail->ring[d->avail_idx % d->a.size] = htole16(head);
	__atomic_store_n(&d->avail->idx, htole16(++d->avail_idx),
			 __ATOMIC_RELEASE);
}

/* Post a chain of @nout readable and @nin writable buffers of @len bytes. */
static uint16_t drv_post(struct drv *d, unsigned int nout, unsigned int nin,
			 uint32_t len, uint8_t seed)
{
	uint16_t head = d->next_desc, i = head;
	unsigned int k, n = nout + nin;

	for (k = 0; k < n; k++) {
		uint64_t at = drv_buf(d, len);
		uint16_t next = (i + 1) % d->a.size;

		if (k < nout)
			memset(d->mem->base + at, seed + k, len);
		else
			memset(d->mem->base + at, 0xee, len);
		drv_desc(d->desc, i, at, len,
			 (k >= nout ? VRING_DESC_F_WRITE : 0) |
			 (k < n - 1 ? VRING_DESC_F_NEXT : 0), next);
		i = next;
	}
	d->next_desc = i;
	drv_publish(d, head);
	return head;
}

/* The host's device, as the test plays it: it holds what it took. */
struct dev {
	struct eng_space *win;
	struct eng_ring_addr a;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t last_avail;
	uint16_t used_idx;
	uint16_t held[1024];
	unsigned int nheld;
};

static void dev_init(struct dev *v, struct eng_space *win, uint16_t n)
{
	memset(v, 0, sizeof(*v));
	v->win = win;
	v->a = ring_at(win->start + SRING, n);
	ring_find(win, v->a, &v->desc, &v->avail, &v->used);
}

static void dev_take(struct dev *v)
{
	uint16_t idx = le16toh(__atomic_load_n(&v->avail->idx, __ATOMIC_ACQUIRE));

	while (v->last_avail != idx)
		v->held[v->nheld++] = le16toh(v->avail->ring[v->last_avail++ % v->a.size]);
}

/*
 * Answer chain @head: its in-bytes are its out-bytes XORed with 0xa5, in
 * a loop; the used length is @short_by less than the in-buffers hold.
 */
static void dev_answer(struct dev *v, uint16_t head, uint32_t short_by)
{
	uint8_t out[8192];
	uint32_t nout = 0, nin = 0, k;
	uint16_t i = head;
	struct vring_used_elem *e;

	for (;;) {
		struct vring_desc *d = &v->desc[i];
		uint8_t *p = eng_ptr(v->win, le64toh(d->addr), le32toh(d->len));

		if (!p)
			abort();
		for (k = 0; k < le32toh(d->len); k++) {
			if (le16toh(d->flags) & VRING_DESC_F_WRITE) {
				p[k] = (nout ? out[nin % nout] : 0) ^ 0xa5;
				nin++;
			} else if (nout < sizeof(out)) {
				out[nout++] = p[k];
			}
		}
		if (!(le16toh(d->flags) & VRING_DESC_F_NEXT))
			break;
		i = le16toh(d->next);
	}
	e = &v->used->ring[v->used_idx % v->a.size];
	e->id = htole32(head);
	e->len = htole32(nin > short_by ? nin - short_by : 0);
	__atomic_store_n(&v->used->idx, htole16(++v->used_idx), __ATOMIC_RELEASE);
}

/* Answer everything held, the last taken first when @reverse. */
static void dev_answer_all(struct dev *v, bool reverse, uint32_t short_by)
{
	unsigned int k;

	for (k = 0; k < v->nheld; k++)
		dev_answer(v, v->held[reverse ? v->nheld - 1 - k : k], short_by);
	v->nheld = 0;
}

FIXTURE(engine) {
	struct eng_space board, win;
	struct eng_vq vq;
	struct eng_vq_config cfg;
	struct drv d;
	struct dev v;
};

/* Only the shadow ring's page and the pool of the window are accessible. */
static void window_fence(struct eng_space *win)
{
	if (mprotect(win->base + 4096, POOL - 4096, PROT_NONE) ||
	    mprotect(win->base + POOL + POOL_SIZE, MEM_SIZE - POOL - POOL_SIZE,
		     PROT_NONE))
		abort();
}

/* Start the fixture's queue again, with @cfg, on fresh rings. */
static int restart(FIXTURE_DATA(engine) *self)
{
	eng_vq_stop(&self->vq);
	drv_init(&self->d, &self->board, self->cfg.board.size);
	dev_init(&self->v, &self->win, self->cfg.shadow.size);
	return eng_vq_start(&self->vq, &self->board, &self->win, &self->cfg);
}

FIXTURE_SETUP(engine)
{
	space_map(&self->board, MEM_SIZE);
	space_map(&self->win, MEM_SIZE);
	window_fence(&self->win);
	self->cfg = (struct eng_vq_config){
		.board = ring_at(BRING, RING),
		.shadow = ring_at(self->win.start + SRING, RING),
		.pool_off = self->win.start + POOL, .pool_size = POOL_SIZE,
	};
	ASSERT_EQ(0, restart(self));
}

FIXTURE_TEARDOWN(engine)
{
	eng_vq_stop(&self->vq);
	space_unmap(&self->board);
	space_unmap(&self->win);
}

/* EVENT_IDX's avail_event: the field after a used ring of @n entries. */
static uint16_t *avail_event_of(struct vring_used *u, uint16_t n)
{
	return (uint16_t *)((uint8_t *)u + 4 + 8 * n);
}

/* The board's used entry @k: its head and length. */
static struct vring_used_elem used_elem(struct drv *d, uint16_t k)
{
	struct vring_used_elem e = d->used->ring[k % d->a.size];

	e.id = le32toh(e.id);
	e.len = le32toh(e.len);
	return e;
}

/* Whether chain @head's in-buffers hold what the device wrote. */
static bool drv_check(struct drv *d, uint16_t head)
{
	uint8_t out[8192];
	uint32_t nout = 0, nin = 0, k;
	uint16_t i = head;

	for (;;) {
		struct vring_desc *x = &d->desc[i];
		uint8_t *p = d->mem->base + le64toh(x->addr);

		for (k = 0; k < le32toh(x->len); k++) {
			if (!(le16toh(x->flags) & VRING_DESC_F_WRITE))
				out[nout++] = p[k];
			else if (p[k] != (out[nin++ % nout] ^ 0xa5))
				return false;
		}
		if (!(le16toh(x->flags) & VRING_DESC_F_NEXT))
			return true;
		i = le16toh(x->next);
	}
}

/* The queue stopped on @who's fault, for a reason that names @what. */
#define EXPECT_FAULT(who, what) do {					\
	EXPECT_EQ(who, self->vq.state);					\
	EXPECT_TRUE(self->vq.why && strstr(self->vq.why, what))	\
		TH_LOG("fault \"%s\", not \"%s\"", self->vq.why, what); \
} while (0)

TEST_F(engine, chains_go_and_come_back)
{
	uint16_t heads[8];
	unsigned int k;

	for (k = 0; k < 8; k++)
		heads[k] = drv_post(&self->d, 1 + k % 3, 1 + k % 2, 100 + 300 * k, k);
	EXPECT_EQ(ENG_RING, eng_vq_relay_avail(&self->vq));
	EXPECT_EQ(8, eng_vq_inflight(&self->vq));
	dev_take(&self->v);
	ASSERT_EQ(8, self->v.nheld);
	/* Out of order, each said to be a few bytes short of its buffers. */
	dev_answer_all(&self->v, true, 7);
	EXPECT_EQ(ENG_RING, eng_vq_relay_used(&self->vq));
	EXPECT_EQ(ENG_RUNNING, self->vq.state);
	EXPECT_EQ(0, eng_vq_inflight(&self->vq));
	ASSERT_EQ(8, le16toh(self->d.used->idx));
	for (k = 0; k < 8; k++) {
		struct vring_used_elem e = used_elem(&self->d, k);
		uint32_t in = (1 + (7 - k) % 2) * (100 + 300 * (7 - k));

		EXPECT_EQ(heads[7 - k], e.id);
		EXPECT_EQ(in - 7, e.len);
		/* Everything the device wrote came back, past the length too. */
		EXPECT_TRUE(drv_check(&self->d, e.id)) TH_LOG("chain %u", e.id);
	}
	/* The shadow's descriptors and buffers all came back. */
	EXPECT_EQ(RING, self->vq.s_nfree);
	EXPECT_TRUE(eng_pool_empty(&self->vq.pool));
}

/*
 * A failed disk request as both blk backends answer it: only the status
 * byte, the chain's last, written, and a used length of 1.  The board's
 * virtio_blk reads the status there, whatever the length.
 */
/* Post a disk request: a 16-byte header, @len bytes to read, a status byte. */
static uint16_t post_blk_read(struct drv *d, uint32_t len, uint64_t *data,
			      uint64_t *status)
{
	uint16_t head = d->next_desc;
	uint64_t hdr = drv_buf(d, 16);

	*data = drv_buf(d, len);
	*status = drv_buf(d, 1);
	memset(d->mem->base + *data, 0xee, len);
	d->mem->base[*status] = 0;
	drv_desc(d->desc, head, hdr, 16, VRING_DESC_F_NEXT, head + 1);
	drv_desc(d->desc, head + 1, *data, len,
		 VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, head + 2);
	drv_desc(d->desc, head + 2, *status, 1, VRING_DESC_F_WRITE, 0);
	d->next_desc = head + 3;
	drv_publish(d, head);
	return head;
}

TEST_F(engine, blk_failure_reaches_the_status_byte)
{
	uint64_t data, status;
	struct vring_used_elem *e;
	uint16_t i;
	uint8_t *p;

	/* Stale bytes in the pool: the relay zeroes a chain's writable run. */
	memset(self->win.base + POOL, 0x77, POOL_SIZE);
	post_blk_read(&self->d, 512, &data, &status);
	eng_vq_relay_avail(&self->vq);
	dev_take(&self->v);
	ASSERT_EQ(1, self->v.nheld);
	/* The shadow chain's third descriptor is the status byte. */
	i = le16toh(self->v.desc[self->v.held[0]].next);
	i = le16toh(self->v.desc[i].next);
	p = eng_ptr(&self->win, le64toh(self->v.desc[i].addr), 1);
	ASSERT_NE(NULL, p);
	*p = 1;		/* VIRTIO_BLK_S_IOERR */
	e = &self->v.used->ring[0];
	e->id = htole32(self->v.held[0]);
	e->len = htole32(1);
	self->v.used->idx = htole16(1);
	eng_vq_relay_used(&self->vq);
	EXPECT_EQ(1, self->board.base[status]);
	EXPECT_EQ(1, used_elem(&self->d, 0).len);
	/* The data the device did not write: zeroes, not the pool's. */
	EXPECT_EQ(0, self->board.base[data]);
}

/*
 * A failed read after a write that used the same pool run: the bytes the
 * device did not write read as zeroes, never as the write's data.
 */
TEST_F(engine, unwritten_bytes_are_zeroes)
{
	uint64_t data, status;
	uint16_t i;

	self->cfg.pool_size = 1024;
	ASSERT_EQ(0, restart(self));
	drv_post(&self->d, 1, 1, 512, 0x5a);
	eng_vq_relay_avail(&self->vq);
	dev_take(&self->v);
	dev_answer_all(&self->v, false, 0);
	eng_vq_relay_used(&self->vq);

	data = drv_buf(&self->d, 512);
	status = drv_buf(&self->d, 1);
	memset(self->board.base + data, 0xee, 512);
	drv_desc(self->d.desc, 2, data, 512, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 3);
	drv_desc(self->d.desc, 3, status, 1, VRING_DESC_F_WRITE, 0);
	drv_publish(&self->d, 2);
	eng_vq_relay_avail(&self->vq);
	dev_take(&self->v);
	ASSERT_EQ(1, self->v.nheld);
	/* The device writes only the status byte, and says 1. */
	i = le16toh(self->v.desc[self->v.held[0]].next);
	*(uint8_t *)eng_ptr(&self->win, le64toh(self->v.desc[i].addr), 1) = 1;
	self->v.used->ring[1].id = htole32(self->v.held[0]);
	self->v.used->ring[1].len = htole32(1);
	self->v.used->idx = htole16(2);
	eng_vq_relay_used(&self->vq);
	EXPECT_EQ(1, self->board.base[status]);
	for (i = 0; i < 512; i++)
		ASSERT_EQ(0, self->board.base[data + i]) TH_LOG("byte %u", i);
}

/* A device that reports exactly what it wrote: only that comes back. */
TEST_F(engine, exact_length)
{
	uint64_t in;
	unsigned int k;

	self->cfg.exact_len = true;
	ASSERT_EQ(0, restart(self));
	drv_post(&self->d, 1, 2, 100, 3);
	in = le64toh(self->d.desc[1].addr);
	eng_vq_relay_avail(&self->vq);
	dev_take(&self->v);
	dev_answer_all(&self->v, false, 50);	/* wrote 200, says 150 */
	eng_vq_relay_used(&self->vq);
	EXPECT_EQ(150, used_elem(&self->d, 0).len);
	/* The first buffer whole, half the second, the rest untouched. */
	EXPECT_EQ(3 ^ 0xa5, self->board.base[in + 99]);
	in = le64toh(self->d.desc[2].addr);
	EXPECT_EQ(3 ^ 0xa5, self->board.base[in + 49]);
	for (k = 50; k < 100; k++)
		ASSERT_EQ(0xee, self->board.base[in + k]);
}

/* Direct descriptors, then an indirect table: virtio allows it. */
TEST_F(engine, indirect_after_direct)
{
	uint64_t t, out, in;
	struct vring_desc *table;

	self->cfg.indirect = true;
	ASSERT_EQ(0, restart(self));
	t = drv_buf(&self->d, 32);
	out = drv_buf(&self->d, 64);
	in = drv_buf(&self->d, 64);
	table = (struct vring_desc *)(self->board.base + t);
	memset(self->board.base + out, 0x22, 64);
	drv_desc(self->d.desc, 0, out, 32, VRING_DESC_F_NEXT, 1);
	drv_desc(self->d.desc, 1, t, 32, VRING_DESC_F_INDIRECT, 0);
	drv_desc(table, 0, out + 32, 32, VRING_DESC_F_NEXT, 1);
	drv_desc(table, 1, in, 64, VRING_DESC_F_WRITE, 0);
	drv_publish(&self->d, 0);
	eng_vq_relay_avail(&self->vq);
	dev_take(&self->v);
	dev_answer_all(&self->v, false, 0);
	eng_vq_relay_used(&self->vq);
	EXPECT_EQ(ENG_RUNNING, self->vq.state);
	EXPECT_EQ(64, used_elem(&self->d, 0).len);
	EXPECT_EQ(0x22 ^ 0xa5, self->board.base[in + 63]);
}

/* An indirect chain longer than the shadow ring, nothing in flight. */
TEST_F(engine, chain_longer_than_the_shadow)
{
	uint64_t t, buf;
	struct vring_desc *table;
	unsigned int j;

	self->cfg.indirect = true;
	ASSERT_EQ(0, restart(self));
	t = drv_buf(&self->d, (RING + 8) * 16);
	buf = drv_buf(&self->d, 64);
	table = (struct vring_desc *)(self->board.base + t);
	for (j = 0; j < RING + 8; j++)
		drv_desc(table, j, buf, 64, j < RING + 7 ? VRING_DESC_F_NEXT : 0, j + 1);
	drv_desc(self->d.desc, 0, t, (RING + 8) * 16, VRING_DESC_F_INDIRECT, 0);
	drv_publish(&self->d, 0);
	EXPECT_EQ(0, eng_vq_relay_avail(&self->vq));
	EXPECT_FAULT(ENG_BOARD_FAULT, "longer than the host's ring");
}

/* What went to the host before a board fault is still published. */
TEST_F(engine, fault_publishes_what_went_before)
{
	drv_post(&self->d, 1, 1, 64, 1);
	drv_publish(&self->d, RING + 3);	/* a head past the ring */
	EXPECT_EQ(ENG_RING, eng_vq_relay_avail(&self->vq));
	EXPECT_FAULT(ENG_BOARD_FAULT, "index past its table");
	EXPECT_EQ(1, le16toh(self->v.avail->idx));
}

/* Each ring's EVENT_IDX on its own. */
TEST_F(engine, event_idx_per_ring)
{
	uint16_t *board_avail_event = avail_event_of(self->d.used, RING);

	self->cfg.board_event_idx = true;
	ASSERT_EQ(0, restart(self));
	drv_post(&self->d, 1, 1, 64, 1);
	*avail_event_of(self->v.used, RING) = htole16(0xffff);	/* ignored */
	EXPECT_EQ(ENG_RING, eng_vq_relay_avail(&self->vq));
	EXPECT_EQ(1, le16toh(*board_avail_event));
	/* The board wants no interrupt before its 5th; the shadow's flags rule. */
	self->d.avail->ring[RING] = htole16(4);
	self->v.avail->ring[RING] = htole16(0xbeef);
	dev_take(&self->v);
	dev_answer_all(&self->v, false, 0);
	EXPECT_EQ(0, eng_vq_relay_used(&self->vq));
	EXPECT_EQ(0xbeef, le16toh(self->v.avail->ring[RING]));

	self->cfg.board_event_idx = false;
	self->cfg.shadow_event_idx = true;
	ASSERT_EQ(0, restart(self));
	board_avail_event = avail_event_of(self->d.used, RING);
	*avail_event_of(self->v.used, RING) = htole16(0);
	drv_post(&self->d, 1, 1, 64, 1);
	EXPECT_EQ(ENG_RING, eng_vq_relay_avail(&self->vq));
	drv_post(&self->d, 1, 1, 64, 2);
	EXPECT_EQ(0, eng_vq_relay_avail(&self->vq));
	EXPECT_EQ(0, le16toh(*board_avail_event));
	/* The board's flags rule; the shadow's used_event is written. */
	self->d.avail->ring[RING] = htole16(4);
	dev_take(&self->v);
	dev_answer_all(&self->v, false, 0);
	EXPECT_EQ(ENG_RING, eng_vq_relay_used(&self->vq));
	EXPECT_EQ(2, le16toh(self->v.avail->ring[RING]));
}

/* The test's other side, moving just before each event index is written. */
static struct {
	struct drv *d;
	struct dev *v;
	unsigned int left;
} racer;

static void board_posts_meanwhile(void)
{
	if (racer.left && racer.left--)
		drv_post(racer.d, 1, 1, 64, racer.left);
}

static void host_completes_meanwhile(void)
{
	if (racer.left && racer.left--)
		dev_answer(racer.v, racer.v->held[racer.v->nheld - 1 - racer.left], 0);
}

/*
 * A board that keeps adding while the engine rearms: after a few passes
 * the relay says ENG_AGAIN, and run again it takes everything.  Without
 * it the engine would wait for a kick the board does not owe.
 */
TEST_F(engine, relays_say_again)
{
	unsigned int ret, runs = 0;

	self->cfg.board_event_idx = true;
	self->cfg.shadow_event_idx = true;
	ASSERT_EQ(0, restart(self));
	racer.d = &self->d;
	racer.v = &self->v;
	racer.left = 10;
	drv_post(&self->d, 1, 1, 64, 99);
	eng_test_before_rearm = board_posts_meanwhile;
	do {
		ret = eng_vq_relay_avail(&self->vq);
		runs++;
	} while (ret & ENG_AGAIN);
	EXPECT_LT(1, runs);
	EXPECT_EQ(11, eng_vq_inflight(&self->vq));
	EXPECT_EQ(11, le16toh(*avail_event_of(self->d.used, RING)));

	dev_take(&self->v);
	ASSERT_EQ(11, self->v.nheld);
	dev_answer(&self->v, self->v.held[0], 0);
	racer.left = 10;
	eng_test_before_rearm = host_completes_meanwhile;
	runs = 0;
	do {
		ret = eng_vq_relay_used(&self->vq);
		runs++;
	} while (ret & ENG_AGAIN);
	eng_test_before_rearm = NULL;
	EXPECT_LT(1, runs);
	EXPECT_EQ(0, eng_vq_inflight(&self->vq));
	EXPECT_EQ(11, le16toh(self->d.used->idx));
}

/* The window as one device's zone: its addresses are window offsets. */
TEST_F(engine, zone_addresses)
{
	uint64_t addr;

	self->win.start = 0x300000;
	self->cfg.shadow = ring_at(self->win.start + SRING, RING);
	self->cfg.pool_off = self->win.start + POOL;
	ASSERT_EQ(0, restart(self));
	drv_post(&self->d, 1, 1, 100, 7);
	eng_vq_relay_avail(&self->vq);
	dev_take(&self->v);
	ASSERT_EQ(1, self->v.nheld);
	addr = le64toh(self->v.desc[self->v.held[0]].addr);
	EXPECT_LE(self->win.start + POOL, addr);
	EXPECT_GT(self->win.start + POOL + POOL_SIZE, addr);
	dev_answer_all(&self->v, false, 0);
	eng_vq_relay_used(&self->vq);
	EXPECT_EQ(ENG_RUNNING, self->vq.state);
	EXPECT_TRUE(drv_check(&self->d, 0));
}

/* A host that says it wrote more than the chain holds is cut short. */
TEST_F(engine, used_length_cut_to_the_buffers)
{
	drv_post(&self->d, 1, 2, 100, 1);
	eng_vq_relay_avail(&self->vq);
	dev_take(&self->v);
	dev_answer_all(&self->v, false, 0);
	self->v.used->ring[0].len = htole32(0xffffffff);
	eng_vq_relay_used(&self->vq);
	EXPECT_EQ(ENG_RUNNING, self->vq.state);
	EXPECT_EQ(200, used_elem(&self->d, 0).len);
}

TEST_F(engine, indirect_tables)
{
	struct vring_desc *table;
	uint64_t t, out, in;
	struct vring_used_elem e;

	self->cfg.indirect = true;
	ASSERT_EQ(0, restart(self));
	t = drv_buf(&self->d, 3 * 16);
	out = drv_buf(&self->d, 64);
	in = drv_buf(&self->d, 128);
	table = (struct vring_desc *)(self->board.base + t);
	memset(self->board.base + out, 0x11, 64);
	memset(self->board.base + in, 0xee, 128);
	drv_desc(table, 0, out, 32, VRING_DESC_F_NEXT, 1);
	drv_desc(table, 1, out + 32, 32, VRING_DESC_F_NEXT, 2);
	drv_desc(table, 2, in, 128, VRING_DESC_F_WRITE, 0);
	drv_desc(self->d.desc, 5, t, 3 * 16, VRING_DESC_F_INDIRECT, 0);
	drv_publish(&self->d, 5);
	eng_vq_relay_avail(&self->vq);
	dev_take(&self->v);
	dev_answer_all(&self->v, false, 0);
	eng_vq_relay_used(&self->vq);
	EXPECT_EQ(ENG_RUNNING, self->vq.state);
	e = used_elem(&self->d, 0);
	EXPECT_EQ(5, e.id);
	EXPECT_EQ(128, e.len);
	EXPECT_EQ(0x11 ^ 0xa5, self->board.base[in + 127]);
}

TEST_F(engine, indirect_refused_unless_negotiated)
{
	drv_desc(self->d.desc, 0, BBUF, 16, VRING_DESC_F_INDIRECT, 0);
	drv_publish(&self->d, 0);
	EXPECT_EQ(0, eng_vq_relay_avail(&self->vq));
	EXPECT_FAULT(ENG_BOARD_FAULT, "indirect descriptor where none");
}

/* A board chain of 1 descriptor may be 8 shadow ones: 4 fit at once. */
TEST_F(engine, waits_for_room)
{
	unsigned int k, done = 0;
	uint64_t walks;

	self->cfg.indirect = true;
	ASSERT_EQ(0, restart(self));
	for (k = 0; k < 12; k++) {
		uint64_t t = drv_buf(&self->d, 8 * 16), buf = drv_buf(&self->d, 8 * 64);
		struct vring_desc *table = (struct vring_desc *)(self->board.base + t);
		unsigned int j;

		for (j = 0; j < 8; j++)
			drv_desc(table, j, buf + 64 * j, 64,
				 (j >= 4 ? VRING_DESC_F_WRITE : 0) |
				 (j < 7 ? VRING_DESC_F_NEXT : 0), j + 1);
		drv_desc(self->d.desc, k, t, 8 * 16, VRING_DESC_F_INDIRECT, 0);
		drv_publish(&self->d, k);
	}
	eng_vq_relay_avail(&self->vq);
	EXPECT_EQ(4, eng_vq_inflight(&self->vq));
	EXPECT_EQ(1, self->vq.st.stalls);
	/* Kicks while it waits do not walk the waiting chain again. */
	walks = self->vq.st.stalls;
	eng_vq_relay_avail(&self->vq);
	EXPECT_EQ(walks, self->vq.st.stalls);
	/* One completion makes room for one more. */
	dev_take(&self->v);
	dev_answer(&self->v, self->v.held[0], 0);
	self->v.held[0] = self->v.held[--self->v.nheld];
	eng_vq_relay_used(&self->vq);
	eng_vq_relay_avail(&self->vq);
	EXPECT_EQ(4, eng_vq_inflight(&self->vq));
	EXPECT_EQ(1, le16toh(self->d.used->idx));
	done = 1;
	while (done < 12) {
		dev_take(&self->v);
		done += self->v.nheld;
		ASSERT_LT(0, self->v.nheld);
		dev_answer_all(&self->v, false, 0);
		eng_vq_relay_used(&self->vq);
		eng_vq_relay_avail(&self->vq);
	}
	EXPECT_EQ(12, le16toh(self->d.used->idx));
	EXPECT_EQ(ENG_RUNNING, self->vq.state);
	EXPECT_TRUE(eng_pool_empty(&self->vq.pool));
}

TEST_F(engine, waits_for_pool_room)
{
	self->cfg.pool_size = 8192;
	ASSERT_EQ(0, restart(self));
	drv_post(&self->d, 1, 1, 3000, 1);
	drv_post(&self->d, 1, 1, 3000, 2);
	eng_vq_relay_avail(&self->vq);
	EXPECT_EQ(1, eng_vq_inflight(&self->vq));
	dev_take(&self->v);
	dev_answer_all(&self->v, false, 0);
	eng_vq_relay_used(&self->vq);
	eng_vq_relay_avail(&self->vq);
	EXPECT_EQ(1, eng_vq_inflight(&self->vq));
	/* A chain bigger than the whole pool can never go: a fault. */
	dev_take(&self->v);
	dev_answer_all(&self->v, false, 0);
	eng_vq_relay_used(&self->vq);
	drv_post(&self->d, 1, 0, 9000, 3);
	eng_vq_relay_avail(&self->vq);
	EXPECT_FAULT(ENG_BOARD_FAULT, "larger than its queue's buffers");
}

/* A ring full of chains, as virtio_net's receive queue starts. */
TEST_F(engine, full_ring)
{
	unsigned int k;

	for (k = 0; k < RING; k++)
		drv_post(&self->d, 0, 1, 64, k);
	eng_vq_relay_avail(&self->vq);
	EXPECT_EQ(ENG_RUNNING, self->vq.state);
	EXPECT_EQ(RING, eng_vq_inflight(&self->vq));
}

/* 70,000 chains through one queue: every index wraps. */
TEST_F(engine, indices_wrap)
{
	unsigned int k, bad = 0;

	for (k = 0; k < 70000; k++) {
		if (k % RING == 0)
			self->d.next_buf = BBUF;
		drv_post(&self->d, 1, 1, 64, k);
		eng_vq_relay_avail(&self->vq);
		dev_take(&self->v);
		dev_answer_all(&self->v, false, 0);
		eng_vq_relay_used(&self->vq);
		bad += !drv_check(&self->d, used_elem(&self->d, k).id);
	}
	EXPECT_EQ(ENG_RUNNING, self->vq.state);
	EXPECT_EQ(0, bad);
	EXPECT_EQ((uint16_t)70000, le16toh(self->d.used->idx));
	EXPECT_EQ(70000, self->vq.st.completions);
}

TEST_F(engine, event_idx)
{
	uint16_t *used_event, *avail_event;
	unsigned int k;

	self->cfg.board_event_idx = true;
	self->cfg.shadow_event_idx = true;
	ASSERT_EQ(0, restart(self));
	used_event = &self->d.avail->ring[RING];
	avail_event = avail_event_of(self->d.used, RING);
	/* The board wants an interrupt after its 6th completion. */
	*used_event = htole16(5);
	for (k = 0; k < 6; k++)
		drv_post(&self->d, 1, 1, 64, k);
	/* The host's device asks for a kick at the first chain only. */
	*avail_event_of(self->v.used, RING) = htole16(0);
	EXPECT_EQ(ENG_RING, eng_vq_relay_avail(&self->vq));
	EXPECT_EQ(6, le16toh(*avail_event));
	drv_post(&self->d, 1, 1, 64, 9);
	EXPECT_EQ(0, eng_vq_relay_avail(&self->vq));
	EXPECT_EQ(7, le16toh(*avail_event));
	EXPECT_EQ(1, self->vq.st.host_kicks);
	dev_take(&self->v);
	for (k = 0; k < 3; k++)
		dev_answer(&self->v, self->v.held[k], 0);
	EXPECT_EQ(0, eng_vq_relay_used(&self->vq));
	EXPECT_EQ(3, le16toh(self->v.avail->ring[RING]));
	for (; k < 7; k++)
		dev_answer(&self->v, self->v.held[k], 0);
	EXPECT_EQ(ENG_RING, eng_vq_relay_used(&self->vq));
	EXPECT_EQ(1, self->vq.st.board_irqs);
}

/*
 * Quiet (a disk): while the host holds chains, more than one, the board
 * is not asked to kick, and a completion's relay takes what it added; once
 * the host holds one or none, the board is asked to kick at its next chain
 * again, and so it is after eng_vq_unquiet() until the next completion.
 */
TEST_F(engine, quiet_while_the_host_holds_chains)
{
	uint16_t *kick_at = avail_event_of(self->d.used, RING);

	self->cfg.board_event_idx = self->cfg.shadow_event_idx = true;
	self->cfg.quiet = true;
	ASSERT_EQ(0, restart(self));
	/* One chain alone: kicks as ever. */
	drv_post(&self->d, 1, 1, 64, 1);
	EXPECT_EQ(ENG_RING, eng_vq_relay_avail(&self->vq));
	EXPECT_EQ(1, le16toh(*kick_at));
	/* Two: quiet; two more move the board's index past the event. */
	drv_post(&self->d, 1, 1, 64, 2);
	EXPECT_EQ(ENG_QUIET, eng_vq_relay_avail(&self->vq) & ENG_QUIET);
	EXPECT_EQ(1, le16toh(*kick_at));
	drv_post(&self->d, 1, 1, 64, 3);
	drv_post(&self->d, 1, 1, 64, 4);
	/* The host answers one: its relay takes the other two. */
	dev_take(&self->v);
	dev_answer(&self->v, self->v.held[0], 0);
	self->v.held[0] = self->v.held[1];
	self->v.nheld = 1;
	eng_vq_relay_used(&self->vq);
	EXPECT_EQ(ENG_QUIET, eng_vq_relay_avail(&self->vq) & ENG_QUIET);
	EXPECT_EQ(4, le16toh(self->v.avail->idx));
	EXPECT_EQ(1, le16toh(*kick_at));
	/* All answered: kicks on again, at the next chain. */
	dev_take(&self->v);
	dev_answer_all(&self->v, false, 0);
	eng_vq_relay_used(&self->vq);
	EXPECT_EQ(0, eng_vq_relay_avail(&self->vq));
	EXPECT_EQ(4, le16toh(*kick_at));
	EXPECT_EQ(4, le16toh(self->d.used->idx));
	EXPECT_TRUE(drv_check(&self->d, 0));

	/*
	 * The host goes silent: unquiet, the queue asks for kicks again, and
	 * a chain added then goes at once; the host's next completion makes
	 * it quiet again.
	 */
	drv_post(&self->d, 1, 1, 64, 5);
	drv_post(&self->d, 1, 1, 64, 6);
	EXPECT_EQ(ENG_QUIET, eng_vq_relay_avail(&self->vq) & ENG_QUIET);
	eng_vq_unquiet(&self->vq);
	EXPECT_EQ(0, eng_vq_relay_avail(&self->vq) & ENG_QUIET);
	EXPECT_EQ(6, le16toh(*kick_at));
	drv_post(&self->d, 1, 1, 64, 7);
	EXPECT_EQ(0, eng_vq_relay_avail(&self->vq) & ENG_QUIET);
	EXPECT_EQ(7, le16toh(self->v.avail->idx));
	EXPECT_EQ(7, le16toh(*kick_at));
	dev_take(&self->v);
	dev_answer(&self->v, self->v.held[0], 0);
	eng_vq_relay_used(&self->vq);
	EXPECT_EQ(ENG_QUIET, eng_vq_relay_avail(&self->vq) & ENG_QUIET);
	EXPECT_EQ(1, self->vq.st.unquiet);
}

TEST_F(engine, flags_suppress_without_event_idx)
{
	drv_post(&self->d, 1, 1, 64, 1);
	self->v.used->flags = htole16(VRING_USED_F_NO_NOTIFY);
	EXPECT_EQ(0, eng_vq_relay_avail(&self->vq));
	self->v.used->flags = 0;
	drv_post(&self->d, 1, 1, 64, 2);
	EXPECT_EQ(ENG_RING, eng_vq_relay_avail(&self->vq));
	dev_take(&self->v);
	dev_answer(&self->v, self->v.held[0], 0);
	self->d.avail->flags = htole16(VRING_AVAIL_F_NO_INTERRUPT);
	EXPECT_EQ(0, eng_vq_relay_used(&self->vq));
	self->d.avail->flags = 0;
	dev_answer(&self->v, self->v.held[1], 0);
	EXPECT_EQ(ENG_RING, eng_vq_relay_used(&self->vq));
	EXPECT_EQ(2, le16toh(self->d.used->idx));
}

/* A board's broken chains, each of which must stop the queue. */
TEST_F(engine, board_faults)
{
	static const struct {
		const char *why;
		uint64_t addr;
		uint32_t len;
		uint16_t flags, next;
		uint16_t head;
	} bad[] = {
		{ "loops", BBUF, 64, VRING_DESC_F_NEXT, 0, 0 },
		{ "index past its table", BBUF, 64, 0, 0, RING },
		{ "index past its table", BBUF, 64, VRING_DESC_F_NEXT, 999, 0 },
		{ "outside the board", MEM_SIZE - 10, 11, 0, 0, 0 },
		{ "outside the board", ~0ULL - 4, 64, 0, 0, 0 },
		{ "outside the board", BBUF, 0xffffffff, 0, 0, 0 },
		{ "readable buffer after a writable", BBUF, 64,
		  VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1, 0 },
		{ "indirect descriptor where none", BBUF, 32, VRING_DESC_F_INDIRECT, 0, 0 },
	};
	unsigned int k;

	for (k = 0; k < ARRAY_SIZE(bad); k++) {
		ASSERT_EQ(0, restart(self));
		drv_desc(self->d.desc, 0, bad[k].addr, bad[k].len, bad[k].flags,
			 bad[k].next);
		/* Descriptor 1, for a chain that goes on: readable. */
		drv_desc(self->d.desc, 1, BBUF, 64, 0, 0);
		drv_publish(&self->d, bad[k].head);
		EXPECT_EQ(0, eng_vq_relay_avail(&self->vq));
		EXPECT_FAULT(ENG_BOARD_FAULT, bad[k].why);
		EXPECT_EQ(0, eng_vq_inflight(&self->vq));
	}
	/* Avail indices that leap a ring ahead, or go back. */
	for (k = 0; k < 2; k++) {
		ASSERT_EQ(0, restart(self));
		self->d.avail->idx = htole16(k ? 0xffff : RING + 1);
		EXPECT_EQ(0, eng_vq_relay_avail(&self->vq));
		EXPECT_FAULT(ENG_BOARD_FAULT, "avail index beyond its ring");
	}
}

/* Indirect tables that nest, loop, are misshapen, carry NEXT or lie outside. */
TEST_F(engine, indirect_faults)
{
	static const struct {
		const char *why;
		uint16_t head_flags;	/* besides INDIRECT */
		uint32_t len;		/* of the table */
		bool nest, loop, outside;
	} bad[] = {
		{ "indirect descriptor where none", 0, 32, .nest = true },
		{ "loops", 0, 32, .loop = true },
		{ "bad length", 0, 0 },
		{ "bad length", 0, 24 },
		{ "outside the board", 0, 32, .outside = true },
		{ "indirect descriptor where none", VRING_DESC_F_NEXT, 32 },
	};
	struct vring_desc *table;
	unsigned int k;
	uint64_t t;

	self->cfg.indirect = true;
	for (k = 0; k < ARRAY_SIZE(bad); k++) {
		ASSERT_EQ(0, restart(self));
		t = drv_buf(&self->d, 64);
		table = (struct vring_desc *)(self->board.base + t);
		drv_desc(table, 0, bad[k].nest ? t : BBUF + 4096, 64,
			 bad[k].nest ? VRING_DESC_F_INDIRECT : VRING_DESC_F_NEXT, 1);
		drv_desc(table, 1, BBUF + 4096, 64,
			 bad[k].loop ? VRING_DESC_F_NEXT : 0, 0);
		drv_desc(self->d.desc, 0, bad[k].outside ? MEM_SIZE - 16 : t,
			 bad[k].len, VRING_DESC_F_INDIRECT | bad[k].head_flags, 1);
		drv_publish(&self->d, 0);
		EXPECT_EQ(0, eng_vq_relay_avail(&self->vq));
		EXPECT_FAULT(ENG_BOARD_FAULT, bad[k].why);
	}
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * Random rings from the board, rounds of them, with the host's device
 * answering whatever gets through.  Then a legitimate queue still works.
 */
TEST_F(engine, board_scribbles)
{
	uint64_t seed = 0x10b0d, chains = 0;
	unsigned int round, k, faults = 0;

	self->cfg.indirect = true;
	self->cfg.board_event_idx = true;
	self->cfg.shadow_event_idx = true;
	for (round = 0; round < 10000; round++) {
		uint8_t *ring = self->board.base + BRING;

		ASSERT_EQ(0, restart(self));
		for (k = 0; k < self->d.a.used + 6 + 8 * RING - BRING; k++)
			ring[k] = rnd(&seed);
		/* Mostly chains that could be, so that some go through. */
		for (k = 0; k < RING; k++) {
			struct vring_desc *x = &self->d.desc[k];
			uint16_t flags = 0;

			if (rnd(&seed) % 8)
				x->addr = htole64(BBUF + rnd(&seed) % (MEM_SIZE - BBUF));
			if (rnd(&seed) % 16)
				x->len = htole32(rnd(&seed) % 5000);
			if (rnd(&seed) % 2)
				flags |= VRING_DESC_F_NEXT;
			if (rnd(&seed) % 3 == 0)
				flags |= VRING_DESC_F_WRITE;
			if (rnd(&seed) % 16 == 0)
				flags |= VRING_DESC_F_INDIRECT;
			if (rnd(&seed) % 32)
				x->flags = htole16(flags);
			if (rnd(&seed) % 4)
				x->next = htole16((k + 1) % RING);
			else
				x->next = htole16(rnd(&seed) % (RING + 6));
		}
		for (k = 0; k < RING; k++)
			self->d.avail->ring[k] = htole16(rnd(&seed) % (RING + 6));
		self->d.avail->idx = htole16(rnd(&seed) % (rnd(&seed) % 8 ? 8 : 80));
		for (k = 0; k < 4 && self->vq.state == ENG_RUNNING; k++) {
			eng_vq_relay_avail(&self->vq);
			dev_take(&self->v);
			dev_answer_all(&self->v, k & 1, 0);
			eng_vq_relay_used(&self->vq);
		}
		faults += self->vq.state == ENG_BOARD_FAULT;
		chains += self->vq.st.completions;
		EXPECT_NE(ENG_HOST_FAULT, self->vq.state);
	}
	TH_LOG("%u of %u rounds faulted; %llu chains went through", faults,
	       round, (unsigned long long)chains);
	EXPECT_LT(0, faults);
	EXPECT_LT(round / 10, chains);

	/* Started again, the queue serves a driver that keeps the rules. */
	ASSERT_EQ(0, restart(self));
	drv_post(&self->d, 2, 2, 500, 3);
	eng_vq_relay_avail(&self->vq);
	dev_take(&self->v);
	dev_answer_all(&self->v, false, 0);
	eng_vq_relay_used(&self->vq);
	EXPECT_EQ(ENG_RUNNING, self->vq.state);
	EXPECT_EQ(1, le16toh(self->d.used->idx));
	EXPECT_TRUE(drv_check(&self->d, 0));
}

/* Take [@at, @at + @len) of the board's memory as it is now into @copy. */
static void allow(uint8_t *copy, struct drv *d, uint64_t at, uint64_t len)
{
	memcpy(copy + at, d->mem->base + at, len);
}

/*
 * A host that completes what it never got, twice, or with lengths past
 * the buffers, and scribbles over the shadow ring meanwhile: the engine
 * writes the board's memory only where the board's chains let it.
 */
TEST_F(engine, host_scribbles)
{
	uint64_t seed = 0xb0a4d;
	uint8_t *before = malloc(MEM_SIZE);
	unsigned int round, k, faults = 0;

	ASSERT_NE(NULL, before);
	for (round = 0; round < 500; round++) {
		bool seen[RING] = { false };

		/* Disks and NICs, with EVENT_IDX or not, quiet or not. */
		self->cfg.fail_status = round & 1;
		self->cfg.board_event_idx = self->cfg.shadow_event_idx = round & 2;
		self->cfg.quiet = round & 4;
		ASSERT_EQ(0, restart(self));
		for (k = 0; k < 4; k++)
			drv_post(&self->d, 1, 1, 256, k);
		eng_vq_relay_avail(&self->vq);
		memcpy(before, self->board.base, MEM_SIZE);
		for (k = 0; k < 16 * RING + 6 + 2 * RING; k++)
			self->win.base[SRING + k] = rnd(&seed);
		for (k = 0; k < RING; k++) {
			self->v.used->ring[k].id = htole32(rnd(&seed) % 40);
			self->v.used->ring[k].len = htole32(rnd(&seed));
		}
		self->v.used->idx = htole16(rnd(&seed) % 8);
		eng_vq_relay_used(&self->vq);
		faults += self->vq.state == ENG_HOST_FAULT;
		EXPECT_NE(ENG_BOARD_FAULT, self->vq.state);

		/* Only the used ring and the in-buffers may have changed. */
		allow(before, &self->d, self->d.a.used, 6 + 8 * RING);
		for (k = 0; k < 8; k++)
			if (le16toh(self->d.desc[k].flags) & VRING_DESC_F_WRITE)
				allow(before, &self->d, le64toh(self->d.desc[k].addr),
				      le32toh(self->d.desc[k].len));
		ASSERT_EQ(0, memcmp(before, self->board.base, MEM_SIZE));
		/* After a fault, a chain the board adds fails at once. */
		if (self->vq.state == ENG_HOST_FAULT) {
			drv_post(&self->d, 1, 1, 256, 9);
			memcpy(before, self->board.base, MEM_SIZE);
			eng_vq_relay_used(&self->vq);
			allow(before, &self->d, self->d.a.used, 6 + 8 * RING);
			allow(before, &self->d, le64toh(self->d.desc[9].addr), 256);
			ASSERT_EQ(0, memcmp(before, self->board.base, MEM_SIZE));
			ASSERT_EQ(5, le16toh(self->d.used->idx));
			EXPECT_EQ(self->cfg.fail_status, used_elem(&self->d, 4).len);
		}
		/*
		 * And no used length says more than the in-buffers hold, and
		 * every head the board used is one it made available, once.
		 */
		for (k = 0; k < le16toh(self->d.used->idx); k++) {
			struct vring_used_elem e = used_elem(&self->d, k);

			ASSERT_GE(256, e.len);
			ASSERT_TRUE(e.id < 10 && !(e.id & 1) && !seen[e.id]);
			seen[e.id] = true;
		}
	}
	TH_LOG("%u of %u rounds faulted", faults, round);
	EXPECT_LT(0, faults);
	free(before);
}

TEST_F(engine, host_faults)
{
	drv_post(&self->d, 1, 1, 64, 1);
	eng_vq_relay_avail(&self->vq);
	dev_take(&self->v);
	/* One chain held, two said used. */
	dev_answer(&self->v, self->v.held[0], 0);
	self->v.used->idx = htole16(2);
	eng_vq_relay_used(&self->vq);
	EXPECT_FAULT(ENG_HOST_FAULT, "used index past what it holds");
	/* The chain it did hold is failed, not answered. */
	EXPECT_EQ(1, le16toh(self->d.used->idx));
	EXPECT_EQ(0, used_elem(&self->d, 0).len);
	EXPECT_EQ(0xee, self->board.base[le64toh(self->d.desc[1].addr)]);

	ASSERT_EQ(0, restart(self));
	drv_post(&self->d, 1, 1, 64, 1);
	drv_post(&self->d, 1, 1, 64, 2);
	eng_vq_relay_avail(&self->vq);
	dev_take(&self->v);
	/* The same chain used twice. */
	dev_answer(&self->v, self->v.held[0], 0);
	dev_answer(&self->v, self->v.held[0], 0);
	eng_vq_relay_used(&self->vq);
	EXPECT_FAULT(ENG_HOST_FAULT, "chain it does not hold");
	/* The first answer went back; the other chain it held failed. */
	EXPECT_EQ(2, le16toh(self->d.used->idx));
	EXPECT_TRUE(drv_check(&self->d, used_elem(&self->d, 0).id));
	EXPECT_EQ(0, used_elem(&self->d, 1).len);
}

/*
 * After a host fault, a disk's requests, those the host held and those
 * made later, come back VIRTIO_BLK_S_IOERR at once, with nothing of the
 * host's in them; the board never waits on the broken host.  A restart
 * serves again.
 */
TEST_F(engine, host_fault_fails_the_disk_requests)
{
	uint64_t data[3], status[3];
	uint8_t *p;
	unsigned int k;

	self->cfg.fail_status = true;
	ASSERT_EQ(0, restart(self));
	for (k = 0; k < 2; k++)
		post_blk_read(&self->d, 512, &data[k], &status[k]);
	eng_vq_relay_avail(&self->vq);
	dev_take(&self->v);
	ASSERT_EQ(2, self->v.nheld);
	/* The host writes its data, then completes a chain it never got. */
	p = eng_ptr(&self->win,
		    le64toh(self->v.desc[le16toh(self->v.desc[self->v.held[0]].next)].addr),
		    512);
	ASSERT_NE(NULL, p);
	memset(p, 0x5a, 512);
	self->v.used->ring[0].id = htole32(RING - 1);
	self->v.used->idx = htole16(1);
	EXPECT_EQ(ENG_RING, eng_vq_relay_used(&self->vq));
	EXPECT_FAULT(ENG_HOST_FAULT, "chain it does not hold");
	ASSERT_EQ(2, le16toh(self->d.used->idx));
	for (k = 0; k < 2; k++) {
		EXPECT_EQ(1, used_elem(&self->d, k).len);
		EXPECT_EQ(1, self->board.base[status[k]]);
		EXPECT_EQ(0xee, self->board.base[data[k]]);
	}
	/* A request made later fails at once, on the board's kick. */
	post_blk_read(&self->d, 512, &data[2], &status[2]);
	EXPECT_EQ(0, eng_vq_relay_avail(&self->vq));
	EXPECT_EQ(ENG_RING, eng_vq_relay_used(&self->vq));
	EXPECT_EQ(3, le16toh(self->d.used->idx));
	EXPECT_EQ(1, self->board.base[status[2]]);
	EXPECT_EQ(3, self->vq.st.failed);
	/* Nothing more went to the host. */
	EXPECT_EQ(2, le16toh(self->v.avail->idx));

	ASSERT_EQ(0, restart(self));
	drv_post(&self->d, 1, 1, 64, 7);
	eng_vq_relay_avail(&self->vq);
	dev_take(&self->v);
	dev_answer_all(&self->v, false, 0);
	eng_vq_relay_used(&self->vq);
	EXPECT_EQ(ENG_RUNNING, self->vq.state);
	EXPECT_TRUE(drv_check(&self->d, 0));
}

/*
 * A NIC's receive queue after a host fault: the buffers the host held come
 * back empty, and the board's refill stays the board's.  Failed at once,
 * it would come back and be refilled again, for ever.
 */
TEST_F(engine, host_fault_leaves_receive_buffers)
{
	self->cfg.exact_len = true;
	ASSERT_EQ(0, restart(self));
	drv_post(&self->d, 0, 1, 64, 1);
	drv_post(&self->d, 0, 1, 64, 2);
	eng_vq_relay_avail(&self->vq);
	dev_take(&self->v);
	self->v.used->idx = htole16(5);
	eng_vq_relay_used(&self->vq);
	EXPECT_FAULT(ENG_HOST_FAULT, "used index past what it holds");
	EXPECT_EQ(2, le16toh(self->d.used->idx));
	EXPECT_EQ(0, used_elem(&self->d, 0).len);
	EXPECT_EQ(0, used_elem(&self->d, 1).len);
	drv_post(&self->d, 0, 1, 64, 3);
	EXPECT_EQ(0, eng_vq_relay_used(&self->vq));
	EXPECT_EQ(2, le16toh(self->d.used->idx));
	EXPECT_EQ(ENG_HOST_FAULT, self->vq.state);
	EXPECT_TRUE(self->vq.parked);
	/* Parked: a kick walks the chain no more (a loop now goes unseen). */
	drv_desc(self->d.desc, 2, BBUF, 64, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
	EXPECT_EQ(0, eng_vq_relay_used(&self->vq));
	EXPECT_EQ(ENG_HOST_FAULT, self->vq.state);
}

/*
 * A NIC's transmit queue after a host fault: packets the board sends are
 * failed at once, length 0 (dropped), and with EVENT_IDX the board is
 * asked to kick at its next; a quiet disk's queue is asked likewise.
 */
TEST_F(engine, host_fault_drops_transmits)
{
	uint16_t *kick_at = avail_event_of(self->d.used, RING);
	unsigned int quiet;

	for (quiet = 0; quiet < 2; quiet++) {
		self->cfg.exact_len = !quiet;
		self->cfg.fail_status = self->cfg.quiet = quiet;
		self->cfg.board_event_idx = self->cfg.shadow_event_idx = true;
		ASSERT_EQ(0, restart(self));
		drv_post(&self->d, 1, 0, 64, 1);
		drv_post(&self->d, 1, 0, 64, 2);
		drv_post(&self->d, 1, 0, 64, 3);
		eng_vq_relay_avail(&self->vq);
		self->v.used->idx = htole16(9);
		eng_vq_relay_used(&self->vq);
		EXPECT_FAULT(ENG_HOST_FAULT, "used index past what it holds");
		EXPECT_EQ(3, le16toh(self->d.used->idx));
		EXPECT_EQ(3, le16toh(*kick_at));
		drv_post(&self->d, 1, 0, 64, 4);
		eng_vq_relay_used(&self->vq);
		EXPECT_EQ(4, le16toh(self->d.used->idx));
		EXPECT_EQ(0, used_elem(&self->d, 3).len);
		EXPECT_EQ(4, le16toh(*kick_at));
		EXPECT_FALSE(self->vq.parked);
	}
}

/*
 * With EVENT_IDX, a failing queue asks the board for a kick at its next
 * chain; a malformed chain then is still the board's fault.
 */
TEST_F(engine, failing_queue_follows_the_board)
{
	uint16_t *kick_at = avail_event_of(self->d.used, RING);

	self->cfg.board_event_idx = self->cfg.shadow_event_idx = true;
	ASSERT_EQ(0, restart(self));
	drv_post(&self->d, 1, 1, 64, 1);
	eng_vq_relay_avail(&self->vq);
	dev_take(&self->v);
	self->v.used->idx = htole16(3);
	eng_vq_relay_used(&self->vq);
	EXPECT_FAULT(ENG_HOST_FAULT, "used index past what it holds");
	EXPECT_EQ(1, le16toh(self->d.used->idx));
	EXPECT_EQ(1, le16toh(*kick_at));
	drv_post(&self->d, 1, 1, 64, 2);
	eng_vq_relay_used(&self->vq);
	EXPECT_EQ(2, le16toh(self->d.used->idx));
	EXPECT_EQ(2, le16toh(*kick_at));
	/* A chain that loops: the board's fault, the host's kept too. */
	drv_desc(self->d.desc, 9, BBUF, 64, VRING_DESC_F_NEXT, 9);
	drv_publish(&self->d, 9);
	eng_vq_relay_used(&self->vq);
	EXPECT_FAULT(ENG_BOARD_FAULT, "loops");
	EXPECT_TRUE(self->vq.host_why &&
		    strstr(self->vq.host_why, "used index past what it holds"));
	EXPECT_EQ(2, le16toh(self->d.used->idx));
}

/*
 * The pool against a model, a byte per granule: no run given twice, and
 * room refused only when no run of the size is free anywhere.
 */
TEST(pool_against_a_model)
{
	enum { NGRAN = 1000 };
	struct { int64_t off; uint64_t len; } live[NGRAN];
	uint64_t seed = 0x9001, refused = 0;
	unsigned int nlive = 0, op, g, k;
	uint8_t model[NGRAN] = { 0 };
	struct eng_pool p;

	ASSERT_EQ(0, eng_pool_init(&p, 4096, NGRAN * ENG_POOL_GRANULE));
	for (op = 0; op < 200000; op++) {
		uint64_t len = 1 + rnd(&seed) % (rnd(&seed) % 4 ? 300 : 9000);
		uint64_t n = (len + ENG_POOL_GRANULE - 1) / ENG_POOL_GRANULE;
		int64_t off;
		unsigned int run = 0;
		bool room = false;

		if (nlive && (rnd(&seed) % 2 || nlive == NGRAN)) {
			k = rnd(&seed) % nlive;
			eng_pool_free(&p, live[k].off, live[k].len);
			g = (live[k].off - 4096) / ENG_POOL_GRANULE;
			memset(model + g, 0, (live[k].len + ENG_POOL_GRANULE - 1) /
			       ENG_POOL_GRANULE);
			live[k] = live[--nlive];
			continue;
		}
		for (g = 0; g < NGRAN && !room; g++) {
			run = model[g] ? 0 : run + 1;
			room = run >= n;
		}
		off = eng_pool_alloc(&p, len);
		ASSERT_EQ(room, off >= 0) TH_LOG("op %u: %llu bytes", op,
						 (unsigned long long)len);
		if (off < 0) {
			refused++;
			continue;
		}
		ASSERT_EQ(0, (off - 4096) % ENG_POOL_GRANULE);
		g = (off - 4096) / ENG_POOL_GRANULE;
		ASSERT_GE(NGRAN, g + n);
		for (k = 0; k < n; k++)
			ASSERT_EQ(0, model[g + k]++);
		live[nlive].off = off;
		live[nlive++].len = len;
	}
	while (nlive--)
		eng_pool_free(&p, live[nlive].off, live[nlive].len);
	EXPECT_TRUE(eng_pool_empty(&p));
	EXPECT_LT(0, refused);
	eng_pool_exit(&p);
}

TEST_F(engine, start_refuses_bad_rings)
{
	static const struct {
		int err;
		const char *what;
	} want[] = {
		{ -EINVAL, "a ring of 48" },
		{ -EINVAL, "a misaligned descriptor table" },
		{ -EFAULT, "a used ring past the memory" },
		{ -EINVAL, "a shadow smaller than the board's ring" },
		{ -EFAULT, "a pool over the shadow's descriptors" },
		{ -EFAULT, "a pool over the shadow's available ring" },
		{ -EFAULT, "a pool over the shadow's used ring" },
		{ -EFAULT, "a pool past the window" },
		{ -EINVAL, "a misaligned pool" },
		{ -EINVAL, "a ring whose mapping is misaligned" },
	};
	/* Aligned addresses, in a mapping that is not. */
	struct eng_space skew = {
		.base = self->board.base + 8,
		.start = 0,
		.size = self->board.size - 8,
	};
	struct eng_vq_config c;
	struct eng_vq vq = { 0 };
	unsigned int k;

	for (k = 0; k < ARRAY_SIZE(want); k++) {
		c = self->cfg;
		switch (k) {
		case 0: c.board.size = 48; break;
		case 1: c.board.desc += 8; break;
		case 2: c.board.used = MEM_SIZE - 8; break;
		case 3: c.shadow.size = RING / 2; break;
		case 4: c.pool_off = c.shadow.desc + 64; c.pool_size = 64; break;
		case 5: c.pool_off = c.shadow.avail & ~63ULL; c.pool_size = 64; break;
		case 6: c.pool_off = (c.shadow.used + 64) & ~63ULL; c.pool_size = 64; break;
		case 7: c.pool_size = MEM_SIZE; break;
		case 8: c.pool_off += 8; break;
		}
		EXPECT_EQ(want[k].err,
			  eng_vq_start(&vq, k == 9 ? &skew : &self->board,
				       &self->win, &c))
			TH_LOG("%s", want[k].what);
		/* A queue that did not start relays nothing. */
		EXPECT_EQ(ENG_STOPPED, vq.state);
		EXPECT_EQ(0, eng_vq_relay_avail(&vq));
		EXPECT_EQ(0, eng_vq_relay_used(&vq));
		eng_vq_stop(&vq);
	}
}

/* A running queue is not started again: it goes on as it was. */
TEST_F(engine, start_refuses_a_running_queue)
{
	uint64_t b = drv_buf(&self->d, 64);

	drv_desc(self->d.desc, 0, b, 64, 0, 0);
	drv_publish(&self->d, 0);
	eng_vq_relay_avail(&self->vq);
	EXPECT_EQ(-EBUSY, eng_vq_start(&self->vq, &self->board, &self->win,
				       &self->cfg));
	EXPECT_EQ(ENG_RUNNING, self->vq.state);
	EXPECT_EQ(1, eng_vq_inflight(&self->vq));
	dev_take(&self->v);
	EXPECT_EQ(1, self->v.nheld);
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: GPL-2.0
/*
 * The engine, fuzzed by a board, seeded and reproducible.  Runs in the
 * board VM with iobond_guest unloaded (raw_board.h): the test is the
 * board's driver of every engine slot provisioned, with its rings and
 * buffers in its own memory, whose addresses it finds in
 * /proc/self/pagemap, as the board's transport hands the kernel's to the
 * engine (Documentation/iobond/engine.rst).  The host serves the shadow
 * rings as ever: iobond-blk a disk, vhost-net a NIC.
 *
 * fuzz: IOBOND_FUZZ_OPS operations, a stretch of STRETCH at a time on one
 * queue of a slot.  Before each stretch, with the engine stopped, new
 * random tables: chains of random addresses, lengths, flags and links
 * (loops, a descriptor whose next is itself, indirect tables that nest
 * or are the queue's own table, readable after writable).  Then every
 * device is started as a driver would, and the engine must serve a
 * legitimate request within CHECK_MS: a disk writes a sector and reads
 * it back, a NIC sends a frame.  The operations: random heads made
 * available, indices that jump, heads past the ring, random flags and
 * event indices, the used ring scribbled, kicks on random vectors, the
 * slot's engine mailbox scribbled, and the device reset and a queue
 * enabled again with rings outside memory, misaligned, too big or
 * overlapping.  After the stretch the engine is stopped and the memory
 * checked.  At the end the engine's heartbeat still moves.
 *
 * What a device may write is the used ring and the buffers marked
 * writable; the test keeps a copy of everything else it wrote (descriptor
 * tables, available rings, readable buffers) and holds the engine to it.
 * A writable buffer, a table or a used ring lies in the test's own pages
 * or beyond the board's RAM (where the engine must refuse it), a table
 * 16-byte aligned; readable buffers lie anywhere.  The engine obeys a
 * writable buffer in the board's RAM as a DMA engine does: pointed at the
 * board's kernel, it would scribble over it, and the VM with it.  For the
 * same reason tables change only while the engine is stopped: one read
 * while it is rewritten could mix the fields of two descriptors.
 *
 * IOBOND_SEED, IOBOND_FUZZ_OPS, IOBOND_FUZZ_SKIP (kinds: chain, index,
 * heads, event, used, kick, mailbox, rings, pause): fuzz.h.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/mman.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "kselftest_harness.h"
#include "raw_board.h"
#include "fuzz.h"

#define PG		4096UL
#define MAXDEV		2		/* devices driven */
#define MAXQ		4		/* queues driven per device */
#define QSIZE_MAX	256		/* a table of 256 fills a page */
#define NTABLES		8		/* pages of indirect tables */
#define NSRC		16		/* pages of readable buffers */
#define NSINK		32		/* pages the device may write */
/* Device @n's queue @q: k is 0 for its table, 1 its avail ring, 2 its used. */
#define RING_PG(n, q, k)	(3 * ((n) * MAXQ + (q)) + (k))
#define TABLE_PG(i)	(3 * MAXDEV * MAXQ + (i))
#define SRC_PG(i)	(TABLE_PG(NTABLES) + (i))
#define SINK_PG(i)	(SRC_PG(NSRC) + (i))
#define NPAGES		SINK_PG(NSINK)
#define STRETCH		16
#define CHECK_MS	5000		/* a legitimate request's bound */
#define USED_FILL	0xa5		/* the used page past its ring */
/* Beyond the RAM of any board q35 maps below 4 GiB in one piece. */
#define OUTSIDE		0xc0000000ULL
/* A length that takes any address of a board below OUTSIDE past it. */
#define HUGE_LEN	0xc0000000U

enum fkind {
	F_CHAIN, F_INDEX, F_HEADS, F_EVENT, F_USED, F_KICK, F_MAILBOX,
	F_RINGS, F_PAUSE, NFKINDS
};

static const char * const fkind_names[NFKINDS] = {
	"chain", "index", "heads", "event", "used", "kick", "mailbox",
	"rings", "pause",
};

static const unsigned int fkind_weights[NFKINDS] = {
	/* Few index leaps: the first stops the queue for the stretch. */
	[F_CHAIN] = 48, [F_INDEX] = 3, [F_HEADS] = 5, [F_EVENT] = 5,
	[F_USED] = 4, [F_KICK] = 12, [F_MAILBOX] = 4, [F_RINGS] = 8,
	[F_PAUSE] = 2,
};

/* One device the test drives: an engine slot. */
struct dev {
	unsigned int n;			/* which of ours: its ring pages */
	unsigned int index;
	struct iobond_dev_slot *slot;
	__u32 type;			/* VIRTIO_ID_* */
	unsigned int nq;
	__u16 qsize;			/* of every queue, when started well */
	__u16 notify[MAXQ];
	__u16 avail_idx[MAXQ];		/* the driver's next */
	__u64 features;			/* accepted at the last start */
	__u64 capacity;			/* a disk's, in sectors */
	__u8 mac[6];
};

FIXTURE(engb) {
	struct raw r;
	struct dev dev[IOBOND_MAX_DEVICES];
	unsigned int ndev;
	__u32 engine_id, engine_nvec;
	__u32 reset_seq;
	__u8 *arena;			/* NPAGES pages, locked */
	__u8 *mirror;			/* what the driver wrote there */
	__u64 pa[NPAGES];
	__u64 ram_top;			/* the end of the board's RAM */
	char compact[8];		/* vm.compact_unevictable_allowed */
	pthread_t beat;
	bool beating;
	volatile bool stop;
	__u64 seed;
	struct fz_rng rng;
	struct fz_stats st;
	unsigned long by_kind[NFKINDS], checks;
	long long worst_ms;
};

/* ---- the test's memory -------------------------------------------------- */

static __u64 pa_of(FIXTURE_DATA(engb) *s, unsigned int page, __u64 off)
{
	return s->pa[page] + off;
}

static void *mir(FIXTURE_DATA(engb) *s, unsigned int page, __u64 off)
{
	return s->mirror + page * PG + off;
}

/*
 * Copy what the driver wrote to [@off, @off + @len) of @page into the
 * page: the engine sees it all at once, after everything written before.
 */
static void sync_out(FIXTURE_DATA(engb) *s, unsigned int page, __u64 off,
		     __u64 len)
{
	memcpy(s->arena + page * PG + off, mir(s, page, off), len);
	__sync_synchronize();
}

/* The highest end of "System RAM" in /proc/iomem (root reads addresses). */
static __u64 ram_top(void)
{
	unsigned long long a, b, top = 0;
	char line[256];
	FILE *f = fopen("/proc/iomem", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%llx-%llx", &a, &b) == 2 &&
		    strstr(line, "System RAM") && b + 1 > top)
			top = b + 1;
	if (f)
		fclose(f);
	return top;
}

/*
 * Lock the pages and find their board addresses.  Compaction may move an
 * mlock()ed page unless told not to: the engine would then copy into a
 * page the board's kernel gave to someone else.
 */
static int arena_map(FIXTURE_DATA(engb) *s)
{
	int fd;
	unsigned int i;
	__u64 e;

	iob_read_file("/proc/sys/vm/compact_unevictable_allowed", s->compact,
		      sizeof(s->compact));
	iob_write_file("/proc/sys/vm/compact_unevictable_allowed", "0");
	s->arena = mmap(NULL, NPAGES * PG, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	/*
	 * Small pages, each where pagemap says, before any is touched.  A
	 * kernel without transparent huge pages refuses the advice (EINVAL):
	 * it has none to give.
	 */
	if (s->arena == MAP_FAILED ||
	    (madvise(s->arena, NPAGES * PG, MADV_NOHUGEPAGE) && errno != EINVAL) ||
	    mlock(s->arena, NPAGES * PG))
		return -1;
	s->mirror = calloc(NPAGES, PG);
	if (!s->mirror)
		return -1;
	memset(s->arena, 0, NPAGES * PG);
	for (i = 0; i < MAXDEV * MAXQ; i++)
		memset(s->arena + (3 * i + 2) * PG, USED_FILL, PG);
	fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0)
		return -1;
	for (i = 0; i < NPAGES; i++) {
		if (pread(fd, &e, sizeof(e),
			  ((uintptr_t)s->arena / PG + i) * sizeof(e)) != sizeof(e) ||
		    !(e >> 63) || !(e & ((1ULL << 55) - 1))) {
			close(fd);
			return -1;
		}
		s->pa[i] = (e & ((1ULL << 55) - 1)) * PG;
	}
	close(fd);
	return 0;
}

/* ---- talking to the engine and the host --------------------------------- */

/* The board's heartbeat, as iobond_link's tick bumps it. */
static void *beat(void *arg)
{
	FIXTURE_DATA(engb) *s = arg;
	__u64 hb = RD64(s->r.hdr->board.heartbeat);

	while (!s->stop) {
		WR64(s->r.hdr->board.heartbeat, ++hb);
		usleep(IOBOND_HEARTBEAT_MS * 1000 / 2);
	}
	return NULL;
}

/*
 * Say the board is online, as iobond_link does: the engine starts queues
 * only while both sides are.  The vectors are those the board's driver
 * had; nobody handles them now, and nothing here waits for one.
 */
static int board_online(FIXTURE_DATA(engb) *s)
{
	struct iobond_side *b = &s->r.hdr->board;
	__u32 nvec = RD32(b->nvectors);

	WR32(b->peer_id, *(volatile __u32 *)(s->r.regs + REG_IVPOSITION));
	if (nvec < 2 || nvec > IOBOND_MAX_VECTORS)
		WR32(b->nvectors, 2);
	__sync_synchronize();
	WR32(b->state, IOBOND_SIDE_ONLINE);
	if (pthread_create(&s->beat, NULL, beat, s))
		return -1;
	s->beating = true;
	return 0;
}

static void ring_engine(FIXTURE_DATA(engb) *s, __u32 vec)
{
	__sync_synchronize();
	*(volatile __u32 *)(s->r.regs + REG_DOORBELL) =
		(s->engine_id & 0xffff) << 16 | (vec & 0xffff);
}

static int ask_host(FIXTURE_DATA(engb) *s, struct dev *d, __u32 op, __u32 arg)
{
	s->r.slot = d->slot;
	return request(&s->r, op, arg);
}

/*
 * Stop the engine on @d as the board's transport does before a reset
 * (ibg_engine_reset()); true if it answered within IOBOND_ENGINE_MS.
 */
static bool engine_stop(FIXTURE_DATA(engb) *s, struct dev *d)
{
	__u32 seq = ++s->reset_seq;
	long long start = iob_now_ms();

	WR32(d->slot->eng.reset_seq, seq);
	ring_engine(s, IOBOND_CTRL_VECTOR);
	while (iob_now_ms() - start < IOBOND_ENGINE_MS * iob_timeout_scale()) {
		if (RD32(d->slot->eng.reset_ack) == seq)
			return true;
		usleep(500);
	}
	return false;
}

/* Reset @d as a driver does: the engine first, then the host. */
static int dev_reset(FIXTURE_DATA(engb) *s, struct dev *d)
{
	if (!engine_stop(s, d))
		return -ETIMEDOUT;
	WR32(d->slot->status, 0);
	return ask_host(s, d, IOBOND_OP_RESET, 0) ? -EIO : 0;
}

static __u64 offered(struct dev *d)
{
	return RD64(d->slot->device_features);
}

/* Status and features, as virtio's handshake sets them; the host's errno. */
static int dev_status(FIXTURE_DATA(engb) *s, struct dev *d, __u32 status)
{
	WR64(d->slot->driver_features, d->features);
	WR32(d->slot->status, status);
	return ask_host(s, d, IOBOND_OP_STATUS, 0);
}

/* Ask for queue @q with its rings at these board addresses; the errno. */
static int queue_enable(FIXTURE_DATA(engb) *s, struct dev *d, unsigned int q,
			__u16 size, __u64 desc, __u64 avail, __u64 used)
{
	struct iobond_vq *vq = &d->slot->vq[q];

	WR16(vq->size, size);
	WR16(vq->msix, 1);
	WR64(vq->desc, desc);
	WR64(vq->avail, avail);
	WR64(vq->used, used);
	WR32(d->slot->hs.req_gen, s->reset_seq);
	return ask_host(s, d, IOBOND_OP_QUEUE_ENABLE, q);
}

/* Queue @q's rings, at the start of their own pages, none available. */
static int queue_start(FIXTURE_DATA(engb) *s, struct dev *d, unsigned int q)
{
	/* The table stays: tables_anew() made it for this stretch. */
	memset(mir(s, RING_PG(d->n, q, 1), 0), 0, PG);
	sync_out(s, RING_PG(d->n, q, 1), 0, PG);
	memset(s->arena + RING_PG(d->n, q, 2) * PG, USED_FILL, PG);
	memset(s->arena + RING_PG(d->n, q, 2) * PG, 0, 6 + 8 * d->qsize);
	__sync_synchronize();
	d->avail_idx[q] = 0;
	return queue_enable(s, d, q, d->qsize, pa_of(s, RING_PG(d->n, q, 0), 0),
			    pa_of(s, RING_PG(d->n, q, 1), 0),
			    pa_of(s, RING_PG(d->n, q, 2), 0));
}

/*
 * Reset @d and start it again, every queue, as a driver would; with
 * EVENT_IDX and INDIRECT_DESC taken or not as @o draws.  0, or an errno.
 */
static int dev_start(FIXTURE_DATA(engb) *s, struct dev *d, struct fz_op *o)
{
	__u64 want = 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_F_ACCESS_PLATFORM;
	unsigned int q;
	int ret;

	ret = dev_reset(s, d);
	if (ret)
		return ret;
	if (fz_chance(o, 70))
		want |= 1ULL << VIRTIO_RING_F_EVENT_IDX;
	if (fz_chance(o, 70))
		want |= 1ULL << VIRTIO_RING_F_INDIRECT_DESC;
	d->features = offered(d) & want;
	if (dev_status(s, d, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			     VIRTIO_CONFIG_S_FEATURES_OK))
		return -EPROTO;
	for (q = 0; q < d->nq; q++) {
		ret = queue_start(s, d, q);
		if (ret)
			return ret < 0 ? -ETIMEDOUT : -ret;
	}
	return dev_status(s, d, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
				VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK) ?
	       -EPROTO : 0;
}

/* ---- a legitimate driver ------------------------------------------------ */

static void desc_put(FIXTURE_DATA(engb) *s, unsigned int page, __u16 i,
		     __u64 addr, __u32 len, __u16 flags, __u16 next)
{
	struct vring_desc *d = mir(s, page, i * sizeof(*d));

	d->addr = htole64(addr);
	d->len = htole32(len);
	d->flags = htole16(flags);
	d->next = htole16(next);
}

/* Make @head available on queue @q of @d, and kick the engine. */
static void publish(FIXTURE_DATA(engb) *s, struct dev *d, unsigned int q,
		    __u16 head)
{
	struct vring_avail *a = mir(s, RING_PG(d->n, q, 1), 0);
	__u16 idx = d->avail_idx[q];

	sync_out(s, RING_PG(d->n, q, 0), 0, d->qsize * sizeof(struct vring_desc));
	a->ring[idx % d->qsize] = htole16(head);
	sync_out(s, RING_PG(d->n, q, 1), 4 + idx % d->qsize * 2, 2);
	a->idx = htole16(++idx);
	sync_out(s, RING_PG(d->n, q, 1), 2, 2);
	d->avail_idx[q] = idx;
	ring_engine(s, d->notify[q]);
}

/*
 * Wait for queue @q's used index to reach @idx, with head 0 used and no
 * more than @most bytes said written; the wait, or -1.
 */
static long long wait_used(FIXTURE_DATA(engb) *s, struct dev *d,
			   unsigned int q, __u16 idx, __u32 most)
{
	struct vring_used *u = (void *)(s->arena + RING_PG(d->n, q, 2) * PG);
	long long start = iob_now_ms();
	struct vring_used_elem e;

	while (RD16(u->idx) != idx) {
		if (iob_now_ms() - start > CHECK_MS * iob_timeout_scale())
			return -1;
		usleep(200);
	}
	__sync_synchronize();
	memcpy(&e, (void *)&u->ring[(__u16)(idx - 1) % d->qsize], sizeof(e));
	if (le32toh(e.id) != 0 || le32toh(e.len) > most) {
		fz_violation(&s->st, "dev%u queue %u: used id %u, length %u of at most %u",
			     d->index, q, le32toh(e.id), le32toh(e.len), most);
		return -1;
	}
	return iob_now_ms() - start;
}

/* One request of a disk: header, data, status.  The status, or -1. */
static int blk_rq(FIXTURE_DATA(engb) *s, struct dev *d, __u32 type,
		  __u64 sector, unsigned int data_pg, long long *took)
{
	struct virtio_blk_outhdr *h = mir(s, SRC_PG(0), 0);
	bool in = type == VIRTIO_BLK_T_IN;
	__u8 *status = s->arena + SINK_PG(0) * PG;

	h->type = htole32(type);
	h->ioprio = 0;
	h->sector = htole64(sector);
	sync_out(s, SRC_PG(0), 0, sizeof(*h));
	*status = 0xff;
	desc_put(s, RING_PG(d->n, 0, 0), 0, pa_of(s, SRC_PG(0), 0), sizeof(*h),
		 VRING_DESC_F_NEXT, 1);
	desc_put(s, RING_PG(d->n, 0, 0), 1, pa_of(s, data_pg, 0), PG,
		 VRING_DESC_F_NEXT | (in ? VRING_DESC_F_WRITE : 0), 2);
	desc_put(s, RING_PG(d->n, 0, 0), 2, pa_of(s, SINK_PG(0), 0), 1,
		 VRING_DESC_F_WRITE, 0);
	publish(s, d, 0, 0);
	*took = wait_used(s, d, 0, d->avail_idx[0], in ? PG + 1 : 1);
	return *took < 0 ? -1 : *(volatile __u8 *)status;
}

/*
 * What a driver does with a device it just started: a disk writes 4 KiB
 * of fresh bytes and reads them back; a NIC sends a frame to nobody.
 * Every request is answered within CHECK_MS.
 */
static void legit(FIXTURE_DATA(engb) *s, struct dev *d, struct fz_op *o,
		  const char *after)
{
	unsigned int i;
	long long took, took2;
	int ret;

	if (d->type == VIRTIO_ID_BLOCK) {
		__u64 sector = fz_below(o, d->capacity / 8) * 8;
		__u8 *back = s->arena + SINK_PG(1) * PG;

		for (i = 0; i < PG; i++)
			*(__u8 *)mir(s, SRC_PG(1), i) = fz_u64(o);
		sync_out(s, SRC_PG(1), 0, PG);
		ret = blk_rq(s, d, VIRTIO_BLK_T_OUT, sector, SRC_PG(1), &took);
		if (ret)
			fz_violation(&s->st, "dev%u after %s: a write of sector %llu: status %d after %lld ms",
				     d->index, after, (unsigned long long)sector, ret, took);
		memset(back, 0, PG);
		ret = blk_rq(s, d, VIRTIO_BLK_T_IN, sector, SINK_PG(1), &took2);
		if (ret || memcmp(back, mir(s, SRC_PG(1), 0), PG))
			fz_violation(&s->st, "dev%u after %s: sector %llu read back: status %d, %s",
				     d->index, after, (unsigned long long)sector, ret,
				     ret ? "-" : "other bytes");
		took = took > took2 ? took : took2;
	} else {
		/* The transmit queue: a header, then a frame of our own type. */
		struct virtio_net_hdr_mrg_rxbuf *h = mir(s, SRC_PG(0), 0);
		__u8 *f = mir(s, SRC_PG(0), 64);

		memset(h, 0, sizeof(*h));
		memset(f, 0xff, 6);
		memcpy(f + 6, d->mac, 6);
		f[12] = 0x88;
		f[13] = 0xb5;		/* local experimental */
		memset(f + 14, 0x5a, 46);
		sync_out(s, SRC_PG(0), 0, 128);
		desc_put(s, RING_PG(d->n, 1, 0), 0, pa_of(s, SRC_PG(0), 0),
			 sizeof(*h), VRING_DESC_F_NEXT, 1);
		desc_put(s, RING_PG(d->n, 1, 0), 1, pa_of(s, SRC_PG(0), 64), 60, 0, 0);
		publish(s, d, 1, 0);
		took = wait_used(s, d, 1, d->avail_idx[1], 0);
		if (took < 0)
			fz_violation(&s->st, "dev%u after %s: a frame sent was not used within %d ms",
				     d->index, after, CHECK_MS);
	}
	if (took > s->worst_ms)
		s->worst_ms = took;
	s->checks++;
}

/*
 * Nothing the device may not write changed: the tables, the available
 * rings and the readable buffers are as the driver wrote them, and each
 * used page holds nothing past its ring.
 */
static void check_memory(FIXTURE_DATA(engb) *s, const char *after)
{
	unsigned int p, lane, k;

	for (p = 0; p < SINK_PG(0); p++) {
		if (p < TABLE_PG(0) && p % 3 == 2)
			continue;	/* a used ring's page */
		if (memcmp(s->arena + p * PG, s->mirror + p * PG, PG))
			fz_violation(&s->st, "after %s: the engine wrote page %u (%#llx), never device-writable",
				     after, p, (unsigned long long)s->pa[p]);
	}
	for (lane = 0; lane < MAXDEV * MAXQ; lane++) {
		const struct dev *d = &s->dev[lane / MAXQ];
		__u8 *u = s->arena + (3 * lane + 2) * PG;
		unsigned int from = 0;

		/* Past the largest ring the queue was started with. */
		if (lane / MAXQ < s->ndev && lane % MAXQ < d->nq)
			from = 6 + 8 * d->qsize;
		for (k = from; k < PG; k++)
			if (u[k] != USED_FILL) {
				fz_violation(&s->st, "after %s: ring %u's used page written at %#x, past its ring",
					     after, lane, k);
				break;
			}
	}
}

/* ---- the fuzz ----------------------------------------------------------- */

/* An address beyond the board's RAM, or one that wraps. */
static __u64 outside(struct fz_op *o)
{
	static const __u64 base[] = {
		OUTSIDE, 1ULL << 32, 1ULL << 40, ~0ULL - 0xfff, 1ULL << 63,
	};

	return fz_pick(o, base) + fz_below(o, 0x1000);
}

/* Somewhere in a page of @pages starting at @first, and a length that stays. */
static void in_pages(FIXTURE_DATA(engb) *s, struct fz_op *o, unsigned int first,
		     unsigned int pages, __u64 *addr, __u32 *len)
{
	__u64 off = fz_below(o, PG);

	*addr = pa_of(s, first + fz_below(o, pages), off);
	*len = fz_chance(o, 80) ? fz_below(o, PG - off + 1) : HUGE_LEN + fz_below(o, 1 << 30);
}

/*
 * A random descriptor, by the rule that keeps the board alive: a table
 * (indirect) lies in the test's tables or descriptor pages, aligned, a
 * writable buffer in the sink; either may lie outside; a readable one
 * anywhere.  For a disk, often a request's header (SRC_PG(2)).
 */
static void rand_desc(FIXTURE_DATA(engb) *s, struct fz_op *o, struct dev *d,
		      unsigned int q, __u16 i, struct vring_desc *out)
{
	__u16 flags = 0, next;
	__u32 len;
	__u64 addr;

	if (fz_chance(o, 60))
		flags |= VRING_DESC_F_NEXT;
	if (fz_chance(o, 35))
		flags |= VRING_DESC_F_WRITE;
	if (fz_chance(o, 10))
		flags |= VRING_DESC_F_INDIRECT;
	if (fz_chance(o, 2))
		flags |= fz_u64(o) & 0xfff8;
	if (fz_chance(o, 12)) {
		addr = outside(o);
		len = fz_u64(o);
	} else if (flags & VRING_DESC_F_INDIRECT) {
		if (fz_chance(o, 30))	/* the queue's own table */
			in_pages(s, o, RING_PG(d->n, q, 0), 1, &addr, &len);
		else
			in_pages(s, o, TABLE_PG(0), NTABLES, &addr, &len);
		/* Straddled descriptors would mix fields of two. */
		addr &= ~15ULL;
		if (len <= PG && fz_chance(o, 60))	/* whole descriptors */
			len = (1 + fz_below(o, (PG - addr % PG) / 16)) * 16;
		else if (len <= PG)
			len = fz_below(o, PG - addr % PG + 1);
	} else if (flags & VRING_DESC_F_WRITE) {
		in_pages(s, o, SINK_PG(0), NSINK, &addr, &len);
	} else if (d->type == VIRTIO_ID_BLOCK && fz_chance(o, 40)) {
		addr = pa_of(s, SRC_PG(2), 16 * fz_below(o, PG / 16));
		len = 16;
		flags |= VRING_DESC_F_NEXT;
	} else if (fz_chance(o, 50)) {
		in_pages(s, o, SRC_PG(0), NSRC, &addr, &len);
	} else {
		addr = fz_below(o, s->ram_top);
		len = fz_chance(o, 80) ? fz_below(o, 3 * PG) : fz_u64(o);
	}
	switch (fz_below(o, 4)) {
	case 0:
		next = i + 1;
		break;
	case 1:
		next = i;		/* itself */
		break;
	case 2:
		next = fz_below(o, d->qsize + 2);
		break;
	default:
		next = fz_u64(o);
	}
	out->addr = htole64(addr);
	out->len = htole32(len);
	out->flags = htole16(flags);
	out->next = htole16(next);
}

/*
 * New random tables for the next stretch: the tables' pages, each
 * queue's descriptor table and the disks' request headers.  Only while
 * the engine is stopped: a descriptor rewritten while the engine reads it
 * could mix the fields of two, and send a writable buffer anywhere.
 */
static void tables_anew(FIXTURE_DATA(engb) *s, struct fz_op *o)
{
	static const __u32 types[] = {
		VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_FLUSH,
		VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_DISCARD,
		VIRTIO_BLK_T_WRITE_ZEROES, 0x7fffffff,
	};
	struct virtio_blk_outhdr *h = mir(s, SRC_PG(2), 0);
	unsigned int p, k, q, i;
	struct fz_rng r;
	struct fz_op o2;

	fz_rng_init(&r, fz_u64(o), 300);
	for (i = 0; i < PG / sizeof(*h); i++) {
		fz_op_draw(&r, &o2);
		h[i].type = htole32(fz_pick(&o2, types));
		h[i].ioprio = 0;
		h[i].sector = htole64(fz_chance(&o2, 80) ? fz_below(&o2, 1 << 16) : fz_u64(&o2));
	}
	sync_out(s, SRC_PG(2), 0, PG);
	for (p = 0; p < NTABLES; p++) {
		struct vring_desc *t = mir(s, TABLE_PG(p), 0);
		struct dev *d = &s->dev[p % s->ndev];

		for (i = 0; i < PG / sizeof(*t); i++) {
			fz_op_draw(&r, &o2);
			rand_desc(s, &o2, d, 0, i, &t[i]);
		}
		sync_out(s, TABLE_PG(p), 0, PG);
	}
	for (k = 0; k < s->ndev; k++) {
		struct dev *d = &s->dev[k];

		for (q = 0; q < d->nq; q++) {
			struct vring_desc *t = mir(s, RING_PG(d->n, q, 0), 0);

			for (i = 0; i < QSIZE_MAX; i++) {
				fz_op_draw(&r, &o2);
				rand_desc(s, &o2, d, q, i, &t[i]);
			}
			sync_out(s, RING_PG(d->n, q, 0), 0, PG);
		}
	}
}

/* Make random heads available (chains the tables already hold); kick. */
static void op_chain(FIXTURE_DATA(engb) *s, struct dev *d, unsigned int q,
		     struct fz_op *o)
{
	struct vring_avail *a = mir(s, RING_PG(d->n, q, 1), 0);
	unsigned int k, m = 1 + fz_below(o, 4);

	for (k = 0; k < m; k++)
		a->ring[(d->avail_idx[q] + k) % d->qsize] =
			htole16(fz_below(o, d->qsize));
	sync_out(s, RING_PG(d->n, q, 1), 4, 2 * d->qsize);
	d->avail_idx[q] += m;
	a->idx = htole16(d->avail_idx[q]);
	sync_out(s, RING_PG(d->n, q, 1), 2, 2);
	ring_engine(s, d->notify[q]);
}

static void op_index(FIXTURE_DATA(engb) *s, struct dev *d, unsigned int q,
		     struct fz_op *o)
{
	struct vring_avail *a = mir(s, RING_PG(d->n, q, 1), 0);
	static const __u16 jumps[] = { 1, 2, QSIZE_MAX, QSIZE_MAX + 1, 0x8000, 0xffff };

	d->avail_idx[q] += fz_chance(o, 50) ? fz_pick(o, jumps) : fz_u64(o);
	a->idx = htole16(d->avail_idx[q]);
	sync_out(s, RING_PG(d->n, q, 1), 2, 2);
	ring_engine(s, d->notify[q]);
}

static void op_heads(FIXTURE_DATA(engb) *s, struct dev *d, unsigned int q,
		     struct fz_op *o)
{
	struct vring_avail *a = mir(s, RING_PG(d->n, q, 1), 0);
	unsigned int k, n = 1 + fz_below(o, 8);

	for (k = 0; k < n; k++)
		a->ring[fz_below(o, d->qsize)] =
			htole16(fz_chance(o, 50) ? fz_below(o, d->qsize) : fz_u64(o));
	sync_out(s, RING_PG(d->n, q, 1), 4, 2 * d->qsize);
	ring_engine(s, d->notify[q]);
}

/* The driver's flags and used_event, and the device's avail_event. */
static void op_event(FIXTURE_DATA(engb) *s, struct dev *d, unsigned int q,
		     struct fz_op *o)
{
	struct vring_avail *a = mir(s, RING_PG(d->n, q, 1), 0);
	volatile __le16 *ae = (void *)(s->arena + RING_PG(d->n, q, 2) * PG + 4 + 8 * d->qsize);

	a->flags = htole16(fz_u64(o));
	a->ring[d->qsize] = htole16(fz_u64(o));		/* used_event */
	sync_out(s, RING_PG(d->n, q, 1), 0, 2);
	sync_out(s, RING_PG(d->n, q, 1), 4 + 2 * d->qsize, 2);
	if (fz_chance(o, 50))
		*ae = htole16(fz_u64(o));
	ring_engine(s, d->notify[q]);
}

/* The used ring is the device's; a board may scribble over it anyway. */
static void op_used(FIXTURE_DATA(engb) *s, struct dev *d, unsigned int q,
		    struct fz_op *o)
{
	__u8 *u = s->arena + RING_PG(d->n, q, 2) * PG;
	__u64 off = fz_below(o, 6 + 8 * d->qsize);
	unsigned int k, n = 1 + fz_below(o, 16);

	for (k = 0; k < n && off + k < 6 + 8 * (__u64)d->qsize; k++)
		((volatile __u8 *)u)[off + k] = fz_u64(o);
	ring_engine(s, d->notify[q]);
}

static void op_kick(FIXTURE_DATA(engb) *s, struct dev *d, unsigned int q,
		    struct fz_op *o)
{
	unsigned int k, n = 1 + fz_below(o, 16);

	for (k = 0; k < n; k++)
		ring_engine(s, fz_chance(o, 60) ? d->notify[q] :
				fz_below(o, s->engine_nvec + 2));
}

/*
 * The engine's mailbox is the host's but for reset_seq; a board can write
 * all of it.  All but req_seq here: a new req_seq makes the engine carry
 * out the request the mailbox holds, often the host's last START, which
 * restarts the queue under the host's backend; the engine then takes the
 * backend's next completion for the host's fault (it cannot tell who
 * wrote the mailbox), and the runner holds it to blaming the host for
 * nothing here.  The board still breaks only its own device that way
 * (engine.rst, "Trust").
 */
static void op_mailbox(FIXTURE_DATA(engb) *s, struct dev *d, unsigned int q,
		       struct fz_op *o)
{
	__le32 *m = (__le32 *)&d->slot->eng;
	unsigned int w = 1 + fz_below(o, sizeof(d->slot->eng) / 4 - 1);

	_Static_assert(offsetof(struct iobond_engine_mbox, req_seq) == 0, "req_seq first");
	WR32(m[w], fz_chance(o, 50) ? fz_below(o, 4) : fz_u64(o));
	if (fz_chance(o, 70))
		ring_engine(s, IOBOND_CTRL_VECTOR);
}

/*
 * The device reset and queue @q enabled again with rings the engine must
 * refuse, or odd ones it may take: outside memory, a table inside the
 * tables, the available ring over the table; and some the host refuses
 * first (misaligned, sizes no driver may pick).  The used ring stays in
 * its page or goes outside: the engine writes there.
 */
static void op_rings(FIXTURE_DATA(engb) *s, struct dev *d, unsigned int q,
		     struct fz_op *o)
{
	__u64 desc = pa_of(s, RING_PG(d->n, q, 0), 0), avail = pa_of(s, RING_PG(d->n, q, 1), 0);
	__u64 used = pa_of(s, RING_PG(d->n, q, 2), 0);
	__u16 size = d->qsize;
	int ret;

	switch (fz_below(o, 7)) {
	case 0:
		desc = outside(o);
		break;
	case 1:
		avail = outside(o);
		break;
	case 2:
		used = outside(o);
		break;
	case 3:
		desc += 1 + fz_below(o, 15);
		avail += 1;
		used += 2;
		break;
	case 4: {
		/* Never a ring bigger than its page: only sizes refused or smaller. */
		__u32 most = RD16(d->slot->vq[q].size_max);
		const __u32 sizes[] = { 0, 3, size - 1, size / 2, 2 * most, 0xffff };

		size = fz_pick(o, sizes);
		break;
	}
	case 5:
		desc = pa_of(s, TABLE_PG(fz_below(o, NTABLES)), 0);
		break;
	default:
		avail = desc + 16 * fz_below(o, size);
	}
	/* A queue that runs is not enabled again: start from a reset. */
	ret = dev_reset(s, d);
	if (ret) {
		fz_violation(&s->st, "dev%u: a reset failed: %s", d->index, strerror(-ret));
		return;
	}
	if (dev_status(s, d, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
			     VIRTIO_CONFIG_S_FEATURES_OK))
		fz_violation(&s->st, "dev%u: features %#llx refused", d->index,
			     (unsigned long long)d->features);
	memset(mir(s, RING_PG(d->n, q, 1), 0), 0, PG);
	sync_out(s, RING_PG(d->n, q, 1), 0, PG);
	d->avail_idx[q] = 0;
	ret = queue_enable(s, d, q, size, desc, avail, used);
	fz_count(&s->st, ret < 0 ? ETIMEDOUT : ret);
	ring_engine(s, d->notify[q]);
}

static void op_pause(FIXTURE_DATA(engb) *s, struct dev *d, unsigned int q,
		     struct fz_op *o)
{
	usleep(fz_below(o, 20000));
}

/* ---- setup -------------------------------------------------------------- */

FIXTURE_SETUP(engb)
{
	struct raw *r = &self->r;
	unsigned int i, q;

	if (iob_setup(&r->t) || r->t.host)
		SKIP(return, "needs the board VM");
	if (iob_loaded(&r->t))
		SKIP(return, "needs iobond_guest unloaded: this test is the board");
	ASSERT_EQ(0, raw_open(r));
	ASSERT_EQ(IOBOND_MAGIC, le32toh(r->hdr->magic));
	ASSERT_EQ(IOBOND_SIDE_ONLINE, le32toh(r->hdr->host.state));
	ASSERT_EQ(IOBOND_SIDE_ONLINE, RD32(r->hdr->engine.state)) {
		TH_LOG("no engine on the link");
	}
	self->engine_id = RD32(r->hdr->engine.peer_id);
	self->engine_nvec = RD32(r->hdr->engine.nvectors);
	ASSERT_GE(IOBOND_MAX_VECTORS, self->engine_nvec);

	for (i = 0; i < IOBOND_MAX_DEVICES; i++) {
		struct iobond_dev_slot *slot =
			(void *)(r->shm + IOBOND_DEV_TABLE_OFF + i * sizeof(*slot));
		struct dev *d = &self->dev[self->ndev];

		if (RD32(slot->state) != IOBOND_SLOT_PRESENT ||
		    !(RD32(slot->flags) & IOBOND_SLOT_F_ENGINE))
			continue;
		ASSERT_GT(MAXDEV, self->ndev);
		d->n = self->ndev;
		d->index = i;
		d->slot = slot;
		d->type = RD32(slot->device_id);
		d->nq = RD16(slot->num_queues);
		ASSERT_TRUE(d->type == VIRTIO_ID_BLOCK || d->type == VIRTIO_ID_NET);
		ASSERT_TRUE(d->nq >= 1 && d->nq <= MAXQ) {
			TH_LOG("dev%u: %u queues", i, d->nq);
		}
		ASSERT_TRUE(d->type == VIRTIO_ID_BLOCK || d->nq == 2);
		d->qsize = QSIZE_MAX;
		for (q = 0; q < d->nq; q++) {
			if (RD16(slot->vq[q].size_max) < d->qsize)
				d->qsize = RD16(slot->vq[q].size_max);
			d->notify[q] = RD16(slot->vq[q].notify);
		}
		ASSERT_LE(8, d->qsize);
		if (d->type == VIRTIO_ID_BLOCK) {
			memcpy(&d->capacity, slot->config, 8);
			d->capacity = le64toh(d->capacity);
			ASSERT_LE(16, d->capacity);
		} else {
			memcpy(d->mac, slot->config, 6);
		}
		printf("# dev%u: %s, %u queues of %u, features %#llx\n", i,
		       d->type == VIRTIO_ID_BLOCK ? "disk" : "NIC", d->nq,
		       d->qsize, (unsigned long long)offered(d));
		self->ndev++;
	}
	if (!self->ndev)
		SKIP(return, "needs a device added through the engine");

	self->ram_top = ram_top();
	ASSERT_NE(0, self->ram_top);
	ASSERT_GE(OUTSIDE, self->ram_top) {
		TH_LOG("RAM up to %#llx: outside() would be inside",
		       (unsigned long long)self->ram_top);
	}
	ASSERT_EQ(0, arena_map(self)) {
		TH_LOG("locking pages and reading their addresses: %s", strerror(errno));
	}
	ASSERT_EQ(0, board_online(self));
	self->seed = fz_seed();
	fz_rng_init(&self->rng, self->seed, 200);
	self->reset_seq = fz_next(&self->rng);
	for (i = 0; i < NSRC * PG; i++)
		*(__u8 *)mir(self, SRC_PG(0), i) = fz_next(&self->rng);
	sync_out(self, SRC_PG(0), 0, NSRC * PG);
	printf("# engine id %u, %u vectors; RAM below %#llx; %u pages at %#llx...\n",
	       self->engine_id, self->engine_nvec,
	       (unsigned long long)self->ram_top, NPAGES,
	       (unsigned long long)self->pa[0]);
}

FIXTURE_TEARDOWN(engb)
{
	unsigned int i;

	/* Nothing of the engine's may reach these pages once they are freed. */
	for (i = 0; i < self->ndev; i++) {
		engine_stop(self, &self->dev[i]);
		WR32(self->dev[i].slot->status, 0);
		ask_host(self, &self->dev[i], IOBOND_OP_RESET, 0);
	}
	if (self->beating) {
		self->stop = true;
		pthread_join(self->beat, NULL);
		WR32(self->r.hdr->board.state, IOBOND_SIDE_OFFLINE);
	}
	if (self->compact[0])
		iob_write_file("/proc/sys/vm/compact_unevictable_allowed", self->compact);
	free(self->mirror);
}

/* The engine's heartbeat moves: it is alive. */
static bool engine_beats(FIXTURE_DATA(engb) *s)
{
	__u64 hb = RD64(s->r.hdr->engine.heartbeat);
	long long start = iob_now_ms();

	while (iob_now_ms() - start < 10 * IOBOND_HEARTBEAT_MS * iob_timeout_scale()) {
		if (RD64(s->r.hdr->engine.heartbeat) != hb &&
		    RD32(s->r.hdr->engine.state) == IOBOND_SIDE_ONLINE)
			return true;
		usleep(10000);
	}
	return false;
}

/* Below the runner's 1800 s, so that the teardown runs. */
TEST_F_TIMEOUT(engb, fuzz, 1500)
{
	static void (*const ops[NFKINDS])(FIXTURE_DATA(engb) *, struct dev *,
					  unsigned int, struct fz_op *) = {
		[F_CHAIN] = op_chain, [F_INDEX] = op_index, [F_HEADS] = op_heads,
		[F_EVENT] = op_event, [F_USED] = op_used, [F_KICK] = op_kick,
		[F_MAILBOX] = op_mailbox, [F_RINGS] = op_rings,
		[F_PAUSE] = op_pause,
	};
	__u64 nops = fz_ops(), n;
	bool skip[NFKINDS];
	struct dev *d = NULL;
	unsigned int k, q = 0;
	char line[256], after[64] = "the start";
	struct fz_op o;
	int ret;

	IOB_RETURN_IF_SKIPPED();
	for (k = 0; k < NFKINDS; k++)
		skip[k] = fz_skipped(fkind_names[k]);
	for (n = 0; n <= nops; n++) {
		fz_op_draw(&self->rng, &o);
		if (n % STRETCH == 0 || n == nops) {
			/* Stopped, so that nothing moves while we look. */
			for (k = 0; k < self->ndev; k++)
				if (!engine_stop(self, &self->dev[k]))
					fz_violation(&self->st, "dev%u after %s: the engine did not stop within %u ms",
						     self->dev[k].index, after, IOBOND_ENGINE_MS);
			check_memory(self, after);
			if (n == nops || self->st.violations > FZ_SHOW_MAX)
				break;
			tables_anew(self, &o);
			/* Every device, started well, serves a request. */
			for (k = 0; k < self->ndev; k++) {
				struct dev *v = &self->dev[k];

				ret = dev_start(self, v, &o);
				if (ret) {
					fz_violation(&self->st, "dev%u after %s: a good start failed: %s",
						     v->index, after, strerror(-ret));
					continue;
				}
				legit(self, v, &o, after);
			}
			d = &self->dev[fz_below(&o, self->ndev)];
			q = fz_below(&o, d->nq);
		}
		k = fz_weighted(&o, fkind_weights, NFKINDS);
		if (skip[k])
			continue;
		snprintf(after, sizeof(after), "op %llu (%s, dev%u queue %u)",
			 (unsigned long long)n, fkind_names[k], d->index, q);
		ops[k](self, d, q, &o);
		self->by_kind[k]++;
		self->st.ops++;
	}
	EXPECT_TRUE(engine_beats(self)) {
		TH_LOG("the engine's heartbeat stopped");
	}
	snprintf(line, sizeof(line), "%lu good starts served, slowest request %lld ms",
		 self->checks, self->worst_ms);
	fz_summary(&self->st, line);
	for (k = 0; k < NFKINDS; k++)
		printf("# %s: %lu\n", fkind_names[k], self->by_kind[k]);
	EXPECT_EQ(0, self->st.violations);
	EXPECT_LT(0, self->checks);
}

TEST_HARNESS_MAIN

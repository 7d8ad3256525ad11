/* SPDX-License-Identifier: GPL-2.0 */
/*
 * iobond-engine: the emulated IO-Bond hardware's DMA engine.
 *
 * A board's virtio driver keeps its rings and buffers in board memory; the
 * mainboard's backends serve shadow rings in the link's window.  For each
 * queue the engine relays available chains from the board's ring to the
 * shadow ring, copying what the driver wrote into buffers of the window,
 * and at completion copies what the device wrote back, fills the board's
 * used ring and says whether the board wants an interrupt.
 *
 * Both memories belong to the other sides.  Every value read from either
 * is read once (an atomic load, or a copy behind a compiler barrier: see
 * vq.c), checked, and only the checked copy is used; every address and
 * length is checked against the memory it names (eng_ptr()).  The
 * engine's own records of what it relays live in its own memory, never in
 * the window, where the host could change them.
 */
#ifndef IOBOND_ENGINE_H
#define IOBOND_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/virtio_ring.h>

/*
 * A memory the engine may touch, mapped at @base: addresses [@start,
 * @start + @size).  A board's RAM starts at 0 (q35 maps a board of less
 * than 2.75 GiB linearly from 0); a device's zone of the window starts at
 * the zone's window offset, so that the shadow's addresses are the window
 * offsets its backend expects.
 */
struct eng_space {
	uint8_t *base;
	uint64_t start;
	uint64_t size;
};

/* [@addr, @addr + @len) of @s, or NULL if any byte of it lies outside. */
static inline void *eng_ptr(const struct eng_space *s, uint64_t addr,
			    uint64_t len)
{
	if (addr < s->start || addr - s->start > s->size ||
	    len > s->size - (addr - s->start))
		return NULL;
	return s->base + (addr - s->start);
}

/*
 * The window's buffers for one queue's chains: a first-fit allocator over
 * addresses [@off, @off + @size), in 64-byte granules.
 */
#define ENG_POOL_GRANULE	64

struct eng_pool {
	uint64_t off;
	uint64_t size;
	uint32_t ngran;
	uint32_t next;		/* where the next search starts */
	uint64_t *used;		/* one bit per granule */
};

int eng_pool_init(struct eng_pool *p, uint64_t off, uint64_t size);
void eng_pool_exit(struct eng_pool *p);
/* A window offset of @len free bytes, or -1. */
int64_t eng_pool_alloc(struct eng_pool *p, uint64_t len);
void eng_pool_free(struct eng_pool *p, uint64_t off, uint64_t len);
bool eng_pool_empty(const struct eng_pool *p);

/* A split ring's three parts, as the engine found them in their memory. */
struct eng_ring {
	uint16_t size;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
};

/* Where a queue's rings are: addresses in their memory, and the size. */
struct eng_ring_addr {
	uint16_t size;
	uint64_t desc;
	uint64_t avail;
	uint64_t used;
};

/* One buffer of a board chain, and its copy in the window. */
struct eng_seg {
	uint64_t addr;		/* in board memory */
	uint32_t len;
	bool write;		/* device-writable */
};

/* A board chain the host holds: its shadow head indexes these. */
struct eng_chain {
	bool busy;
	uint16_t head;		/* the board's */
	uint16_t nseg;
	uint64_t off;		/* its buffers in the window */
	uint64_t len;		/* their total */
};

/* Whether a queue relays, and if it stopped on a fault, whose. */
enum eng_state {
	ENG_STOPPED,		/* never started, stopped, or failed to start */
	ENG_RUNNING,
	ENG_BOARD_FAULT,	/* the board's ring or a chain is malformed */
	/*
	 * The host completed what it did not hold: the board's chains fail,
	 * those the host held and those made available since (but a NIC's
	 * receive buffers, which stay the board's).
	 */
	ENG_HOST_FAULT,
};

/* Counters, for the benchmark and for debugging. */
struct eng_stats {
	uint64_t chains;	/* relayed to the host */
	uint64_t completions;	/* relayed back */
	uint64_t bytes_out;	/* board to window */
	uint64_t bytes_in;	/* window to board */
	uint64_t host_kicks;	/* kicks the host wanted */
	uint64_t board_irqs;	/* interrupts the board wanted */
	uint64_t stalls;	/* times a chain had to wait for room */
	uint64_t failed;	/* board chains failed after a host fault */
	uint64_t unquiet;	/* times a quiet queue's host went silent */
};

/*
 * One queue's relay, zeroed before its first eng_vq_start().  Everything
 * here is the engine's own: the board's and
 * the shadow ring's indices are tracked here and only written to the rings.
 * One thread at a time relays a queue: both relays use the free list.
 */
struct eng_vq {
	const struct eng_space *board;
	const struct eng_space *window;
	struct eng_ring b;		/* in board memory */
	struct eng_ring s;		/* the shadow, in the window */
	bool board_event_idx;
	bool shadow_event_idx;
	bool indirect;
	bool exact_len;
	bool fail_status;
	bool quiet;
	bool loud;			/* quiet, but the host went silent */
	bool parked;			/* a receive buffer left after a host fault */
	bool stalled;			/* a chain waits for a completion */
	uint16_t b_last_avail;		/* next board avail entry to take */
	uint16_t b_used;		/* the board's used index */
	uint16_t s_avail;		/* the shadow's avail index */
	uint16_t s_last_used;		/* next shadow used entry to take */
	uint16_t s_free;		/* first free shadow descriptor */
	uint16_t s_nfree;
	uint16_t *s_next;		/* the shadow's free list, and chains */
	struct eng_seg *seg;		/* by shadow descriptor */
	struct eng_chain *chain;	/* by shadow head */
	struct eng_pool pool;
	uint64_t max_chain;		/* bytes a chain may have */
	enum eng_state state;
	const char *why;		/* what the fault was */
	const char *host_why;		/* the host's, kept past a board's */
	struct eng_stats st;
};

/* What eng_vq_start() needs to know. */
struct eng_vq_config {
	struct eng_ring_addr board;	/* in board memory */
	struct eng_ring_addr shadow;	/* in the window; no smaller */
	uint64_t pool_off, pool_size;	/* the shadow buffers, in the window */
	bool board_event_idx;		/* VIRTIO_RING_F_EVENT_IDX, each ring */
	bool shadow_event_idx;
	bool indirect;			/* the board's INDIRECT_DESC */
	/*
	 * The host's device reports exactly what it wrote (vhost-net): only
	 * that comes back.  Otherwise (the blk backends report 1 for a failed
	 * request whose status byte is last) writable buffers are zeroed in
	 * the pool and come back whole.
	 */
	bool exact_len;
	/*
	 * A chain failed after a host fault gets its last writable byte set
	 * to 1, VIRTIO_BLK_S_IOERR (a disk), and length 1; otherwise length
	 * 0 (a NIC drops it).
	 */
	bool fail_status;
	/*
	 * With the board's EVENT_IDX: while the host holds more than one
	 * chain of the queue, the board is not asked to kick; the host's
	 * next completion runs eng_vq_relay_avail() again, and takes what
	 * the board added.
	 * (ENG_QUIET: if the host goes silent, the caller relays the queue
	 * once more after a short while, with eng_vq_unquiet() first, so that
	 * a chain behind a slow one waits a bounded time.)  For a disk, whose
	 * completions keep coming while it is busy; not for a NIC, whose
	 * receive chains the host may hold until a packet comes.
	 */
	bool quiet;
};

/* What a relay returns: bits. */
#define ENG_RING	(1U << 0)	/* the other side wants a doorbell */
/*
 * More came meanwhile and no doorbell is owed for it: run the relay again,
 * after the other queues' turns (queue it behind them, so that one busy
 * queue cannot starve the rest).
 */
#define ENG_AGAIN	(1U << 1)
/*
 * The board was not asked to kick (the config's quiet): the host's next
 * completion relays what it adds; if none comes for a short while, call
 * eng_vq_unquiet() and relay it again.
 */
#define ENG_QUIET	(1U << 2)

int eng_vq_start(struct eng_vq *vq, const struct eng_space *board,
		 const struct eng_space *window,
		 const struct eng_vq_config *cfg);
void eng_vq_stop(struct eng_vq *vq);
void eng_vq_unquiet(struct eng_vq *vq);
unsigned int eng_vq_relay_avail(struct eng_vq *vq);
unsigned int eng_vq_relay_used(struct eng_vq *vq);
unsigned int eng_vq_inflight(const struct eng_vq *vq);
void eng_vq_show(const struct eng_vq *vq, char *buf, size_t len);

#ifdef ENG_TEST_HOOKS
/* Called just before a relay writes its event index (engine_test). */
extern void (*eng_test_before_rearm)(void);
#endif

#endif /* IOBOND_ENGINE_H */

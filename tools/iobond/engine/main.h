/* SPDX-License-Identifier: GPL-2.0 */
/*
 * iobond-engine: one link's engine process (main.c, link.c, peer.c), around
 * the queue relays of vq.c.
 */
#ifndef IOBOND_ENGINE_MAIN_H
#define IOBOND_ENGINE_MAIN_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/iobond.h>

#include "engine.h"

#define ENG_MAX_VECTORS	IOBOND_MAX_VECTORS
/* The link's host and board, and room for peers the fabric may add. */
#define ENG_MAX_PEERS	4

/* Another peer of the link, and the eventfds that ring its vectors. */
struct eng_peer {
	uint32_t id;
	unsigned int nvec;		/* 0: the entry is free */
	int efd[ENG_MAX_VECTORS];
};

/* One queue the engine relays, and the vectors that concern it. */
struct eng_queue {
	struct eng_vq vq;		/* zeroed, or stopped, when not on */
	bool on;
	bool again;			/* its relay said ENG_AGAIN */
	bool told_host, told_board;	/* its faults were logged */
	bool quiet;			/* its relay said ENG_QUIET */
	uint64_t served;		/* its last relay, while quiet */
	uint16_t notify;		/* the host's vector, and ours, for it */
	uint16_t msix;			/* the board's, or IOBOND_NO_VECTOR */
};

/* One device slot: its mailbox, its zone of the window, its queues. */
struct eng_slot {
	uint32_t acked;			/* the last request answered */
	uint32_t reset_seen;		/* the board's last reset stopped for */
	bool running;			/* some queue is on */
	uint32_t instance;		/* the slot's, when the first went on */
	struct eng_space zone;
	struct eng_queue q[IOBOND_MAX_QUEUES];
};

struct eng_link {
	int sock;			/* to the fabric */
	int shm_fd;
	uint32_t own_id;
	unsigned int nvec;
	int efd[ENG_MAX_VECTORS];	/* ours: the others ring them */
	struct eng_peer peer[ENG_MAX_PEERS];
	uint8_t *region;
	uint64_t region_size;
	struct iobond_link_hdr *hdr;
	struct eng_space board;		/* the board's RAM */
	uint64_t epoch;			/* the host's format we publish in */
	uint64_t heartbeat;
	struct eng_slot slot[IOBOND_MAX_DEVICES];
};

/* How long a quiet queue's host may go silent (link.c: eng_link_poll()). */
#define ENG_QUIET_US	1000

void eng_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t eng_now_us(void);

/* peer.c */
int eng_peer_connect(struct eng_link *l, const char *path);
int64_t eng_peer_message(struct eng_link *l);
void eng_peer_ring(struct eng_link *l, uint32_t id, unsigned int vector);

/* link.c */
void eng_link_tick(struct eng_link *l);
void eng_link_mail(struct eng_link *l);
void eng_link_vector(struct eng_link *l, unsigned int vector);
int64_t eng_link_poll(struct eng_link *l, bool *more);
void eng_link_stop_all(struct eng_link *l, const char *why);
void eng_link_peer_left(struct eng_link *l, uint32_t id);
void eng_link_offline(struct eng_link *l);
void eng_link_stats(struct eng_link *l);

#endif /* IOBOND_ENGINE_MAIN_H */

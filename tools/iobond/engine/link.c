// SPDX-License-Identifier: GPL-2.0
/*
 * iobond-engine: one link as the engine sees it.
 *
 * The engine publishes its block in the link header (struct
 * iobond_link_hdr.engine) for each format of the host's, answers the
 * host's requests in each engine slot's mailbox, and relays the queues the
 * host started between the board's rings and their shadows.
 *
 * Everything in the region is written by one of the two VMs, and the board
 * can write all of it: every field is read once, checked, and only the
 * checked copy is used.  The zone a queue's shadow lies in is worked out
 * here from the region's own size, never from the header, so a host or a
 * board can make a queue's relay touch that one zone and the board's RAM,
 * and nothing else.
 *
 * A request the engine cannot carry out is answered with an errno; the
 * host refuses the board's queue then.  A queue the board or the host
 * breaks stops, with one line saying why, until the host starts it again
 * after the device's reset.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>

#include "main.h"

static uint16_t ld16(const void *p)
{
	return le16toh(__atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE));
}

static uint32_t ld32(const void *p)
{
	return le32toh(__atomic_load_n((const uint32_t *)p, __ATOMIC_ACQUIRE));
}

static uint64_t ld64(const void *p)
{
	return le64toh(__atomic_load_n((const uint64_t *)p, __ATOMIC_ACQUIRE));
}

static void st32(void *p, uint32_t v)
{
	__atomic_store_n((uint32_t *)p, htole32(v), __ATOMIC_RELEASE);
}

static void st64(void *p, uint64_t v)
{
	__atomic_store_n((uint64_t *)p, htole64(v), __ATOMIC_RELEASE);
}

static struct iobond_dev_slot *slot_at(struct eng_link *l, unsigned int i)
{
	return (struct iobond_dev_slot *)(l->region + IOBOND_DEV_TABLE_OFF) + i;
}

/* A side's peer id, if it names a peer at all. */
static int side_id(const struct iobond_side *s)
{
	uint32_t id = ld32(&s->peer_id);

	return id <= IOBOND_MAX_PEER_ID ? (int)id : -1;
}

static void ring_side(struct eng_link *l, const struct iobond_side *s,
		      unsigned int vector)
{
	int id = side_id(s);

	if (id >= 0 && (uint32_t)id != l->own_id)
		eng_peer_ring(l, id, vector);
}

static void queue_stop(struct eng_queue *eq)
{
	eng_vq_stop(&eq->vq);
	eq->on = false;
	eq->again = false;
}

/* Stop every queue of slot @i; how many were on. */
static unsigned int slot_stop(struct eng_link *l, unsigned int i)
{
	unsigned int q, n = 0;

	for (q = 0; q < IOBOND_MAX_QUEUES; q++)
		if (l->slot[i].q[q].on) {
			queue_stop(&l->slot[i].q[q]);
			n++;
		}
	l->slot[i].running = false;
	return n;
}

/**
 * eng_link_stop_all() - let go of every queue of the link
 * @l: the link
 * @why: for the log, if any queue was on
 *
 * The host formatted the region again, or a VM left: no chain in flight is
 * completed, and nothing more is copied to or from either memory.
 */
void eng_link_stop_all(struct eng_link *l, const char *why)
{
	unsigned int i, q, n = 0;

	for (i = 0; i < IOBOND_MAX_DEVICES; i++)
		for (q = 0; q < IOBOND_MAX_QUEUES; q++)
			n += l->slot[i].q[q].on;
	if (n)
		eng_say("%s: stopping %u queues", why, n);
	for (i = 0; i < IOBOND_MAX_DEVICES; i++)
		slot_stop(l, i);
}

/**
 * eng_link_peer_left() - the fabric says peer @id left
 * @l: the link
 * @id: its id
 *
 * The host's VM or the board's is gone: its memory, or the window's rings
 * it served, are no one's to touch any more.  Which peer is which only
 * the blocks in the region say, and the board writes them as it likes:
 * any peer that leaves stops everything (the link's other peers are the
 * host's and the board's ends).
 */
void eng_link_peer_left(struct eng_link *l, uint32_t id)
{
	char why[48];

	snprintf(why, sizeof(why), "peer %u left the link", id);
	eng_link_stop_all(l, why);
}

static bool sides_online(struct eng_link *l)
{
	return ld32(&l->hdr->host.state) == IOBOND_SIDE_ONLINE &&
	       ld32(&l->hdr->board.state) == IOBOND_SIDE_ONLINE;
}

/* Our block, as it must read; written again if anyone changed it. */
static void publish(struct eng_link *l, uint32_t state)
{
	struct iobond_side *e = &l->hdr->engine;

	st32(&e->peer_id, l->own_id);
	st32(&e->nvectors, l->nvec);
	st64(&e->heartbeat, l->heartbeat);
	/* The block is whole before it says online. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	st32(&e->state, state);
}

/*
 * Follow the host's formats.  A new epoch is a new host, or the same one
 * starting over: whatever the engine relayed is forgotten, and a request
 * made of an earlier engine is never carried out now (it may be long
 * over).  A host or a board whose block is no longer online left:
 * nothing it had set up is relayed on; nor are the queues of a slot
 * emptied or published anew.  True if the region is formatted for this
 * engine.
 */
static bool follow_format(struct eng_link *l)
{
	struct iobond_link_hdr *h = l->hdr;
	uint64_t epoch;
	unsigned int i;

	if (ld32(&h->magic) != IOBOND_MAGIC) {
		if (l->epoch)
			eng_link_stop_all(l, "the host unformatted the region");
		l->epoch = 0;
		return false;
	}
	/* The magic vouches for the fields the host wrote before it. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	epoch = ld64(&h->epoch);
	if (ld32(&h->version) != IOBOND_VERSION ||
	    ld64(&h->region_size) != l->region_size || !epoch) {
		if (l->epoch)
			eng_link_stop_all(l, "the region is not this version's");
		l->epoch = 0;
		return false;
	}
	if (epoch != l->epoch) {
		eng_link_stop_all(l, "the host formatted the region");
		for (i = 0; i < IOBOND_MAX_DEVICES; i++) {
			struct iobond_engine_mbox *m = &slot_at(l, i)->eng;

			l->slot[i].acked = ld32(&m->req_seq);
			/* Nothing runs yet: a reset is answered at once. */
			l->slot[i].reset_seen = ld32(&m->reset_seq);
			st32(&m->reset_ack, l->slot[i].reset_seen);
		}
		l->epoch = epoch;
		eng_say("serving epoch %#llx as peer %u, %u vectors",
			(unsigned long long)epoch, l->own_id, l->nvec);
	}
	if (!sides_online(l))
		eng_link_stop_all(l, "a side of the link is not online");
	/* A slot emptied, or published anew, with queues relayed. */
	for (i = 0; i < IOBOND_MAX_DEVICES; i++) {
		struct iobond_dev_slot *s = slot_at(l, i);

		if (l->slot[i].running &&
		    (!(ld32(&s->flags) & IOBOND_SLOT_F_ENGINE) ||
		     ld32(&s->instance) != l->slot[i].instance)) {
			eng_say("dev%u: its slot changed: stopping its queues", i);
			slot_stop(l, i);
		}
	}
	return true;
}

/**
 * eng_link_tick() - every IOBOND_HEARTBEAT_MS: follow the host's formats,
 *	and keep our block published
 * @l: the link
 */
void eng_link_tick(struct eng_link *l)
{
	struct iobond_side *e = &l->hdr->engine;

	if (!follow_format(l))
		return;
	l->heartbeat++;
	if (ld32(&e->peer_id) != l->own_id || ld32(&e->nvectors) != l->nvec ||
	    ld32(&e->state) != IOBOND_SIDE_ONLINE)
		publish(l, IOBOND_SIDE_ONLINE);
	else
		st64(&e->heartbeat, l->heartbeat);
}

/* The engine stops: the VMs see it offline, and ring it no more. */
void eng_link_offline(struct eng_link *l)
{
	eng_link_stop_all(l, "the engine stops");
	if (l->epoch)
		publish(l, IOBOND_SIDE_OFFLINE);
}

/* Start relaying queue @q of slot @i as the host laid it out. */
static int queue_start(struct eng_link *l, unsigned int i, unsigned int q)
{
	struct iobond_dev_slot *s = slot_at(l, i);
	struct eng_slot *es = &l->slot[i];
	struct eng_vq_config cfg = { 0 };
	struct iobond_shadow *sh;
	struct eng_queue *eq;
	struct iobond_vq *v;
	uint64_t feat;
	uint16_t notify, msix;
	uint32_t type;
	int ret;

	/*
	 * Only what the host published for the engine: the board can write
	 * any slot's mailbox.
	 */
	if (q >= IOBOND_MAX_QUEUES || q >= ld16(&s->num_queues) ||
	    !(ld32(&s->flags) & IOBOND_SLOT_F_ENGINE) ||
	    ld32(&s->state) == IOBOND_SLOT_EMPTY)
		return EINVAL;
	/* Not for a board gone since, nor for a ring it dropped since. */
	if (!sides_online(l))
		return ENOLINK;
	if (ld32(&s->eng.req_gen) != es->reset_seen)
		return ESTALE;
	eq = &es->q[q];
	sh = &s->shadow[q];
	v = &s->vq[q];
	if (eq->on)
		queue_stop(eq);
	type = ld32(&s->device_id);
	feat = ld64(&s->driver_features);
	notify = ld16(&v->notify);
	msix = ld16(&v->msix);
	cfg.board.size = ld16(&v->size);
	cfg.board.desc = ld64(&v->desc);
	cfg.board.avail = ld64(&v->avail);
	cfg.board.used = ld64(&v->used);
	cfg.shadow.size = ld16(&sh->size);
	cfg.shadow.desc = es->zone.start + ld32(&sh->desc);
	cfg.shadow.avail = es->zone.start + ld32(&sh->avail);
	cfg.shadow.used = es->zone.start + ld32(&sh->used);
	cfg.pool_off = es->zone.start + ld32(&sh->pool);
	cfg.pool_size = ld32(&sh->pool_size);
	cfg.board_event_idx = feat & (1ULL << VIRTIO_RING_F_EVENT_IDX);
	cfg.shadow_event_idx = cfg.board_event_idx;
	cfg.indirect = feat & (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	/* vhost-net says exactly what it wrote; the disk backends do not. */
	cfg.exact_len = type == VIRTIO_ID_NET;
	/* After a host fault a disk's requests say IOERR; a NIC's are dropped. */
	cfg.fail_status = type == VIRTIO_ID_BLOCK;
	/* A busy disk's completions relay what its board adds: no kicks. */
	cfg.quiet = type == VIRTIO_ID_BLOCK;
	if (notify == IOBOND_CTRL_VECTOR || notify >= l->nvec ||
	    (msix != IOBOND_NO_VECTOR && msix >= IOBOND_MAX_VECTORS)) {
		eng_say("dev%u queue %u: vectors %u and %u", i, q, notify, msix);
		return EINVAL;
	}
	ret = eng_vq_start(&eq->vq, &l->board, &es->zone, &cfg);
	if (ret) {
		eng_say("dev%u queue %u: cannot relay ring %u at %#llx/%#llx/%#llx to %u at %#llx: %s",
			i, q, cfg.board.size,
			(unsigned long long)cfg.board.desc,
			(unsigned long long)cfg.board.avail,
			(unsigned long long)cfg.board.used, cfg.shadow.size,
			(unsigned long long)cfg.shadow.desc, strerror(-ret));
		return -ret;
	}
	eq->notify = notify;
	eq->msix = msix;
	eq->on = true;
	eq->told_host = eq->told_board = false;
	eq->quiet = false;
	if (!es->running)
		es->instance = ld32(&s->instance);
	es->running = true;
	return 0;
}

/**
 * eng_link_mail() - answer every slot's new request
 * @l: the link
 *
 * On the control vector, and at every tick in case a doorbell was lost.
 */
void eng_link_mail(struct eng_link *l)
{
	bool reset = false;
	unsigned int i;

	/* A format since the last tick must not see a request of its own undone. */
	if (!follow_format(l) || !l->epoch)
		return;
	for (i = 0; i < IOBOND_MAX_DEVICES; i++) {
		struct iobond_engine_mbox *m = &slot_at(l, i)->eng;
		uint32_t seq = ld32(&m->req_seq), op, arg, result;
		uint32_t rseq = ld32(&m->reset_seq);

		/*
		 * The board reset the device: it stops its own slot only,
		 * whatever the slot says, and before the host hears of it.
		 */
		if (rseq != l->slot[i].reset_seen) {
			unsigned int n = slot_stop(l, i);

			if (n)
				eng_say("dev%u: the board reset it: %u queues stopped",
					i, n);
			st32(&m->reset_ack, rseq);
			l->slot[i].reset_seen = rseq;
			reset = true;
		}

		if (seq == l->slot[i].acked)
			continue;
		/* The request is whole once its number moved (acquire). */
		op = ld32(&m->req_op);
		arg = ld32(&m->req_arg);
		switch (op) {
		case IOBOND_ENG_START:
			result = queue_start(l, i, arg);
			break;
		case IOBOND_ENG_STOP:
			slot_stop(l, i);
			result = 0;
			break;
		default:
			result = EOPNOTSUPP;
		}
		st32(&m->ack_result, result);
		/* Release: the result is there before the answer. */
		st32(&m->ack_seq, seq);
		l->slot[i].acked = seq;
	}
	if (reset)
		ring_side(l, &l->hdr->board, IOBOND_CTRL_VECTOR);
}

/* Relay both ways, and ring whoever wants it. */
static void service(struct eng_link *l, unsigned int i, unsigned int q)
{
	struct eng_queue *eq = &l->slot[i].q[q];
	unsigned int used, avail;

	used = eng_vq_relay_used(&eq->vq);
	if (used & ENG_RING && eq->msix != IOBOND_NO_VECTOR)
		ring_side(l, &l->hdr->board, eq->msix);
	avail = eng_vq_relay_avail(&eq->vq);
	if (avail & ENG_RING)
		ring_side(l, &l->hdr->host, eq->notify);
	eq->again = (used | avail) & ENG_AGAIN;
	/* Only a quiet queue's last relay is timed (eng_link_poll()). */
	eq->quiet = avail & ENG_QUIET;
	if (eq->quiet)
		eq->served = eng_now_us();
	/* Each fault once: a host fault may be followed by the board's. */
	if (eq->vq.host_why && !eq->told_host) {
		eng_say("dev%u queue %u: the host broke it: %s; its requests fail until the board resets it",
			i, q, eq->vq.host_why);
		eq->told_host = true;
	}
	if (eq->vq.state == ENG_BOARD_FAULT && !eq->told_board) {
		eng_say("dev%u queue %u: stopped: the board broke it: %s",
			i, q, eq->vq.why);
		eq->told_board = true;
	}
}

/**
 * eng_link_vector() - one of our vectors rang
 * @l: the link
 * @vector: which
 *
 * The board kicks a queue on the host's vector for it, and the host calls
 * on the same one: every queue of that vector is relayed both ways.
 */
void eng_link_vector(struct eng_link *l, unsigned int vector)
{
	unsigned int i, q;

	if (vector == IOBOND_CTRL_VECTOR) {
		eng_link_mail(l);
		return;
	}
	for (i = 0; i < IOBOND_MAX_DEVICES; i++)
		for (q = 0; q < IOBOND_MAX_QUEUES; q++)
			if (l->slot[i].q[q].on &&
			    l->slot[i].q[q].notify == vector)
				service(l, i, q);
}

/**
 * eng_link_poll() - relay again the queues that asked for it
 * @l: the link
 * @more: set if any queue said ENG_AGAIN: call this again at once
 *
 * Every queue that said ENG_AGAIN, each in its turn.  And every quiet
 * queue (ENG_QUIET: its board does not kick while the host holds more
 * than one chain) that no completion relayed for ENG_QUIET_US: its host
 * went silent, so the board is asked for kicks again (eng_vq_unquiet()),
 * and what it added meanwhile goes now.  A chain behind a slow one thus
 * waits about twice that at most (the caller waits in whole
 * milliseconds), and a host that holds chains for long costs one poll,
 * not one a millisecond.
 *
 * Return: microseconds until the next quiet queue's poll, or -1.
 */
int64_t eng_link_poll(struct eng_link *l, bool *more)
{
	uint64_t now = eng_now_us();
	int64_t next = -1, due;
	unsigned int i, q;

	*more = false;
	for (i = 0; i < IOBOND_MAX_DEVICES; i++)
		for (q = 0; q < IOBOND_MAX_QUEUES; q++) {
			struct eng_queue *eq = &l->slot[i].q[q];

			if (!eq->on)
				continue;
			if (eq->again) {
				service(l, i, q);
			} else if (eq->quiet && now - eq->served >= ENG_QUIET_US) {
				eng_vq_unquiet(&eq->vq);
				service(l, i, q);
			}
			*more |= eq->again;
			if (!eq->quiet)
				continue;
			due = eq->served + ENG_QUIET_US > now ?
			      (int64_t)(eq->served + ENG_QUIET_US - now) : 0;
			if (next < 0 || due < next)
				next = due;
		}
	return next;
}

/*
 * What each queue relayed so far, and where its rings stand, for the log
 * (SIGUSR1, and at exit).  The last line counts the queues shown: a
 * reader of the log knows by it that the dump is whole.
 */
void eng_link_stats(struct eng_link *l)
{
	unsigned int i, q, shown = 0;

	for (i = 0; i < IOBOND_MAX_DEVICES; i++)
		for (q = 0; q < IOBOND_MAX_QUEUES; q++) {
			const struct eng_stats *st = &l->slot[i].q[q].vq.st;
			char where[320];

			/* A started queue that relayed nothing may have lost its first kick. */
			if (!l->slot[i].q[q].on && !st->chains)
				continue;
			eng_say("dev%u queue %u: %llu chains, %llu back, %llu bytes out, %llu in, %llu host kicks, %llu board irqs, %llu stalls, %llu unquiet, %llu failed",
				i, q, (unsigned long long)st->chains,
				(unsigned long long)st->completions,
				(unsigned long long)st->bytes_out,
				(unsigned long long)st->bytes_in,
				(unsigned long long)st->host_kicks,
				(unsigned long long)st->board_irqs,
				(unsigned long long)st->stalls,
				(unsigned long long)st->unquiet,
				(unsigned long long)st->failed);
			eng_vq_show(&l->slot[i].q[q].vq, where, sizeof(where));
			eng_say("dev%u queue %u: %s", i, q, where);
			shown++;
		}
	eng_say("stats: %u queues", shown);
}

// SPDX-License-Identifier: GPL-2.0
/*
 * IO-Bond link protocol: the first page of the bonded region.
 *
 * The host formats the page and the board attaches to it.  Each side then
 * bumps a heartbeat in its own block and watches the other's.  The link
 * function never says that the far end went away (ivshmem drops doorbells
 * to absent peers silently), so liveness is decided from the region alone:
 * a side that writes OFFLINE is gone at once, a side whose heartbeat stands
 * for IOBOND_PEER_TIMEOUT_MS is lost.  Each change is logged once.
 */

#include <linux/debugfs.h>
#include <linux/jiffies.h>
#include <linux/random.h>
#include <linux/sched.h>

#include "iobond_link.h"

static_assert(sizeof(struct iobond_echo) == 256);
static_assert(offsetof(struct iobond_side, heartbeat) == 8);
static_assert(offsetof(struct iobond_side, nvectors) == 16);
static_assert(offsetof(struct iobond_side, echo) == 64);
static_assert(sizeof(struct iobond_side) == 320);
static_assert(offsetof(struct iobond_link_hdr, region_size) == 8);
static_assert(offsetof(struct iobond_link_hdr, epoch) == 16);
static_assert(offsetof(struct iobond_link_hdr, host) == 64);
static_assert(offsetof(struct iobond_link_hdr, board) == 384);
static_assert(offsetof(struct iobond_link_hdr, engine) == 704);
static_assert(offsetof(struct iobond_link_hdr, dev_table_off) == 24);
static_assert(offsetof(struct iobond_link_hdr, window_off) == 40);
static_assert(sizeof(struct iobond_link_hdr) <= IOBOND_LINK_HDR_SIZE);
static_assert(sizeof(struct iobond_vq) == 64);
static_assert(offsetof(struct iobond_vq, desc) == 16);
static_assert(sizeof(struct iobond_handshake) == 32);
static_assert(offsetof(struct iobond_handshake, req_gen) == 20);
static_assert(sizeof(struct iobond_engine_mbox) == 32);
static_assert(offsetof(struct iobond_dev_slot, instance) == 28);
static_assert(offsetof(struct iobond_dev_slot, device_status) == 32);
static_assert(offsetof(struct iobond_dev_slot, tag) == 40);
static_assert(offsetof(struct iobond_dev_slot, driver_features) == 64);
static_assert(offsetof(struct iobond_dev_slot, flags) == 36);
static_assert(offsetof(struct iobond_dev_slot, hs) == 128);
static_assert(offsetof(struct iobond_dev_slot, eng) == 160);
static_assert(offsetof(struct iobond_dev_slot, shadow) == 1536);
static_assert(sizeof(struct iobond_shadow) == 32);
static_assert(offsetof(struct iobond_dev_slot, vq) == 256);
static_assert(offsetof(struct iobond_dev_slot, config) == 1280);
static_assert(sizeof(struct iobond_dev_slot) == 2048);
static_assert(IOBOND_DEV_TABLE_OFF + IOBOND_MAX_DEVICES *
	      sizeof(struct iobond_dev_slot) <= IOBOND_WINDOW_OFF);

static struct device *lnk_dev(struct iobond_link *link)
{
	return &link->ivs.pdev->dev;
}

const char *iobond_state_name(u32 state)
{
	switch (state) {
	case IOBOND_SIDE_ABSENT:
		return "absent";
	case IOBOND_SIDE_ONLINE:
		return "online";
	case IOBOND_SIDE_OFFLINE:
		return "offline";
	default:
		return "invalid";
	}
}

static void lnk_ring_peer(struct iobond_link *link, unsigned int vector)
{
	iobond_ivshmem_ring(&link->ivs, READ_ONCE(link->peer_id), vector);
}

/**
 * iobond_link_ring_peer() - ring one of the peer's vectors, if it is up
 * @link: the link
 * @vector: the peer's vector
 *
 * Context: any, including hard irq.
 */
void iobond_link_ring_peer(struct iobond_link *link, unsigned int vector)
{
	if (iobond_link_peer_alive(link) &&
	    vector < READ_ONCE(link->peer_nvec))
		lnk_ring_peer(link, vector);
}

/**
 * iobond_link_engine_id() - the engine's peer id, if it is online
 * @link: the link
 * @vector: a vector of the engine's it must have
 *
 * The engine's block is the engine's alone, and it may come and go: its
 * fields are read once, here, at each use, and checked.  A block that
 * names this end, or a vector it does not have, counts as no engine.
 *
 * Context: any, including hard irq.
 * Return: the peer id, or -ENXIO.
 */
int iobond_link_engine_id(struct iobond_link *link, unsigned int vector)
{
	struct iobond_side *e = &link->hdr->engine;
	u32 id, nvec;

	if (rd32(e->state) != IOBOND_SIDE_ONLINE)
		return -ENXIO;
	/* The block is whole once it says online. */
	rmb();
	id = rd32(e->peer_id);
	nvec = rd32(e->nvectors);
	if (id > IOBOND_MAX_PEER_ID || id == link->ivs.own_id ||
	    nvec > IOBOND_MAX_VECTORS || vector >= nvec)
		return -ENXIO;
	return id;
}

/**
 * iobond_link_ring_engine() - ring one of the engine's vectors, if it is on
 * @link: the link
 * @vector: the engine's vector
 *
 * Context: any, including hard irq.
 */
void iobond_link_ring_engine(struct iobond_link *link, unsigned int vector)
{
	int id = iobond_link_engine_id(link, vector);

	if (id >= 0)
		iobond_ivshmem_ring(&link->ivs, id, vector);
}

static void lnk_publish(struct iobond_link *link, u32 state)
{
	struct iobond_side *own = link->own;

	wr32(own->peer_id, link->ivs.own_id);
	wr32(own->nvectors, link->ivs.nvec);
	wr64(own->heartbeat, link->heartbeat);
	/* The block is whole before the peer can see it online. */
	wmb();
	wr32(own->state, state);
}

/* Host only: start a new epoch.  Whatever the board wrote is wiped. */
static void lnk_format(struct iobond_link *link)
{
	struct iobond_link_hdr *hdr = link->hdr;

	wr32(hdr->magic, 0);
	/* Unformat first: a board must never see old magic on new fields. */
	wmb();
	memset(hdr, 0, IOBOND_LINK_HDR_SIZE);
	do {
		link->epoch = get_random_u64();
	} while (!link->epoch);
	wr32(hdr->version, IOBOND_VERSION);
	wr64(hdr->region_size, link->ivs.shm_size);
	wr64(hdr->epoch, link->epoch);
	wr32(hdr->dev_table_off, IOBOND_DEV_TABLE_OFF);
	wr32(hdr->max_devices, IOBOND_MAX_DEVICES);
	wr32(hdr->slot_size, sizeof(struct iobond_dev_slot));
	wr64(hdr->window_off, IOBOND_WINDOW_OFF);
	wr64(hdr->window_size, link->ivs.shm_size - IOBOND_WINDOW_OFF);
	/* The device table is the host's to fill; it starts empty. */
	memset((void *)hdr + IOBOND_DEV_TABLE_OFF, 0,
	       IOBOND_MAX_DEVICES * sizeof(struct iobond_dev_slot));
	lnk_publish(link, IOBOND_SIDE_ONLINE);
	/* The magic goes last: it vouches for every field before it. */
	wmb();
	wr32(hdr->magic, IOBOND_MAGIC);
	dev_info(lnk_dev(link), "host: formatted %pa byte region, peer id %u, %u vectors\n",
		 &link->ivs.shm_size, link->ivs.own_id, link->ivs.nvec);
}

/*
 * Board only: why the header cannot be attached to, or NULL if it can.
 * Whether the host is alive is the liveness check's business, not this.
 */
static const char *lnk_check_format(struct iobond_link *link)
{
	struct iobond_link_hdr *hdr = link->hdr;

	if (rd32(hdr->magic) != IOBOND_MAGIC)
		return "waiting for the host to format the region";
	/* Read the fields the magic vouches for only after the magic. */
	rmb();
	if (rd32(hdr->version) != IOBOND_VERSION)
		return "unsupported region version";
	if (rd64(hdr->region_size) != link->ivs.shm_size)
		return "region size in the header does not match BAR2";
	if (!rd64(hdr->epoch))
		return "zero epoch in the header";
	if (rd32(hdr->dev_table_off) != IOBOND_DEV_TABLE_OFF ||
	    rd32(hdr->max_devices) != IOBOND_MAX_DEVICES ||
	    rd32(hdr->slot_size) != sizeof(struct iobond_dev_slot))
		return "device table layout is not this version's";
	if (rd64(hdr->window_off) != IOBOND_WINDOW_OFF ||
	    rd64(hdr->window_size) != link->ivs.shm_size - IOBOND_WINDOW_OFF)
		return "DMA window does not fit the region";
	return NULL;
}

/* Board only: attach to the current epoch, or explain once why not. */
static void lnk_attach(struct iobond_link *link)
{
	const char *why = lnk_check_format(link);
	u64 epoch;

	if (why) {
		if (why != link->complaint)
			dev_info(lnk_dev(link), "board: %s\n", why);
		link->complaint = why;
		link->attached = false;
		return;
	}
	epoch = rd64(link->hdr->epoch);
	if (link->attached && epoch == link->epoch)
		return;

	if (link->attached)
		dev_info(lnk_dev(link), "board: host formatted a new epoch, re-attaching\n");
	link->epoch = epoch;
	link->complaint = NULL;
	lnk_publish(link, IOBOND_SIDE_ONLINE);
	link->attached = true;
	dev_info(lnk_dev(link), "board: attached, peer id %u, %u vectors\n",
		 link->ivs.own_id, link->ivs.nvec);
}

static void lnk_peer_lost(struct iobond_link *link, const char *why)
{
	void (*changed)(struct iobond_link *link, bool up);

	link->lost_after_ms = jiffies_to_msecs(jiffies - link->peer_hb_at);
	link->peer_losses++;
	WRITE_ONCE(link->peer_alive, false);
	dev_warn(lnk_dev(link), "peer %u lost: %s (heartbeat still for %u ms)\n",
		 link->peer_id, why, link->lost_after_ms);
	/* Pairs with iobond_link_set_owner(): the owner is whole. */
	changed = smp_load_acquire(&link->peer_changed);
	if (changed)
		changed(link, false);
}

static void lnk_peer_up(struct iobond_link *link, u32 id, u32 nvec)
{
	void (*changed)(struct iobond_link *link, bool up);
	unsigned int i;

	/*
	 * Requests left in the block by an earlier life of the peer are not
	 * to be answered.  The handlers ignore the echo mailboxes until
	 * peer_alive is set, so they cannot race with this.
	 */
	for (i = 0; i < IOBOND_MAX_VECTORS; i++)
		link->echo_acked[i] = rd32(link->peer->echo.seq[i]);
	WRITE_ONCE(link->peer_id, id);
	WRITE_ONCE(link->peer_nvec, nvec);
	link->peer_ups++;
	/* Publish the fields above to lockless readers with the flag. */
	smp_store_release(&link->peer_alive, true);
	dev_info(lnk_dev(link), "peer %u up, %u vectors\n", id, nvec);
	/* Pairs with iobond_link_set_owner(): the owner is whole. */
	changed = smp_load_acquire(&link->peer_changed);
	if (changed)
		changed(link, true);
}

/* Decide from the peer's block alone whether it is alive. */
static void lnk_check_peer(struct iobond_link *link)
{
	struct iobond_side *peer = link->peer;
	u32 state = rd32(peer->state);
	u32 id, nvec;
	u64 hb;
	bool valid;

	/* The peer wrote its block before its state: read it after. */
	rmb();
	id = rd32(peer->peer_id);
	nvec = rd32(peer->nvectors);
	hb = rd64(peer->heartbeat);
	/* A peer has a control vector and at least one data vector. */
	valid = id <= IOBOND_MAX_PEER_ID && id != link->ivs.own_id &&
		nvec >= 2 && nvec <= IOBOND_MAX_VECTORS;

	if (state != IOBOND_SIDE_ONLINE || !valid) {
		if (link->peer_alive)
			lnk_peer_lost(link, valid ? iobond_state_name(state) :
					    "its block is invalid");
		link->peer_hb_seen = false;
		return;
	}

	/* Up only once the heartbeat moves: a dead peer leaves ONLINE behind. */
	if (!link->peer_hb_seen || hb != link->peer_hb) {
		if (link->peer_hb_seen && !link->peer_alive)
			lnk_peer_up(link, id, nvec);
		link->peer_hb = hb;
		link->peer_hb_at = jiffies;
		link->peer_hb_seen = true;
		return;
	}
	if (link->peer_alive &&
	    time_after(jiffies, link->peer_hb_at +
			       msecs_to_jiffies(IOBOND_PEER_TIMEOUT_MS)))
		lnk_peer_lost(link, "heartbeat stopped");
}

static void lnk_tick(struct work_struct *work)
{
	struct iobond_link *link = container_of(to_delayed_work(work),
						struct iobond_link, tick);

	mutex_lock(&link->lock);
	if (link->role == IOBOND_ROLE_BOARD)
		lnk_attach(link);
	if (link->role == IOBOND_ROLE_HOST || link->attached) {
		wr64(link->own->heartbeat, ++link->heartbeat);
		lnk_check_peer(link);
	} else if (link->peer_alive) {
		lnk_peer_lost(link, "the region was unformatted");
	}
	mutex_unlock(&link->lock);

	schedule_delayed_work(&link->tick,
			      msecs_to_jiffies(IOBOND_HEARTBEAT_MS));
}

/* Hard-irq context: a doorbell on @vector. */
static void lnk_doorbell(struct iobond_ivshmem *ivs, unsigned int vector)
{
	struct iobond_link *link = container_of(ivs, struct iobond_link, ivs);
	void (*ctrl)(struct iobond_link *link);
	void (*data)(struct iobond_link *link, unsigned int vector);
	u32 seq;

	if (vector == IOBOND_CTRL_VECTOR) {
		mod_delayed_work(system_wq, &link->tick, 0);
		/* Pairs with iobond_link_set_owner(): the owner is whole. */
		ctrl = smp_load_acquire(&link->ctrl_doorbell);
		if (ctrl)
			ctrl(link);
	} else {
		/* Pairs with iobond_link_set_owner(): the owner is whole. */
		data = smp_load_acquire(&link->data_doorbell);
		if (data)
			data(link, vector);
	}

	if (!iobond_link_peer_alive(link))
		return;

	/* Answer the peer's echo request on this vector, once per request. */
	seq = rd32(link->peer->echo.seq[vector]);
	if (seq != link->echo_acked[vector] &&
	    vector < READ_ONCE(link->peer_nvec)) {
		link->echo_acked[vector] = seq;
		wr32(link->own->echo.ack[vector], seq);
		lnk_ring_peer(link, vector);
	}
	/*
	 * And complete ours.  An echo completes on its interrupt, not on the
	 * peer's store alone: doorbells on one vector coalesce (ivshmem's
	 * eventfds count), so a requester that moved on before its interrupt
	 * arrived could have two answers counted as one.
	 */
	WRITE_ONCE(link->echo_heard[vector], rd32(link->peer->echo.ack[vector]));
	if (wq_has_sleeper(&link->echo_wq))
		wake_up(&link->echo_wq);
}

/**
 * iobond_link_echo() - bounce a doorbell off the peer on one vector
 * @link: the link
 * @vector: rung on the peer, answered on our own vector of the same number
 * @timeout_ms: how long to wait for the answer
 * @rtt_ns: the round trip, on success
 *
 * Context: process context, with @link->echo_lock held.
 * Return: 0; -ENOLINK if the peer is not up; -EINVAL for a vector either
 * side lacks; -ETIMEDOUT if no answer came; -EINTR if interrupted.
 */
int iobond_link_echo(struct iobond_link *link, unsigned int vector,
		     unsigned int timeout_ms, u64 *rtt_ns)
{
	ktime_t start;
	long left;
	u32 seq;

	lockdep_assert_held(&link->echo_lock);
	if (!READ_ONCE(link->peer_alive))
		return -ENOLINK;
	if (vector >= link->ivs.nvec || vector >= READ_ONCE(link->peer_nvec))
		return -EINVAL;

	seq = ++link->echo_seq[vector];
	wr32(link->own->echo.seq[vector], seq);
	start = ktime_get();
	lnk_ring_peer(link, vector);
	left = wait_event_interruptible_timeout(link->echo_wq,
						READ_ONCE(link->echo_heard[vector]) == seq,
						msecs_to_jiffies(timeout_ms));
	if (left < 0)
		return -EINTR;
	if (!left)
		return -ETIMEDOUT;
	*rtt_ns = ktime_to_ns(ktime_sub(ktime_get(), start));
	return 0;
}

/**
 * lnk_init() - bring up one end of a link
 * @link: zeroed link state
 * @pdev: the link function
 * @role: host (formats the region) or board (attaches to it)
 * @dbg_root: the module's debugfs directory
 *
 * Return: 0 or a negative errno.
 */
static int lnk_init(struct iobond_link *link, struct pci_dev *pdev,
		    enum iobond_role role, struct dentry *dbg_root)
{
	int ret;

	link->role = role;
	mutex_init(&link->lock);
	mutex_init(&link->echo_lock);
	init_waitqueue_head(&link->echo_wq);
	INIT_DELAYED_WORK(&link->tick, lnk_tick);

	ret = iobond_ivshmem_init(&link->ivs, pdev, lnk_doorbell);
	if (ret)
		return ret;

	link->hdr = link->ivs.shm;
	if (role == IOBOND_ROLE_HOST) {
		link->own = &link->hdr->host;
		link->peer = &link->hdr->board;
		mutex_lock(&link->lock);
		lnk_format(link);
		mutex_unlock(&link->lock);
	} else {
		link->own = &link->hdr->board;
		link->peer = &link->hdr->host;
	}

	iobond_link_debugfs_init(link, dbg_root);
	return 0;
}

/**
 * iobond_link_probe() - bind one end of a link, for a PCI driver's probe
 * @pdev: the function being probed
 * @role: host or board
 * @dbg_root: the module's debugfs directory
 *
 * driver_override binds any device to any driver, whatever the ID table
 * says; only an ivshmem-doorbell function is taken.
 *
 * Return: the link, device-managed, or an ERR_PTR.
 */
struct iobond_link *iobond_link_probe(struct pci_dev *pdev,
				      enum iobond_role role,
				      struct dentry *dbg_root)
{
	static const struct pci_device_id ids[] = {
		{ PCI_DEVICE(IOBOND_IVSHMEM_VENDOR, IOBOND_IVSHMEM_DEVICE) },
		{ }
	};
	struct iobond_link *link;
	int ret;

	if (!pci_match_id(ids, pdev)) {
		dev_err(&pdev->dev, "%04x:%04x is no IO-Bond link function\n",
			pdev->vendor, pdev->device);
		return ERR_PTR(-ENODEV);
	}
	link = devm_kzalloc(&pdev->dev, sizeof(*link), GFP_KERNEL);
	if (!link)
		return ERR_PTR(-ENOMEM);
	ret = lnk_init(link, pdev, role, dbg_root);
	return ret ? ERR_PTR(ret) : link;
}

/**
 * iobond_link_set_owner() - let the link's interrupts reach its owner
 * @link: a link from iobond_link_probe()
 * @owner: the module's state for @link, whole: the hooks run from now on
 * @ctrl_doorbell: see struct iobond_link
 * @peer_changed: see struct iobond_link
 * @data_doorbell: see struct iobond_link
 *
 * Each hook is published with release, after @owner, so a handler that
 * sees a hook sees @owner and everything written to it before this call.
 * An owner whose set-up fails never calls this, and so frees its state
 * with no handler able to reach it.
 */
void iobond_link_set_owner(struct iobond_link *link, void *owner,
			   void (*ctrl_doorbell)(struct iobond_link *link),
			   void (*peer_changed)(struct iobond_link *link, bool up),
			   void (*data_doorbell)(struct iobond_link *link,
						 unsigned int vector))
{
	link->owner = owner;
	/* Each pairs with the acquire of the handler that calls it. */
	smp_store_release(&link->peer_changed, peer_changed);
	/* As above. */
	smp_store_release(&link->data_doorbell, data_doorbell);
	/* As above. */
	smp_store_release(&link->ctrl_doorbell, ctrl_doorbell);
}

/**
 * iobond_link_start() - start the heartbeat once the owner's hooks are set
 * @link: a link from iobond_link_probe()
 */
void iobond_link_start(struct iobond_link *link)
{
	schedule_delayed_work(&link->tick, 0);
}

/**
 * iobond_link_exit() - take one end of a link down cleanly
 * @link: the link
 *
 * The peer sees OFFLINE in our block, and a control doorbell tells it to
 * look now rather than at its next tick.  Called on unbind and on system
 * shutdown, so that a peer learns at once that we went away; a second call
 * does nothing.
 */
void iobond_link_exit(struct iobond_link *link)
{
	if (link->stopped)
		return;
	link->stopped = true;
	iobond_link_debugfs_exit(link);
	/* No handler can requeue the tick once the vectors are gone. */
	iobond_ivshmem_exit(&link->ivs);
	cancel_delayed_work_sync(&link->tick);

	mutex_lock(&link->lock);
	if (link->role == IOBOND_ROLE_HOST || link->attached) {
		wr32(link->own->state, IOBOND_SIDE_OFFLINE);
		if (link->peer_alive)
			lnk_ring_peer(link, IOBOND_CTRL_VECTOR);
	}
	mutex_unlock(&link->lock);
	dev_info(lnk_dev(link), "link down\n");
}

// SPDX-License-Identifier: GPL-2.0
/*
 * iobond_guest: DMA confined to the bonded region's window.
 *
 * The host can reach nothing of the board but the region, so every buffer
 * a virtio driver hands to its device must be in the window, and its DMA
 * address is its offset there.  Each slot's device has a zone of the
 * window to itself (IOBOND_ZONE_SIZE), behind a struct device of its own
 * that is the virtio device's parent: the host revokes one device's zone
 * on its reset without touching the others'.  Coherent allocations (the
 * rings) come straight from the zone; streaming mappings are bounced
 * through it, like swiotlb does.  Where each bounce buffer copies from and
 * to is kept in the board's own memory: the host can write the window, so
 * nothing that steers a copy may live there.  A full zone fails the
 * mapping.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/dma-map-ops.h>
#include <linux/highmem.h>
#include <linux/kstrtox.h>
#include <linux/rcupdate.h>
#include <linux/scatterlist.h>
#include <linux/seq_file.h>
#include <linux/slab.h>

#include "board.h"

/* The window's first page is never handed out: no buffer at address 0. */
#define IBG_DMA_BASE		PAGE_SIZE
#define IBG_DMA_MIN_ORDER	6	/* 64-byte granules */

struct ibg_map {
	phys_addr_t orig;
	size_t size;
	enum dma_data_direction dir;
};

static struct ibg_zone *ibg_dma_zone(struct device *dev)
{
	return container_of(dev, struct ibg_zone, dev);
}

static void *ibg_dma_vaddr(struct ibg_board *b, dma_addr_t addr)
{
	return b->window + addr;
}

/*
 * debugfs "hog": take up to N bytes of the window in all (write N), or give
 * them all back (write 0).  It is how the tests run the window dry; nothing
 * else uses it.  From the first take on it also keeps the run of every
 * streaming mapping undone, so that the window stays dry however the NIC's
 * buffers come and go: a received packet frees a buffer that a send would
 * otherwise take.  Coherent memory (rings) is not kept: a frozen disk's
 * restore needs its rings back.  Runs are recorded in board memory like
 * any mapping's.
 */
struct ibg_hog {
	struct list_head node;
	struct gen_pool *pool;
	unsigned long va;
	size_t size;
};

/* Hold [@va, @va + @size) of @pool; unless @force, only while keeping. */
static bool ibg_hog_hold(struct ibg_board *b, struct ibg_hog *h,
			 struct gen_pool *pool, unsigned long va, size_t size,
			 bool force)
{
	unsigned long flags;
	bool held = false;

	spin_lock_irqsave(&b->hog_lock, flags);
	if (force || b->hog_keeping) {
		h->pool = pool;
		h->va = va;
		h->size = size;
		list_add(&h->node, &b->hogs);
		WRITE_ONCE(b->hogged, b->hogged + size);
		held = true;
	}
	spin_unlock_irqrestore(&b->hog_lock, flags);
	return held;
}

/* Called by every unmap: keep the run if the hog is keeping. */
static bool ibg_hog_keep(struct ibg_zone *z, unsigned long va, size_t size)
{
	struct ibg_board *b = z->board;
	struct ibg_hog *h;

	if (!READ_ONCE(b->hog_keeping))
		return false;
	/* No record, no keeping: the run goes back, as it would anyway. */
	h = kmalloc(sizeof(*h), GFP_ATOMIC);
	if (!h)
		return false;
	if (ibg_hog_hold(b, h, z->pool, va, size, false))
		return true;
	kfree(h);
	return false;
}

/* A run of a fenced zone, freed by its user, not yet by the zone. */
struct ibg_fenced {
	struct list_head node;
	unsigned long va;
	size_t size;
};

/*
 * Give [@va, @va + @size) back to zone @z, unless the zone is fenced or,
 * for a @streaming mapping's run, the tests' hog keeps it.
 */
static void ibg_zone_free(struct ibg_zone *z, unsigned long va, size_t size,
			  bool streaming)
{
	struct ibg_fenced *f;
	unsigned long flags;

	spin_lock_irqsave(&z->fence_lock, flags);
	if (z->fenced) {
		/* No record, no return: the run stays lost, not reused. */
		f = kmalloc(sizeof(*f), GFP_ATOMIC);
		if (f) {
			f->va = va;
			f->size = size;
			list_add(&f->node, &z->fenced_frees);
		}
		z->fenced_bytes += size;
		spin_unlock_irqrestore(&z->fence_lock, flags);
		return;
	}
	spin_unlock_irqrestore(&z->fence_lock, flags);
	/* ibg_hog_take() waits for a free that missed its keeping. */
	rcu_read_lock();
	if (!streaming || !ibg_hog_keep(z, va, size))
		gen_pool_free(z->pool, va, size);
	rcu_read_unlock();
}

/**
 * ibg_zone_fence() - keep a zone's freed memory from being handed out
 * @z: the zone of a device whose reset the host did not answer
 *
 * The host's backend may still write the device's rings and buffers: had
 * the board handed them to anything else, the backend would write into it.
 */
void ibg_zone_fence(struct ibg_zone *z)
{
	unsigned long flags;

	spin_lock_irqsave(&z->fence_lock, flags);
	z->fenced = true;
	spin_unlock_irqrestore(&z->fence_lock, flags);
}

/**
 * ibg_zone_unfence() - the host let go of the zone: give back its frees
 * @z: the zone; the host answered its device's reset, or said the slot is
 *	gone (it detaches and revokes before it empties one)
 */
void ibg_zone_unfence(struct ibg_zone *z)
{
	struct ibg_fenced *f, *tmp;
	unsigned long flags;
	LIST_HEAD(frees);

	spin_lock_irqsave(&z->fence_lock, flags);
	z->fenced = false;
	list_splice_init(&z->fenced_frees, &frees);
	spin_unlock_irqrestore(&z->fence_lock, flags);
	list_for_each_entry_safe(f, tmp, &frees, node) {
		gen_pool_free(z->pool, f->va, f->size);
		spin_lock_irqsave(&z->fence_lock, flags);
		z->fenced_bytes -= f->size;
		spin_unlock_irqrestore(&z->fence_lock, flags);
		kfree(f);
	}
}

/**
 * ibg_zone_fenced() - whether a zone waits for the host to answer a reset
 * @z: the zone
 *
 * Return: true while it is fenced.
 */
bool ibg_zone_fenced(struct ibg_zone *z)
{
	return READ_ONCE(z->fenced);
}

static void *ibg_dma_alloc(struct device *dev, size_t size,
			   dma_addr_t *dma_handle, gfp_t gfp,
			   unsigned long attrs)
{
	struct ibg_zone *z = ibg_dma_zone(dev);
	struct genpool_data_align align = { .align = PAGE_SIZE };
	unsigned long va;

	va = gen_pool_alloc_algo(z->pool, PAGE_ALIGN(size),
				 gen_pool_first_fit_align, &align);
	if (!va) {
		dev_warn_ratelimited(dev, "DMA window full: no %zu coherent bytes\n",
				     size);
		return NULL;
	}
	memset((void *)va, 0, PAGE_ALIGN(size));
	*dma_handle = gen_pool_virt_to_phys(z->pool, va);
	return (void *)va;
}

static void ibg_dma_free(struct device *dev, size_t size, void *vaddr,
			 dma_addr_t dma_handle, unsigned long attrs)
{
	ibg_zone_free(ibg_dma_zone(dev), (unsigned long)vaddr, PAGE_ALIGN(size),
		      false);
}

static void ibg_bounce(struct ibg_board *b, dma_addr_t addr,
		       struct ibg_map *m, bool to_device)
{
	void *window = ibg_dma_vaddr(b, addr);
	void *mem = phys_to_virt(m->orig);

	if (to_device)
		memcpy(window, mem, m->size);
	else
		memcpy(mem, window, m->size);
}

static dma_addr_t ibg_dma_map_page(struct device *dev, struct page *page,
				   unsigned long offset, size_t size,
				   enum dma_data_direction dir,
				   unsigned long attrs)
{
	struct ibg_zone *z = ibg_dma_zone(dev);
	struct ibg_board *b = z->board;
	unsigned long va, flags;
	struct ibg_map *m;
	dma_addr_t addr;
	void *old;

	/* max_mapping_size is advice: a sync finds its mapping within it. */
	if (size > SZ_64K) {
		dev_warn_ratelimited(dev, "cannot map %zu bytes: at most 64 KiB at once\n",
				     size);
		return DMA_MAPPING_ERROR;
	}
	m = kmalloc(sizeof(*m), GFP_ATOMIC);
	if (!m)
		return DMA_MAPPING_ERROR;
	va = gen_pool_alloc(z->pool, size);
	if (!va) {
		dev_warn_ratelimited(dev, "DMA window full: cannot map %zu bytes\n",
				     size);
		goto err_free;
	}
	addr = gen_pool_virt_to_phys(z->pool, va);
	m->orig = page_to_phys(page) + offset;
	m->size = size;
	m->dir = dir;
	xa_lock_irqsave(&b->maps, flags);
	old = __xa_store(&b->maps, addr >> IBG_DMA_MIN_ORDER, m, GFP_ATOMIC);
	xa_unlock_irqrestore(&b->maps, flags);
	if (xa_err(old))
		goto err_pool;
	/*
	 * Whatever the direction, as swiotlb does since CVE-2022-0854: a
	 * device that writes less than the whole buffer must leave the
	 * buffer's own bytes there at unmap, not an earlier mapping's.
	 */
	ibg_bounce(b, addr, m, true);
	atomic_inc(&b->nmaps);
	return addr;

err_pool:
	ibg_zone_free(z, va, size, true);
err_free:
	kfree(m);
	return DMA_MAPPING_ERROR;
}

static void ibg_dma_unmap_page(struct device *dev, dma_addr_t addr,
			       size_t size, enum dma_data_direction dir,
			       unsigned long attrs)
{
	struct ibg_zone *z = ibg_dma_zone(dev);
	struct ibg_board *b = z->board;
	unsigned long flags;
	struct ibg_map *m;

	xa_lock_irqsave(&b->maps, flags);
	m = __xa_erase(&b->maps, addr >> IBG_DMA_MIN_ORDER);
	xa_unlock_irqrestore(&b->maps, flags);

	if (WARN_ONCE(!m || m->size != size,
		      "iobond_guest: unmapping %pad (%zu bytes) that was not mapped\n",
		      &addr, size)) {
		return;
	}
	if (dir == DMA_FROM_DEVICE || dir == DMA_BIDIRECTIONAL)
		ibg_bounce(b, addr, m, false);
	ibg_zone_free(z, (unsigned long)ibg_dma_vaddr(b, addr), size, true);
	kfree(m);
	atomic_dec(&b->nmaps);
}

/*
 * Sync [@addr, @addr + @size), which dma_sync_single_range_*() may start
 * inside a mapping: the mapping is the nearest one at or below @addr, no
 * further than the largest mapping reaches.
 */
static void ibg_dma_sync(struct device *dev, dma_addr_t addr, size_t size,
			 bool to_device)
{
	struct ibg_board *b = ibg_dma_zone(dev)->board;
	unsigned long g = addr >> IBG_DMA_MIN_ORDER;
	struct ibg_map *m = NULL;
	dma_addr_t start;
	void *window;
	void *mem;

	for (start = g << IBG_DMA_MIN_ORDER; ; start -= BIT(IBG_DMA_MIN_ORDER)) {
		m = xa_load(&b->maps, start >> IBG_DMA_MIN_ORDER);
		if (m || !start || addr - start >= SZ_64K)
			break;
	}
	if (!m || addr - start > m->size || size > m->size - (addr - start)) {
		dev_warn_ratelimited(dev, "sync of %pad (%zu bytes) that was not mapped\n",
				     &addr, size);
		return;
	}
	window = ibg_dma_vaddr(b, addr);
	mem = phys_to_virt(m->orig + (addr - start));
	if (to_device)
		memcpy(window, mem, size);
	else
		memcpy(mem, window, size);
}

static void ibg_dma_sync_for_cpu(struct device *dev, dma_addr_t addr,
				 size_t size, enum dma_data_direction dir)
{
	if (dir == DMA_FROM_DEVICE || dir == DMA_BIDIRECTIONAL)
		ibg_dma_sync(dev, addr, size, false);
}

static void ibg_dma_sync_for_device(struct device *dev, dma_addr_t addr,
				    size_t size, enum dma_data_direction dir)
{
	if (dir == DMA_TO_DEVICE || dir == DMA_BIDIRECTIONAL)
		ibg_dma_sync(dev, addr, size, true);
}

static void ibg_dma_unmap_sg(struct device *dev, struct scatterlist *sgl,
			     int nents, enum dma_data_direction dir,
			     unsigned long attrs)
{
	struct scatterlist *sg;
	int i;

	for_each_sg(sgl, sg, nents, i)
		ibg_dma_unmap_page(dev, sg->dma_address, sg_dma_len(sg), dir,
				   attrs);
}

static int ibg_dma_map_sg(struct device *dev, struct scatterlist *sgl,
			  int nents, enum dma_data_direction dir,
			  unsigned long attrs)
{
	struct scatterlist *sg;
	int i;

	for_each_sg(sgl, sg, nents, i) {
		sg->dma_address = ibg_dma_map_page(dev, sg_page(sg), sg->offset,
						   sg->length, dir, attrs);
		if (sg->dma_address == DMA_MAPPING_ERROR) {
			ibg_dma_unmap_sg(dev, sgl, i, dir, attrs);
			return -ENOMEM;
		}
		sg_dma_len(sg) = sg->length;
	}
	return nents;
}

static size_t ibg_dma_max_mapping_size(struct device *dev)
{
	/* A bounce buffer is one contiguous run of the window. */
	return SZ_64K;
}

static const struct dma_map_ops ibg_dma_ops = {
	.alloc			= ibg_dma_alloc,
	.free			= ibg_dma_free,
	.map_page		= ibg_dma_map_page,
	.unmap_page		= ibg_dma_unmap_page,
	.map_sg			= ibg_dma_map_sg,
	.unmap_sg		= ibg_dma_unmap_sg,
	.sync_single_for_cpu	= ibg_dma_sync_for_cpu,
	.sync_single_for_device	= ibg_dma_sync_for_device,
	.max_mapping_size	= ibg_dma_max_mapping_size,
};

static int ibg_dma_window_show(struct seq_file *s, void *unused)
{
	struct ibg_board *b = s->private;
	size_t size = 0, avail = 0, fenced = 0;
	unsigned int i;

	for (i = 0; i < IOBOND_MAX_DEVICES; i++) {
		size += gen_pool_size(b->zones[i]->pool);
		avail += gen_pool_avail(b->zones[i]->pool);
		fenced += READ_ONCE(b->zones[i]->fenced_bytes);
	}
	seq_printf(s, "size: %zu\nused: %zu\nfree: %zu\nstreaming_maps: %d\nhogged: %zu\nfenced: %zu\n",
		   size, size - avail, avail, atomic_read(&b->nmaps),
		   READ_ONCE(b->hogged),
		   fenced);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ibg_dma_window);

static void ibg_zone_release(struct device *dev)
{
	struct ibg_zone *z = ibg_dma_zone(dev);

	/* Its users are gone, and the link with them. */
	if (z->pool)
		ibg_zone_unfence(z);
	/*
	 * gen_pool_destroy() BUG()s on what is still allocated: leak it.  A
	 * fence that could not record a free lost that run knowingly.
	 */
	if (z->pool && (z->fenced_bytes ||
			WARN_ONCE(gen_pool_avail(z->pool) != gen_pool_size(z->pool),
				  "iobond_guest: %s: DMA memory leaked\n", dev_name(dev))))
		dev_warn(dev, "%zu fenced bytes were lost\n", z->fenced_bytes);
	else if (z->pool)
		gen_pool_destroy(z->pool);
	kfree(z);
}

/*
 * Slot @i's zone, as a device of its own under the transport's: the parent
 * of the slot's virtio device, whose DMA it serves.
 */
static int ibg_zone_add(struct ibg_board *b, unsigned int i)
{
	u64 size = IOBOND_ZONE_SIZE(b->window_size);
	u64 start = i * size, end = start + size;
	int node = dev_to_node(&b->dev);
	struct ibg_zone *z;
	int ret;

	z = kzalloc(sizeof(*z), GFP_KERNEL);
	if (!z)
		return -ENOMEM;
	z->board = b;
	spin_lock_init(&z->fence_lock);
	INIT_LIST_HEAD(&z->fenced_frees);
	device_initialize(&z->dev);
	z->dev.parent = &b->dev;
	z->dev.release = ibg_zone_release;
	z->dev.coherent_dma_mask = DMA_BIT_MASK(64);
	z->dev.dma_mask = &z->dev.coherent_dma_mask;
	set_dma_ops(&z->dev, &ibg_dma_ops);
	ret = dev_set_name(&z->dev, "%s-zone%u", pci_name(b->link->ivs.pdev), i);
	if (ret)
		goto err_put;
	z->pool = gen_pool_create(IBG_DMA_MIN_ORDER, node);
	if (!z->pool) {
		ret = -ENOMEM;
		goto err_put;
	}
	/* Zone 0 starts a page in: no buffer at address 0. */
	start = max_t(u64, start, IBG_DMA_BASE);
	if (end > start) {
		ret = gen_pool_add_virt(z->pool, (unsigned long)b->window + start,
					start, end - start, node);
		if (ret)
			goto err_put;
	}
	ret = device_add(&z->dev);
	if (ret)
		goto err_put;
	b->zones[i] = z;
	return 0;

err_put:
	put_device(&z->dev);
	return ret;
}

static void ibg_zones_del(struct ibg_board *b)
{
	unsigned int i;

	for (i = 0; i < IOBOND_MAX_DEVICES; i++) {
		if (b->zones[i])
			device_unregister(&b->zones[i]->dev);
		b->zones[i] = NULL;
	}
}

/**
 * ibg_dma_init() - cut the window into the slots' zones
 * @b: the board, its device added, with @b->window and @b->window_size set
 *
 * Return: 0 or a negative errno.
 */
int ibg_dma_init(struct ibg_board *b)
{
	unsigned int i;
	int ret;

	xa_init_flags(&b->maps, XA_FLAGS_LOCK_IRQ);
	INIT_LIST_HEAD(&b->hogs);
	spin_lock_init(&b->hog_lock);
	mutex_init(&b->hog_mutex);
	for (i = 0; i < IOBOND_MAX_DEVICES; i++) {
		ret = ibg_zone_add(b, i);
		if (ret) {
			ibg_zones_del(b);
			return ret;
		}
	}
	return 0;
}

static void ibg_hog_release(struct ibg_board *b)
{
	struct ibg_hog *h, *tmp;
	unsigned long flags;
	LIST_HEAD(hogs);

	spin_lock_irqsave(&b->hog_lock, flags);
	WRITE_ONCE(b->hog_keeping, false);
	list_splice_init(&b->hogs, &hogs);
	WRITE_ONCE(b->hogged, 0);
	spin_unlock_irqrestore(&b->hog_lock, flags);
	list_for_each_entry_safe(h, tmp, &hogs, node) {
		gen_pool_free(h->pool, h->va, h->size);
		kfree(h);
		cond_resched();
	}
}

/* Take from every zone in turn, in shrinking chunks, until @want is held. */
static void ibg_hog_take(struct ibg_board *b, size_t want)
{
	struct gen_pool *pool;
	unsigned long va, flags;
	struct ibg_hog *h;
	size_t chunk, held;
	unsigned int i;

	spin_lock_irqsave(&b->hog_lock, flags);
	WRITE_ONCE(b->hog_keeping, true);
	spin_unlock_irqrestore(&b->hog_lock, flags);
	/*
	 * A free that looked before keeping began has given its run back by
	 * the time this returns (ibg_zone_free()): the takes below find it.
	 */
	synchronize_rcu();
	for (i = 0; i < IOBOND_MAX_DEVICES; i++) {
		pool = b->zones[i]->pool;
		chunk = SZ_1M;
		while (chunk >= BIT(IBG_DMA_MIN_ORDER)) {
			held = READ_ONCE(b->hogged);
			if (held >= want)
				return;
			chunk = min(chunk, want - held);
			h = kmalloc(sizeof(*h), GFP_KERNEL);
			if (!h)
				return;
			va = gen_pool_alloc(pool, chunk);
			if (!va) {
				kfree(h);
				chunk /= 2;
				continue;
			}
			ibg_hog_hold(b, h, pool, va, chunk, true);
		}
	}
}

static ssize_t ibg_hog_write(struct file *file, const char __user *ubuf,
			     size_t len, loff_t *ppos)
{
	struct ibg_board *b = file->private_data;
	unsigned long long want;
	int ret;

	ret = kstrtoull_from_user(ubuf, len, 0, &want);
	if (ret)
		return ret;
	/* A second write takes more rather than starting again. */
	mutex_lock(&b->hog_mutex);
	if (want)
		ibg_hog_take(b, want);
	else
		ibg_hog_release(b);
	mutex_unlock(&b->hog_mutex);
	return len;
}

static ssize_t ibg_hog_read(struct file *file, char __user *ubuf,
			    size_t len, loff_t *ppos)
{
	struct ibg_board *b = file->private_data;
	char buf[32];
	int n;

	n = snprintf(buf, sizeof(buf), "%zu\n", READ_ONCE(b->hogged));
	return simple_read_from_buffer(ubuf, len, ppos, buf, n);
}

static const struct file_operations ibg_hog_fops = {
	.owner	= THIS_MODULE,
	.open	= simple_open,
	.read	= ibg_hog_read,
	.write	= ibg_hog_write,
	.llseek	= default_llseek,
};

/**
 * ibg_dma_debugfs() - show the window's use in the link's debugfs directory
 * @b: the board, fully set up: the file goes with the link's directory
 */
void ibg_dma_debugfs(struct ibg_board *b)
{
	debugfs_create_file("window", 0444, b->link->dbg, b,
			    &ibg_dma_window_fops);
	debugfs_create_file("hog", 0600, b->link->dbg, b, &ibg_hog_fops);
}

/**
 * ibg_dma_exit() - drop the zones
 * @b: the board; no virtio device of it is left, and the debugfs file
 *	went with the link
 */
void ibg_dma_exit(struct ibg_board *b)
{
	ibg_hog_release(b);
	WARN_ONCE(!xa_empty(&b->maps), "iobond_guest: streaming DMA maps leaked\n");
	xa_destroy(&b->maps);
	ibg_zones_del(b);
}

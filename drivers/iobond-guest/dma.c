// SPDX-License-Identifier: GPL-2.0
/*
 * iobond_guest: DMA confined to the bonded region's window.
 *
 * The host can reach nothing of the board but the region, so every buffer
 * a virtio driver hands to its device must be in the window, and its DMA
 * address is its offset there.  Coherent allocations (the rings) come
 * straight from the window; streaming mappings are bounced through it,
 * like swiotlb does.  Where each bounce buffer copies from and to is kept
 * in the board's own memory: the host can write the window, so nothing
 * that steers a copy may live there.  A full window fails the mapping.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/dma-map-ops.h>
#include <linux/highmem.h>
#include <linux/kstrtox.h>
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

static struct ibg_board *ibg_dma_board(struct device *dev)
{
	return container_of(dev, struct ibg_board, dev);
}

static void *ibg_dma_vaddr(struct ibg_board *b, dma_addr_t addr)
{
	return b->window + addr;
}

static void *ibg_dma_alloc(struct device *dev, size_t size,
			   dma_addr_t *dma_handle, gfp_t gfp,
			   unsigned long attrs)
{
	struct ibg_board *b = ibg_dma_board(dev);
	struct genpool_data_align align = { .align = PAGE_SIZE };
	unsigned long va;

	va = gen_pool_alloc_algo(b->pool, PAGE_ALIGN(size),
				 gen_pool_first_fit_align, &align);
	if (!va) {
		dev_warn_ratelimited(dev, "DMA window full: no %zu coherent bytes\n",
				     size);
		return NULL;
	}
	memset((void *)va, 0, PAGE_ALIGN(size));
	*dma_handle = gen_pool_virt_to_phys(b->pool, va);
	return (void *)va;
}

static void ibg_dma_free(struct device *dev, size_t size, void *vaddr,
			 dma_addr_t dma_handle, unsigned long attrs)
{
	gen_pool_free(ibg_dma_board(dev)->pool, (unsigned long)vaddr,
		      PAGE_ALIGN(size));
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
	struct ibg_board *b = ibg_dma_board(dev);
	unsigned long va, flags;
	struct ibg_map *m;
	dma_addr_t addr;
	void *old;

	m = kmalloc(sizeof(*m), GFP_ATOMIC);
	if (!m)
		return DMA_MAPPING_ERROR;
	va = gen_pool_alloc(b->pool, size);
	if (!va) {
		dev_warn_ratelimited(dev, "DMA window full: cannot map %zu bytes\n",
				     size);
		goto err_free;
	}
	addr = gen_pool_virt_to_phys(b->pool, va);
	m->orig = page_to_phys(page) + offset;
	m->size = size;
	m->dir = dir;
	xa_lock_irqsave(&b->maps, flags);
	old = __xa_store(&b->maps, addr >> IBG_DMA_MIN_ORDER, m, GFP_ATOMIC);
	xa_unlock_irqrestore(&b->maps, flags);
	if (xa_err(old))
		goto err_pool;
	if (dir == DMA_TO_DEVICE || dir == DMA_BIDIRECTIONAL)
		ibg_bounce(b, addr, m, true);
	atomic_inc(&b->nmaps);
	return addr;

err_pool:
	gen_pool_free(b->pool, va, size);
err_free:
	kfree(m);
	return DMA_MAPPING_ERROR;
}

static void ibg_dma_unmap_page(struct device *dev, dma_addr_t addr,
			       size_t size, enum dma_data_direction dir,
			       unsigned long attrs)
{
	struct ibg_board *b = ibg_dma_board(dev);
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
	gen_pool_free(b->pool, (unsigned long)ibg_dma_vaddr(b, addr), size);
	kfree(m);
	atomic_dec(&b->nmaps);
}

static void ibg_dma_sync(struct device *dev, dma_addr_t addr, bool to_device)
{
	struct ibg_board *b = ibg_dma_board(dev);
	struct ibg_map *m = xa_load(&b->maps, addr >> IBG_DMA_MIN_ORDER);

	if (m)
		ibg_bounce(b, addr, m, to_device);
}

static void ibg_dma_sync_for_cpu(struct device *dev, dma_addr_t addr,
				 size_t size, enum dma_data_direction dir)
{
	if (dir == DMA_FROM_DEVICE || dir == DMA_BIDIRECTIONAL)
		ibg_dma_sync(dev, addr, false);
}

static void ibg_dma_sync_for_device(struct device *dev, dma_addr_t addr,
				    size_t size, enum dma_data_direction dir)
{
	if (dir == DMA_TO_DEVICE || dir == DMA_BIDIRECTIONAL)
		ibg_dma_sync(dev, addr, true);
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
	size_t size = gen_pool_size(b->pool), avail = gen_pool_avail(b->pool);

	seq_printf(s, "size: %zu\nused: %zu\nfree: %zu\nstreaming_maps: %d\nhogged: %zu\n",
		   size, size - avail, avail, atomic_read(&b->nmaps), b->hogged);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ibg_dma_window);

/**
 * ibg_dma_init() - make the window the only DMA space of @b->dev
 * @b: the board, with @b->window and @b->window_size set
 *
 * Return: 0 or -ENOMEM.
 */
int ibg_dma_init(struct ibg_board *b)
{
	int ret;

	xa_init_flags(&b->maps, XA_FLAGS_LOCK_IRQ);
	INIT_LIST_HEAD(&b->hogs);
	mutex_init(&b->hog_lock);
	b->pool = gen_pool_create(IBG_DMA_MIN_ORDER, dev_to_node(&b->dev));
	if (!b->pool)
		return -ENOMEM;
	ret = gen_pool_add_virt(b->pool, (unsigned long)b->window + IBG_DMA_BASE,
				IBG_DMA_BASE, b->window_size - IBG_DMA_BASE,
				dev_to_node(&b->dev));
	if (ret) {
		gen_pool_destroy(b->pool);
		return ret;
	}
	b->dev.coherent_dma_mask = DMA_BIT_MASK(64);
	b->dev.dma_mask = &b->dev.coherent_dma_mask;
	set_dma_ops(&b->dev, &ibg_dma_ops);
	return 0;
}

/*
 * debugfs "hog": take up to N bytes of the window in all (write N), or give
 * them all back (write 0).  It is how the tests run the window dry; nothing else
 * uses it.  Chunks are kept in board memory like any mapping's record.
 */
struct ibg_hog {
	struct list_head node;
	unsigned long va;
	size_t size;
};

static void ibg_hog_release(struct ibg_board *b)
{
	struct ibg_hog *h, *tmp;

	list_for_each_entry_safe(h, tmp, &b->hogs, node) {
		gen_pool_free(b->pool, h->va, h->size);
		list_del(&h->node);
		kfree(h);
	}
	b->hogged = 0;
}

static void ibg_hog_take(struct ibg_board *b, size_t want)
{
	size_t chunk = SZ_1M;
	struct ibg_hog *h;

	while (b->hogged < want && chunk >= BIT(IBG_DMA_MIN_ORDER)) {
		chunk = min(chunk, want - b->hogged);
		h = kzalloc(sizeof(*h), GFP_KERNEL);
		if (!h)
			return;
		h->va = gen_pool_alloc(b->pool, chunk);
		if (!h->va) {
			kfree(h);
			chunk /= 2;
			continue;
		}
		h->size = chunk;
		list_add(&h->node, &b->hogs);
		b->hogged += chunk;
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
	/*
	 * A second write takes more rather than starting again: a buffer the
	 * NIC held during the first one comes back later, and a test that
	 * runs the window dry must be able to take it too.
	 */
	mutex_lock(&b->hog_lock);
	if (want)
		ibg_hog_take(b, want);
	else
		ibg_hog_release(b);
	mutex_unlock(&b->hog_lock);
	return len;
}

static ssize_t ibg_hog_read(struct file *file, char __user *ubuf,
			    size_t len, loff_t *ppos)
{
	struct ibg_board *b = file->private_data;
	char buf[32];
	int n;

	mutex_lock(&b->hog_lock);
	n = snprintf(buf, sizeof(buf), "%zu\n", b->hogged);
	mutex_unlock(&b->hog_lock);
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
 * ibg_dma_exit() - drop the window allocator
 * @b: the board; no virtio device of it is left, and the debugfs file
 *	went with the link
 */
void ibg_dma_exit(struct ibg_board *b)
{
	ibg_hog_release(b);
	WARN_ONCE(!xa_empty(&b->maps), "iobond_guest: streaming DMA maps leaked\n");
	xa_destroy(&b->maps);
	gen_pool_destroy(b->pool);
}

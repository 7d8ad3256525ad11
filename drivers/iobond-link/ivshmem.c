// SPDX-License-Identifier: GPL-2.0
/*
 * IO-Bond link backend over QEMU's ivshmem-doorbell function.
 *
 * BAR0 holds four registers, BAR1 the MSI-X table and BAR2 the shared
 * region (docs/specs/ivshmem-spec.rst in QEMU).  Doorbells arrive only as
 * MSI-X interrupts, one vector each.  A doorbell to a peer or vector that is
 * not connected is dropped without a trace, so the protocol above never
 * relies on one arriving: it is a hint to look at the region.
 */

#include <linux/io.h>
#include <linux/pci.h>

#include "iobond_link.h"

#define IVS_REG_INTR_MASK	0x00
#define IVS_REG_INTR_STATUS	0x04
#define IVS_REG_IV_POSITION	0x08
#define IVS_REG_DOORBELL	0x0c

#define IVS_BAR_REGS		0
#define IVS_BAR_SHM		2

static irqreturn_t ivs_interrupt(int irq, void *data)
{
	struct iobond_ivshmem_vec *v = data;

	v->count++;
	v->ivs->doorbell(v->ivs, v->index);
	return IRQ_HANDLED;
}

static int ivs_map(struct iobond_ivshmem *ivs)
{
	struct pci_dev *pdev = ivs->pdev;
	resource_size_t start = pci_resource_start(pdev, IVS_BAR_SHM);
	int ret;

	ret = pcim_iomap_regions(pdev, BIT(IVS_BAR_REGS), dev_name(&pdev->dev));
	if (ret) {
		dev_err(&pdev->dev, "cannot map BAR%d: %d\n", IVS_BAR_REGS, ret);
		return ret;
	}
	ivs->regs = pcim_iomap_table(pdev)[IVS_BAR_REGS];

	ivs->shm_size = pci_resource_len(pdev, IVS_BAR_SHM);
	if (!(pci_resource_flags(pdev, IVS_BAR_SHM) & IORESOURCE_MEM) ||
	    ivs->shm_size <= IOBOND_WINDOW_OFF) {
		dev_err(&pdev->dev, "BAR%d is no shared region (%pa bytes)\n",
			IVS_BAR_SHM, &ivs->shm_size);
		return -ENODEV;
	}
	if (!devm_request_mem_region(&pdev->dev, start, ivs->shm_size,
				     dev_name(&pdev->dev))) {
		dev_err(&pdev->dev, "BAR%d is busy\n", IVS_BAR_SHM);
		return -EBUSY;
	}
	/*
	 * The region is ordinary RAM on the far side of the link; mapping it
	 * write-back lets the protocol (and later the vrings) use plain loads
	 * and stores with CPU barriers, as virtio does for its rings.
	 */
	ivs->shm = devm_memremap(&pdev->dev, start, ivs->shm_size,
				 MEMREMAP_WB);
	if (IS_ERR(ivs->shm)) {
		dev_err(&pdev->dev, "cannot map the shared region: %ld\n",
			PTR_ERR(ivs->shm));
		return PTR_ERR(ivs->shm);
	}
	return 0;
}

static void ivs_free_irqs(struct iobond_ivshmem *ivs, unsigned int n)
{
	while (n--)
		free_irq(pci_irq_vector(ivs->pdev, n), &ivs->vec[n]);
}

static int ivs_request_irqs(struct iobond_ivshmem *ivs)
{
	struct pci_dev *pdev = ivs->pdev;
	unsigned int i;
	int n, ret;

	/*
	 * Vector 0 is the control vector; the data path needs one more.  A
	 * function with fewer would come up with its queues never notified.
	 */
	n = pci_msix_vec_count(pdev);
	if (n < 2) {
		dev_err(&pdev->dev, "%d MSI-X vectors: a link needs 2 or more (ivshmem-doorbell vectors=)\n",
			max(n, 0));
		return -ENODEV;
	}
	n = pci_alloc_irq_vectors(pdev, 2, min(n, IOBOND_MAX_VECTORS),
				  PCI_IRQ_MSIX);
	if (n < 0) {
		dev_err(&pdev->dev, "cannot enable MSI-X: %d\n", n);
		return n;
	}
	ivs->nvec = n;

	for (i = 0; i < ivs->nvec; i++) {
		struct iobond_ivshmem_vec *v = &ivs->vec[i];

		v->ivs = ivs;
		v->index = i;
		snprintf(v->name, sizeof(v->name), "%s-v%u",
			 dev_driver_string(&pdev->dev), i);
		ret = request_irq(pci_irq_vector(pdev, i), ivs_interrupt, 0,
				  v->name, v);
		if (ret) {
			dev_err(&pdev->dev, "cannot request vector %u: %d\n",
				i, ret);
			goto err_request;
		}
	}
	return 0;

err_request:
	ivs_free_irqs(ivs, i);
	pci_free_irq_vectors(pdev);
	return ret;
}

/**
 * iobond_ivshmem_init() - take an ivshmem-doorbell function as a link end
 * @ivs: zeroed backend state
 * @pdev: the function
 * @doorbell: called in hard-irq context for every doorbell received
 *
 * On success the region is mapped, MSI-X and bus mastering are on (ivshmem
 * raises no interrupt without both) and every vector granted has a
 * handler.  Returns 0 or a negative errno, with a dev_err for each cause.
 */
int iobond_ivshmem_init(struct iobond_ivshmem *ivs, struct pci_dev *pdev,
			void (*doorbell)(struct iobond_ivshmem *ivs,
					 unsigned int vector))
{
	int ret;

	ivs->pdev = pdev;
	ivs->doorbell = doorbell;

	ret = pcim_enable_device(pdev);
	if (ret) {
		dev_err(&pdev->dev, "cannot enable device: %d\n", ret);
		return ret;
	}
	ret = ivs_map(ivs);
	if (ret)
		return ret;

	ivs->own_id = ioread32(ivs->regs + IVS_REG_IV_POSITION);
	if (ivs->own_id > IOBOND_MAX_PEER_ID) {
		dev_err(&pdev->dev, "no peer id (0x%x): is the fabric up?\n",
			ivs->own_id);
		return -ENODEV;
	}

	pci_set_master(pdev);
	ret = ivs_request_irqs(ivs);
	if (ret)
		goto err_irqs;
	return 0;

err_irqs:
	pci_clear_master(pdev);
	return ret;
}

/**
 * iobond_ivshmem_exit() - stop receiving doorbells
 * @ivs: backend state set up by iobond_ivshmem_init()
 *
 * On return no handler runs any more.  The mappings go with the device.
 */
void iobond_ivshmem_exit(struct iobond_ivshmem *ivs)
{
	ivs_free_irqs(ivs, ivs->nvec);
	pci_free_irq_vectors(ivs->pdev);
	pci_clear_master(ivs->pdev);
}

/**
 * iobond_ivshmem_ring() - ring a peer's doorbell vector
 * @ivs: backend state
 * @peer: the peer's id, at most IOBOND_MAX_PEER_ID
 * @vector: the peer's vector
 *
 * Stores to the region made before the call are visible to the peer when
 * its interrupt arrives: iowrite32() orders them before the doorbell.
 */
void iobond_ivshmem_ring(struct iobond_ivshmem *ivs, u32 peer,
			 unsigned int vector)
{
	iowrite32((peer & IOBOND_MAX_PEER_ID) << 16 | (vector & 0xffff),
		  ivs->regs + IVS_REG_DOORBELL);
}

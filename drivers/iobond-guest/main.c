// SPDX-License-Identifier: GPL-2.0
/*
 * iobond_guest: the compute-board side of IO-Bond.
 *
 * Binds the board's end of its link: it waits for the host to format the
 * bonded region, attaches to it, keeps a heartbeat and watches the
 * host's, and presents the devices the host publishes as virtio devices.
 *
 * The function is bound explicitly, never by ID (QEMU gives both ends of a
 * link the same IDs):
 *
 *   echo iobond_guest > /sys/bus/pci/devices/$BDF/driver_override
 *   echo $BDF > /sys/bus/pci/drivers_probe
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/module.h>
#include <linux/pci.h>

#include "board.h"

static struct dentry *ibg_debugfs;

static const struct pci_device_id ibg_ids[] = {
	{ IOBOND_LINK_PCI_ID },
	{ }
};

static int ibg_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct iobond_link *link;
	struct ibg_board *b;

	link = iobond_link_probe(pdev, IOBOND_ROLE_BOARD, ibg_debugfs);
	if (IS_ERR(link))
		return PTR_ERR(link);
	b = ibg_board_create(link);
	if (IS_ERR(b)) {
		iobond_link_exit(link);
		return PTR_ERR(b);
	}
	pci_set_drvdata(pdev, b);
	iobond_link_start(link);
	return 0;
}

static void ibg_remove(struct pci_dev *pdev)
{
	struct ibg_board *b = pci_get_drvdata(pdev);

	if (!b)
		return;
	pci_set_drvdata(pdev, NULL);
	ibg_board_stop(b);
	iobond_link_exit(b->link);
	ibg_board_destroy(b);
}

static struct pci_driver ibg_driver = {
	.name		= KBUILD_MODNAME,
	.id_table	= ibg_ids,
	.probe		= ibg_probe,
	.remove		= ibg_remove,
	.shutdown	= ibg_remove,
};

static int __init ibg_init(void)
{
	int ret;

	ibg_debugfs = debugfs_create_dir(KBUILD_MODNAME, NULL);
	ret = pci_register_driver(&ibg_driver);
	if (ret)
		debugfs_remove_recursive(ibg_debugfs);
	return ret;
}

static void __exit ibg_exit(void)
{
	pci_unregister_driver(&ibg_driver);
	debugfs_remove_recursive(ibg_debugfs);
}

module_init(ibg_init);
module_exit(ibg_exit);

MODULE_DESCRIPTION("IO-Bond compute-board side: link and virtio transport");
MODULE_LICENSE("GPL");

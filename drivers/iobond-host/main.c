// SPDX-License-Identifier: GPL-2.0
/*
 * iobond_host: the mainboard side of IO-Bond.
 *
 * Binds the host-side link function of each compute board and owns that
 * board's link and control plane: it formats the bonded region, keeps a
 * heartbeat and watches the board's, publishes the devices provisioned
 * through /dev/iobond/boardN and answers the board's handshakes.
 *
 * The function is bound explicitly, never by ID (QEMU gives both ends of a
 * link the same IDs):
 *
 *   echo iobond_host > /sys/bus/pci/devices/$BDF/driver_override
 *   echo $BDF > /sys/bus/pci/drivers_probe
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/module.h>
#include <linux/pci.h>

#include "board.h"

static struct dentry *ibh_debugfs;

static const struct pci_device_id ibh_ids[] = {
	{ IOBOND_LINK_PCI_ID },
	{ }
};

static int ibh_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct iobond_link *link;
	struct ibh_board *b;

	link = iobond_link_probe(pdev, IOBOND_ROLE_HOST, ibh_debugfs);
	if (IS_ERR(link))
		return PTR_ERR(link);
	b = ibh_board_create(link);
	if (IS_ERR(b)) {
		iobond_link_exit(link);
		return PTR_ERR(b);
	}
	pci_set_drvdata(pdev, b);
	iobond_link_start(link);
	dev_info(&pdev->dev, "board%u: /dev/iobond/board%u\n", b->index,
		 b->index);
	return 0;
}

static void ibh_remove(struct pci_dev *pdev)
{
	struct ibh_board *b = pci_get_drvdata(pdev);

	if (!b)
		return;
	pci_set_drvdata(pdev, NULL);
	ibh_board_destroy(b);
	iobond_link_exit(b->link);
	ibh_board_stop_work(b);
	put_device(&b->dev);
}

static struct pci_driver ibh_driver = {
	.name		= KBUILD_MODNAME,
	.id_table	= ibh_ids,
	.probe		= ibh_probe,
	.remove		= ibh_remove,
	.shutdown	= ibh_remove,
};

static int __init ibh_init(void)
{
	int ret;

	ret = ibh_cdev_init();
	if (ret)
		return ret;
	ret = ibh_vfio_init();
	if (ret)
		goto err_vfio;
	ibh_debugfs = debugfs_create_dir(KBUILD_MODNAME, NULL);
	ret = pci_register_driver(&ibh_driver);
	if (ret)
		goto err_register;
	return 0;

err_register:
	debugfs_remove_recursive(ibh_debugfs);
	ibh_vfio_exit();
err_vfio:
	ibh_cdev_exit();
	return ret;
}

static void __exit ibh_exit(void)
{
	pci_unregister_driver(&ibh_driver);
	debugfs_remove_recursive(ibh_debugfs);
	ibh_vfio_exit();
	ibh_cdev_exit();
}

module_init(ibh_init);
module_exit(ibh_exit);

MODULE_DESCRIPTION("IO-Bond mainboard side: link and control plane");
MODULE_LICENSE("GPL");

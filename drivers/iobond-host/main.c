// SPDX-License-Identifier: GPL-2.0
/*
 * iobond_host: the mainboard side of IO-Bond.
 *
 * Binds the host-side link function of each compute board and owns that
 * board's link: it formats the bonded region, keeps a heartbeat and
 * watches the board's.  The function is bound explicitly, never by ID
 * (QEMU gives both ends of a link the same IDs):
 *
 *   echo iobond_host > /sys/bus/pci/devices/$BDF/driver_override
 *   echo $BDF > /sys/bus/pci/drivers_probe
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/module.h>
#include <linux/pci.h>

#include "../iobond-link/iobond_link.h"

static struct dentry *ibh_debugfs;

static const struct pci_device_id ibh_ids[] = {
	{ IOBOND_LINK_PCI_ID },
	{ }
};

static int ibh_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct iobond_link *link;

	link = iobond_link_probe(pdev, IOBOND_ROLE_HOST, ibh_debugfs);
	if (IS_ERR(link))
		return PTR_ERR(link);
	pci_set_drvdata(pdev, link);
	return 0;
}

static void ibh_remove(struct pci_dev *pdev)
{
	iobond_link_exit(pci_get_drvdata(pdev));
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

	ibh_debugfs = debugfs_create_dir(KBUILD_MODNAME, NULL);
	ret = pci_register_driver(&ibh_driver);
	if (ret)
		debugfs_remove_recursive(ibh_debugfs);
	return ret;
}

static void __exit ibh_exit(void)
{
	pci_unregister_driver(&ibh_driver);
	debugfs_remove_recursive(ibh_debugfs);
}

module_init(ibh_init);
module_exit(ibh_exit);

MODULE_DESCRIPTION("IO-Bond mainboard side: link and control plane");
MODULE_LICENSE("GPL");

// SPDX-License-Identifier: GPL-2.0
/*
 * IO-Bond link debugfs: <debugfs>/<module>/<pci function>/
 *
 *   status  the link as this end sees it, one "key: value" per line
 *   echo    write "VECTOR [COUNT]" to bounce COUNT doorbells off the peer
 *           on VECTOR; read the result of the last run
 */

#include <linux/debugfs.h>
#include <linux/kernel.h>
#include <linux/seq_file.h>
#include <linux/uaccess.h>

#include "iobond_link.h"

#define DBG_ECHO_TIMEOUT_MS	1000
#define DBG_ECHO_MAX_COUNT	10000

static int dbg_status_show(struct seq_file *s, void *unused)
{
	struct iobond_link *link = s->private;
	struct iobond_ivshmem *ivs = &link->ivs;
	unsigned int i;

	mutex_lock(&link->lock);
	seq_printf(s, "role: %s\n",
		   link->role == IOBOND_ROLE_HOST ? "host" : "board");
	seq_printf(s, "own_id: %u\n", ivs->own_id);
	seq_printf(s, "nvectors: %u\n", ivs->nvec);
	seq_printf(s, "region_size: %llu\n", (u64)ivs->shm_size);
	seq_printf(s, "attached: %d\n",
		   link->role == IOBOND_ROLE_HOST || link->attached);
	seq_printf(s, "epoch: %#llx\n", link->epoch);
	seq_printf(s, "heartbeat: %llu\n", link->heartbeat);
	seq_printf(s, "peer: %s\n", link->peer_alive ? "up" : "down");
	seq_printf(s, "peer_id: %u\n", link->peer_id);
	seq_printf(s, "peer_nvectors: %u\n", link->peer_nvec);
	seq_printf(s, "peer_heartbeat: %llu\n", link->peer_hb);
	seq_printf(s, "peer_ups: %u\n", link->peer_ups);
	seq_printf(s, "peer_losses: %u\n", link->peer_losses);
	seq_printf(s, "lost_after_ms: %u\n", link->lost_after_ms);
	seq_printf(s, "peer_timeout_ms: %u\n", IOBOND_PEER_TIMEOUT_MS);
	mutex_unlock(&link->lock);

	seq_puts(s, "doorbells:");
	for (i = 0; i < ivs->nvec; i++)
		seq_printf(s, " %lu", READ_ONCE(ivs->vec[i].count));
	seq_putc(s, '\n');
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(dbg_status);

struct dbg_echo_run {
	unsigned int done;
	int err;
	u64 min_ns, max_ns, sum_ns;
};

static void dbg_echo_run(struct iobond_link *link, unsigned int vector,
			 unsigned int count, struct dbg_echo_run *r)
{
	unsigned int i;
	u64 rtt = 0;

	r->min_ns = U64_MAX;
	for (i = 0; i < count; i++) {
		r->err = iobond_link_echo(link, vector, DBG_ECHO_TIMEOUT_MS,
					  &rtt);
		if (r->err)
			return;
		r->done++;
		r->sum_ns += rtt;
		r->min_ns = min(r->min_ns, rtt);
		r->max_ns = max(r->max_ns, rtt);
	}
}

static ssize_t dbg_echo_write(struct file *file, const char __user *ubuf,
			      size_t len, loff_t *ppos)
{
	struct iobond_link *link = file->private_data;
	unsigned int vector, count = 1;
	struct dbg_echo_run r = { };
	char buf[32];

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	if (sscanf(buf, "%u %u", &vector, &count) < 1 ||
	    !count || count > DBG_ECHO_MAX_COUNT)
		return -EINVAL;

	mutex_lock(&link->echo_lock);
	dbg_echo_run(link, vector, count, &r);
	if (r.err && r.err != -EINTR)
		dev_warn(&link->ivs.pdev->dev,
			 "echo on vector %u: %u of %u answered, error %d\n",
			 vector, r.done, count, r.err);
	snprintf(link->echo_result, sizeof(link->echo_result),
		 "vector: %u\nsent: %u\nanswered: %u\nerror: %d\n"
		 "rtt_us_min: %llu\nrtt_us_avg: %llu\nrtt_us_max: %llu\n",
		 vector, count, r.done, r.err,
		 r.done ? div_u64(r.min_ns, NSEC_PER_USEC) : 0,
		 r.done ? div_u64(div_u64(r.sum_ns, r.done), NSEC_PER_USEC) : 0,
		 div_u64(r.max_ns, NSEC_PER_USEC));
	mutex_unlock(&link->echo_lock);
	return r.err ? r.err : len;
}

static ssize_t dbg_echo_read(struct file *file, char __user *ubuf,
			     size_t len, loff_t *ppos)
{
	struct iobond_link *link = file->private_data;
	ssize_t ret;

	mutex_lock(&link->echo_lock);
	ret = simple_read_from_buffer(ubuf, len, ppos, link->echo_result,
				      strnlen(link->echo_result,
					      sizeof(link->echo_result)));
	mutex_unlock(&link->echo_lock);
	return ret;
}

static const struct file_operations dbg_echo_fops = {
	.owner	= THIS_MODULE,
	.open	= simple_open,
	.read	= dbg_echo_read,
	.write	= dbg_echo_write,
	.llseek	= default_llseek,
};

void iobond_link_debugfs_init(struct iobond_link *link, struct dentry *root)
{
	link->dbg = debugfs_create_dir(pci_name(link->ivs.pdev), root);
	debugfs_create_file("status", 0444, link->dbg, link, &dbg_status_fops);
	debugfs_create_file("echo", 0600, link->dbg, link, &dbg_echo_fops);
}

void iobond_link_debugfs_exit(struct iobond_link *link)
{
	debugfs_remove_recursive(link->dbg);
}

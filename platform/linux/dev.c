// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * /dev/hvcore: a root-only (0600) misc device. Every ioctl request starts
 * with struct hv_abi_header; size and version are checked before anything
 * else is read, every copy is bounded by the size the caller claimed and
 * the size the request type needs, and bad input gets a clear status (in
 * the header, when the header itself was readable) and -EINVAL/-EFAULT.
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "hvcore_linux.h"
#include "uapi/hvcore_ioctl.h"

static struct hv *dev_hv;

static int put_status(void __user *u, uint32_t status)
{
	return put_user(status, (uint32_t __user *)((char __user *)u + offsetof(struct hv_abi_header, status)));
}

/* Read and check the header; *size_out = bytes the caller owns. */
static int get_header(void __user *u, size_t min_size, struct hv_abi_header *h)
{
	if (copy_from_user(h, u, sizeof(*h)))
		return -EFAULT;
	if (h->version != HV_ABI_VERSION || h->flags || h->reserved) {
		put_status(u, HV_STATUS_INVALID_PARAMETER);
		return -EINVAL;
	}
	if (h->size < min_size || h->size > HV_ABI_MAX_REQUEST) {
		put_status(u, HV_STATUS_INVALID_PARAMETER);
		return -EINVAL;
	}
	return 0;
}

static long do_query(void __user *u)
{
	struct hv_abi_header h;
	struct hv_abi_query *q;
	size_t need;
	uint32_t i, n;
	int err;

	err = get_header(u, sizeof(struct hv_abi_query), &h);
	if (err)
		return err;
	q = kzalloc(sizeof(*q), GFP_KERNEL);
	if (!q)
		return -ENOMEM;
	if (copy_from_user(q, u, sizeof(*q))) {
		err = -EFAULT;
		goto out;
	}
	/* The caller's buffer must hold the entries it announced. */
	need = sizeof(*q) + (size_t)q->cpu_capacity * sizeof(struct hv_abi_cpu_state);
	if (q->cpu_capacity > HV_ABI_MAX_REQUEST / sizeof(struct hv_abi_cpu_state) || need > h.size) {
		put_status(u, HV_STATUS_INVALID_PARAMETER);
		err = -EINVAL;
		goto out;
	}
	q->abi_version = HV_ABI_VERSION;
	q->cpu_count = dev_hv->cpu_count;
	n = min(q->cpu_count, q->cpu_capacity);
	q->cpus_written = n;
	q->allocations = hvl_allocations();
	memcpy(q->signature, dev_hv->cfg.signature, HV_SIGNATURE_LEN);
	for (i = 0; i < n; i++) {
		struct hv_abi_cpu_state cs;
		const struct hv_vcpu *v = &dev_hv->vcpus[i];

		memset(&cs, 0, sizeof(cs));
		cs.virtualized = (READ_ONCE(v->steps) & HV_STEP_LAUNCHED) ? 1 : 0;
		cs.status = v->status;
		/* Counters are written by their own CPU: a racy snapshot is fine. */
		BUILD_BUG_ON(sizeof(cs.exit_count) != sizeof(v->exit_count));
		memcpy(cs.exit_count, (const void *)v->exit_count, sizeof(cs.exit_count));
		if (copy_to_user(&((struct hv_abi_query __user *)u)->cpus[i], &cs, sizeof(cs))) {
			err = -EFAULT;
			goto out;
		}
	}
	q->hdr.status = HV_STATUS_SUCCESS;
	if (copy_to_user(u, q, sizeof(*q)))
		err = -EFAULT;
out:
	kfree(q);
	return err;
}

/*
 * MSR requests. The output capacity is checked before any core runs, so a
 * write is never executed without room to report it. Results are gathered
 * in a kernel buffer and copied out once.
 */
static long do_msr(void __user *u, bool values_only)
{
	size_t head = values_only ? sizeof(struct hv_abi_msr_values) : sizeof(struct hv_abi_msr);
	size_t entry = values_only ? sizeof(uint64_t) : sizeof(struct hv_abi_msr_result);
	struct hv_abi_msr_values *rv = NULL;
	struct hv_abi_msr *rq = NULL;
	struct hv_msr_result *res = NULL;
	struct hv_abi_header h;
	struct hv_abi_msr_op op;
	uint32_t capacity, n, i;
	hv_status_t st;
	int err;

	err = get_header(u, head, &h);
	if (err)
		return err;
	/* Both layouts: header, op, capacity, count, array. */
	if (copy_from_user(&op, (char __user *)u + sizeof(h), sizeof(op)) ||
	    copy_from_user(&capacity, (char __user *)u + sizeof(h) + sizeof(op), sizeof(capacity)))
		return -EFAULT;
	n = hv_msr_target_count(dev_hv, op.core_number);
	if (op.msr > 0xFFFFFFFFull || op.action > HV_ABI_MSR_WRITE || n == 0 ||
	    capacity > HV_ABI_MAX_REQUEST / entry || head + (size_t)capacity * entry > h.size ||
	    capacity < n) {
		put_status(u, HV_STATUS_INVALID_PARAMETER);
		return -EINVAL;
	}
	res = kcalloc(n, sizeof(*res), GFP_KERNEL);
	if (!res)
		return -ENOMEM;
	if (op.action == HV_ABI_MSR_READ)
		st = hv_msr_read(dev_hv, op.core_number, (uint32_t)op.msr, res, n);
	else
		st = hv_msr_write(dev_hv, op.core_number, (uint32_t)op.msr, op.value, res, n);
	hvl_log_flush();

	if (values_only) {
		rv = kzalloc(head + n * entry, GFP_KERNEL);
		if (!rv) {
			err = -ENOMEM;
			goto out;
		}
		rv->hdr = h;
		rv->hdr.status = st;
		rv->op = op;
		rv->value_capacity = capacity;
		rv->values_written = n;
		for (i = 0; i < n; i++)
			rv->values[i] = res[i].value;
		err = copy_to_user(u, rv, head + n * entry) ? -EFAULT : 0;
	} else {
		rq = kzalloc(head + n * entry, GFP_KERNEL);
		if (!rq) {
			err = -ENOMEM;
			goto out;
		}
		rq->hdr = h;
		rq->hdr.status = st;
		rq->op = op;
		rq->result_capacity = capacity;
		rq->results_written = n;
		for (i = 0; i < n; i++) {
			rq->results[i].core = res[i].core;
			rq->results[i].status = res[i].status;
			rq->results[i].value = res[i].value;
			rq->results[i].route = res[i].route;
			rq->results[i].in_root = res[i].in_root;
		}
		err = copy_to_user(u, rq, head + n * entry) ? -EFAULT : 0;
	}
out:
	kfree(rv);
	kfree(rq);
	kfree(res);
	return err;
}

static long hvl_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	void __user *u = (void __user *)arg;

	switch (cmd) {
	case HVCORE_IOCTL_QUERY:
		return do_query(u);
	case HVCORE_IOCTL_MSR:
		return do_msr(u, false);
	case HVCORE_IOCTL_MSR_VALUES:
		return do_msr(u, true);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations hvl_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = hvl_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice hvl_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "hvcore",
	.fops = &hvl_fops,
	.mode = 0600,
};

int hvl_dev_init(struct hv *hv)
{
	dev_hv = hv;
	return misc_register(&hvl_misc);
}

void hvl_dev_exit(void)
{
	misc_deregister(&hvl_misc);
	dev_hv = NULL;
}

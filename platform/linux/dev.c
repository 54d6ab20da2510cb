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
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "hvcore_linux.h"
#include "uapi/hvcore_ioctl.h"

static struct hv *dev_hv;
static DEFINE_MUTEX(read_lock);     /* one reader of the rings at a time */
static struct delayed_work imm_flush_work;

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

/* ---- events ------------------------------------------------------------ */

static void put_u32_at(void __user *u, size_t off, uint32_t v)
{
	(void)put_user(v, (uint32_t __user *)((char __user *)u + off));
}

static long do_event_add(void __user *u)
{
	struct hv_abi_event_add a;
	struct hv_event_spec spec;
	uint8_t *cond = NULL;
	uint32_t id = 0;
	hv_status_t st;
	int err;

	err = get_header(u, sizeof(a), &a.hdr);
	if (err)
		return err;
	if (copy_from_user(&a, u, sizeof(a)))
		return -EFAULT;
	if (a.condition_len > HV_EVENT_MAX_CODE || sizeof(a) + (size_t)a.condition_len > a.hdr.size ||
	    a.reserved || a.imm > 1 || a.disabled > 1) {
		put_status(u, HV_STATUS_INVALID_PARAMETER);
		return -EINVAL;
	}
	if (a.condition_len) {
		cond = memdup_user((char __user *)u + sizeof(a), a.condition_len);
		if (IS_ERR(cond))
			return PTR_ERR(cond);
	}
	memset(&spec, 0, sizeof(spec));
	spec.size = sizeof(spec);
	spec.type = a.type;
	spec.pid = a.pid;
	spec.core = a.core;
	spec.imm = a.imm;
	spec.disabled = a.disabled;
	spec.buffer_size = a.buffer_size;
	spec.condition = cond;
	spec.condition_len = a.condition_len;
	st = hv_event_add(dev_hv, &spec, &id);
	kfree(cond);
	hvl_log_flush();
	put_u32_at(u, offsetof(struct hv_abi_event_add, id), hv_success(st) ? id : 0);
	return put_status(u, st) ? -EFAULT : 0;
}

static long do_event_action(void __user *u)
{
	struct hv_abi_event_action a;
	struct hv_action_spec act;
	uint8_t *data = NULL;
	hv_status_t st;
	int err;

	err = get_header(u, sizeof(a), &a.hdr);
	if (err)
		return err;
	if (copy_from_user(&a, u, sizeof(a)))
		return -EFAULT;
	if (a.data_len > HV_EVENT_MAX_CODE || sizeof(a) + (size_t)a.data_len > a.hdr.size || a.reserved ||
	    (a.kind == HV_ABI_ACTION_SCRIPT && (a.data_len == 0 || a.data_len > HV_EVENT_MAX_SCRIPT)) ||
	    (a.kind == HV_ABI_ACTION_CODE && a.data_len == 0)) {
		put_status(u, HV_STATUS_INVALID_PARAMETER);
		return -EINVAL;
	}
	if (a.data_len) {
		data = memdup_user((char __user *)u + sizeof(a), a.data_len);
		if (IS_ERR(data))
			return PTR_ERR(data);
	}
	memset(&act, 0, sizeof(act));
	act.kind = a.kind;
	st = HV_STATUS_SUCCESS;
	switch (a.kind) {
	case HV_ABI_ACTION_BREAK:
		break;
	case HV_ABI_ACTION_CODE:
		act.code = data;
		act.code_len = a.data_len;
		break;
	case HV_ABI_ACTION_SCRIPT:
		/* The text must end inside the buffer the caller sent. */
		if (data[a.data_len - 1] != '\0')
			st = HV_STATUS_INVALID_PARAMETER;
		act.script = (const char *)data;
		break;
	default:
		st = HV_STATUS_INVALID_PARAMETER; /* C callbacks are for in-kernel users */
		break;
	}
	if (hv_success(st))
		st = hv_event_add_action(dev_hv, a.id, &act);
	kfree(data);
	if (st == HV_STATUS_INVALID_PARAMETER) {
		put_status(u, st);
		return -EINVAL;
	}
	return put_status(u, st) ? -EFAULT : 0;
}

static long do_event_ctl(void __user *u)
{
	struct hv_abi_event_ctl c;
	hv_status_t st = HV_STATUS_SUCCESS;
	int err;

	err = get_header(u, sizeof(c), &c.hdr);
	if (err)
		return err;
	if (copy_from_user(&c, u, sizeof(c)))
		return -EFAULT;
	if (c.op < HV_ABI_EVENT_ENABLE || c.op > HV_ABI_EVENT_REMOVE) {
		put_status(u, HV_STATUS_INVALID_PARAMETER);
		return -EINVAL;
	}
	if (c.id == HV_ABI_EVENT_ALL && c.op == HV_ABI_EVENT_REMOVE) {
		st = hv_event_clear(dev_hv);
	} else if (c.id == HV_ABI_EVENT_ALL) {
		struct hv_event_info *info;
		uint32_t n = 0, i;

		st = hv_event_list(dev_hv, NULL, 0, &n);
		info = kvcalloc(n + 1, sizeof(*info), GFP_KERNEL);
		if (!info)
			return -ENOMEM;
		if (hv_success(st))
			st = hv_event_list(dev_hv, info, n, &n);
		for (i = 0; hv_success(st) && i < n; i++)
			st = c.op == HV_ABI_EVENT_ENABLE ? hv_event_enable(dev_hv, info[i].id)
							 : hv_event_disable(dev_hv, info[i].id);
		kvfree(info);
	} else if (c.op == HV_ABI_EVENT_ENABLE) {
		st = hv_event_enable(dev_hv, c.id);
	} else if (c.op == HV_ABI_EVENT_DISABLE) {
		st = hv_event_disable(dev_hv, c.id);
	} else {
		st = hv_event_remove(dev_hv, c.id);
	}
	hvl_log_flush();
	return put_status(u, st) ? -EFAULT : 0;
}

static long do_event_list(void __user *u)
{
	struct hv_abi_event_list l;
	struct hv_event_info *info;
	uint32_t n = 0, i, cap;
	hv_status_t st;
	long err = 0;

	err = get_header(u, sizeof(l), &l.hdr);
	if (err)
		return err;
	if (copy_from_user(&l, u, sizeof(l)))
		return -EFAULT;
	cap = l.capacity;
	if (cap > HV_EVENT_MAX_EVENTS || sizeof(l) + (size_t)cap * sizeof(struct hv_abi_event_info) > l.hdr.size) {
		put_status(u, HV_STATUS_INVALID_PARAMETER);
		return -EINVAL;
	}
	info = kvcalloc(cap + 1, sizeof(*info), GFP_KERNEL);
	if (!info)
		return -ENOMEM;
	st = hv_event_list(dev_hv, info, cap, &n);
	for (i = 0; hv_success(st) && i < n && i < cap; i++) {
		struct hv_abi_event_info e = {
			.id = info[i].id, .type = info[i].type, .core = info[i].core,
			.enabled = info[i].enabled, .pid = info[i].pid, .fired = info[i].fired,
			.actions = info[i].actions, .imm = info[i].imm,
		};

		if (copy_to_user(&((struct hv_abi_event_list __user *)u)->events[i], &e, sizeof(e))) {
			err = -EFAULT;
			break;
		}
	}
	kvfree(info);
	if (err)
		return err;
	put_u32_at(u, offsetof(struct hv_abi_event_list, count), n);
	return put_status(u, st) ? -EFAULT : 0;
}

/* ---- message stream ---------------------------------------------------------- */

static bool any_readable(void)
{
	uint32_t c;

	for (c = 0; c < dev_hv->cpu_count; c++)
		if (hv_msg_readable(hv_event_ring(dev_hv, c)))
			return true;
	return false;
}

static ssize_t hvl_read(struct file *f, char __user *buf, size_t len, loff_t *off)
{
	size_t max = min_t(size_t, len / HV_MSG_RECORD_SIZE, 64), n = 0;
	struct hv_msg_record *recs;
	static uint32_t next_core;
	ssize_t ret;
	uint32_t i;

	if (max == 0)
		return -EINVAL;
	recs = kvmalloc_array(max, sizeof(*recs), GFP_KERNEL);
	if (!recs)
		return -ENOMEM;
	for (;;) {
		if (mutex_lock_interruptible(&read_lock)) {
			ret = -ERESTARTSYS;
			goto out;
		}
		/* Round-robin over the cores; each core's records stay in order. */
		for (i = 0; i < dev_hv->cpu_count && n < max; i++) {
			uint32_t c = (next_core + i) % dev_hv->cpu_count;

			n += hv_msg_get(hv_event_ring(dev_hv, c), recs + n, (uint32_t)(max - n));
		}
		next_core = (next_core + 1) % dev_hv->cpu_count;
		mutex_unlock(&read_lock);
		if (n || (f->f_flags & O_NONBLOCK))
			break;
		if (wait_event_interruptible(*hvl_reader_wq(), any_readable())) {
			ret = -ERESTARTSYS;
			goto out;
		}
	}
	if (n == 0)
		ret = -EAGAIN;
	else
		ret = copy_to_user(buf, recs, n * sizeof(*recs)) ? -EFAULT : (ssize_t)(n * sizeof(*recs));
out:
	kvfree(recs);
	return ret;
}

static __poll_t hvl_poll(struct file *f, struct poll_table_struct *pt)
{
	poll_wait(f, hvl_reader_wq(), pt);
	return any_readable() ? EPOLLIN | EPOLLRDNORM : 0;
}

/* The imm-no deadline: publish batched records every HV_MSG_FLUSH_MS. */
static void flush_fn(struct work_struct *w)
{
	if (hv_event_flush(dev_hv))
		wake_up_interruptible(hvl_reader_wq());
	schedule_delayed_work(&imm_flush_work, msecs_to_jiffies(HV_MSG_FLUSH_MS));
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
	case HVCORE_IOCTL_EVENT_ADD:
		return do_event_add(u);
	case HVCORE_IOCTL_EVENT_ACTION:
		return do_event_action(u);
	case HVCORE_IOCTL_EVENT_CTL:
		return do_event_ctl(u);
	case HVCORE_IOCTL_EVENT_LIST:
		return do_event_list(u);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations hvl_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = hvl_ioctl,
	.read = hvl_read,
	.poll = hvl_poll,
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
	int err;

	dev_hv = hv;
	INIT_DELAYED_WORK(&imm_flush_work, flush_fn);
	err = misc_register(&hvl_misc);
	if (err)
		return err;
	schedule_delayed_work(&imm_flush_work, msecs_to_jiffies(HV_MSG_FLUSH_MS));
	return 0;
}

void hvl_dev_exit(void)
{
	misc_deregister(&hvl_misc);
	cancel_delayed_work_sync(&imm_flush_work);
	/* No new exit fires an event after this; readers are gone. */
	hv_event_clear(dev_hv);
	dev_hv = NULL;
}

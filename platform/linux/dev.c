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

#include <hvcore/abi_exec.h>
#include <hvcore/debugger.h>

#include "hvcore_linux.h"
#include "uapi/hvcore_ioctl.h"

static struct hv *dev_hv;
static DEFINE_MUTEX(read_lock);     /* one reader of the rings at a time */
/*
 * Event requests (add, actions, enable/disable/remove/clear, list) one at a
 * time. The core serializes them itself with a spinning flag that it holds
 * across calls that sleep (cross-calls, vfree); with many ioctl callers that
 * flag would spin against a sleeping holder, so the sleeping lock is taken
 * here first. MSR requests need none: the core runs them concurrently.
 * Also guards dev_shutdown.
 */
static DEFINE_MUTEX(req_lock);
static bool dev_shutdown;           /* the machine is going down: no more requests */
static struct delayed_work imm_flush_work;

static int put_status(void __user *u, uint32_t status)
{
	return put_user(status, (uint32_t __user *)((char __user *)u + offsetof(struct hv_abi_header, status)));
}

/*
 * Every request takes one path: the header is read and checked first, the
 * copy is bounded by the size the caller claims (itself bounded by the ABI
 * maximum), and the core's hv_abi_execute() validates every inner length
 * before anything runs - the same code the simulator and the TCP stub use.
 * A malformed request is -EINVAL with INVALID_PARAMETER in the header;
 * otherwise the ioctl succeeds and the request's own status is in the header.
 */
static long do_request(void __user *u, uint32_t request)
{
	struct hv_abi_header h;
	size_t len = 0;
	hv_status_t st;
	long err = 0;
	void *buf;

	if (copy_from_user(&h, u, sizeof(h)))
		return -EFAULT;
	if (h.version != HV_ABI_VERSION || h.flags || h.reserved || h.size < sizeof(h) ||
	    h.size > HV_ABI_MAX_REQUEST) {
		put_status(u, HV_STATUS_INVALID_PARAMETER);
		return -EINVAL;
	}
	buf = kvmalloc(h.size, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	if (copy_from_user(buf, u, h.size)) {
		err = -EFAULT;
		goto out;
	}
	/* The size we checked, not whatever the caller wrote since. */
	((struct hv_abi_header *)buf)->size = h.size;
	st = hv_abi_execute(dev_hv, request, buf, h.size, &len);
	hvl_log_flush();
	if (len == 0 || st == HV_STATUS_INVALID_PARAMETER) {
		put_status(u, HV_STATUS_INVALID_PARAMETER);
		err = -EINVAL;
		goto out;
	}
	if (request == HV_ABI_REQ_QUERY)
		((struct hv_abi_query *)buf)->allocations = hvl_allocations();
	if (copy_to_user(u, buf, len))
		err = -EFAULT;
out:
	kvfree(buf);
	return err;
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

/* Debugger Mode: event changes a debugger queued while the target was
 * halted wait for `g`; they allocate and call every CPU, so the stub only
 * queues them and they run here, in process context, serialized with the
 * ioctls' event requests (req_lock). */
static void apply_debugger_events(void)
{
	hv_status_t st;

	if (!hv_debugger_events_pending(dev_hv))
		return;
	mutex_lock(&req_lock);
	st = dev_shutdown ? HV_STATUS_SUCCESS : hv_debugger_apply_events(dev_hv);
	mutex_unlock(&req_lock);
	if (!hv_success(st))
		pr_err("debugger: applying the queued event changes failed: %s (0x%08x)\n", hv_status_name(st), st);
}

/* The imm-no deadline: publish batched records every HV_MSG_FLUSH_MS; apply
 * a debugger's queued event changes on the same beat. */
static void flush_fn(struct work_struct *w)
{
	if (hv_event_flush(dev_hv))
		wake_up_interruptible(hvl_reader_wq());
	apply_debugger_events();
	schedule_delayed_work(&imm_flush_work, msecs_to_jiffies(HV_MSG_FLUSH_MS));
}

/* An event request, serialized (see req_lock). */
static long do_event_request(void __user *u, uint32_t request)
{
	long err;

	if (mutex_lock_interruptible(&req_lock))
		return -ERESTARTSYS;
	err = dev_shutdown ? -ESHUTDOWN : do_request(u, request);
	mutex_unlock(&req_lock);
	return err;
}

static long hvl_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	void __user *u = (void __user *)arg;

	if (READ_ONCE(dev_shutdown))
		return -ESHUTDOWN;
	switch (cmd) {
	case HVCORE_IOCTL_QUERY:
		return do_request(u, HV_ABI_REQ_QUERY);
	case HVCORE_IOCTL_MSR:
		return do_request(u, HV_ABI_REQ_MSR);
	case HVCORE_IOCTL_MSR_VALUES:
		return do_request(u, HV_ABI_REQ_MSR_VALUES);
	case HVCORE_IOCTL_EVENT_ADD:
		return do_event_request(u, HV_ABI_REQ_EVENT_ADD);
	case HVCORE_IOCTL_EVENT_ACTION:
		return do_event_request(u, HV_ABI_REQ_EVENT_ACTION);
	case HVCORE_IOCTL_EVENT_CTL:
		return do_event_request(u, HV_ABI_REQ_EVENT_CTL);
	case HVCORE_IOCTL_EVENT_LIST:
		return do_event_request(u, HV_ABI_REQ_EVENT_LIST);
	case HVCORE_IOCTL_EVENT_RINGS:
		return do_request(u, HV_ABI_REQ_EVENT_RINGS);
	case HVCORE_IOCTL_SCRIPT_EVAL:
		return do_event_request(u, HV_ABI_REQ_SCRIPT_EVAL);
	case HVCORE_IOCTL_TRACE:
		return do_event_request(u, HV_ABI_REQ_TRACE);
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
	mutex_lock(&req_lock);
	hv_event_clear(dev_hv);
	mutex_unlock(&req_lock);
	dev_hv = NULL;
}

void hvl_dev_shutdown(void)
{
	/* Requests in flight finish first; later ones get -ESHUTDOWN. */
	mutex_lock(&req_lock);
	WRITE_ONCE(dev_shutdown, true);
	hv_event_clear(dev_hv);
	mutex_unlock(&req_lock);
	cancel_delayed_work_sync(&imm_flush_work);
}

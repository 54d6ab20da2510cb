// SPDX-License-Identifier: GPL-2.0
/*
 * hvcore-e2e self-test module: says hello from every online CPU on load and
 * goodbye on unload, proving that an out-of-tree module built against the
 * cached headers loads into the emulated guest.
 */
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/smp.h>

static void hello_on_cpu(void *unused)
{
	pr_info("hvcore-e2e: hello from cpu %d\n", smp_processor_id());
}

static int __init hello_init(void)
{
	on_each_cpu(hello_on_cpu, NULL, 1);
	return 0;
}

static void __exit hello_exit(void)
{
	pr_info("hvcore-e2e: goodbye from cpu %d\n", raw_smp_processor_id());
}

module_init(hello_init);
module_exit(hello_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("hvcore end-to-end harness self-test");

/*
 * pvhload entry: a Multiboot (v1) kernel for isolinux's mboot.c32.
 * 32-bit protected mode, flat segments, paging off on entry (Multiboot contract).
 */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003 /* bit 0: page-align modules, bit 1: memory info */

	.section .multiboot, "a"
	.balign 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

	.text
	.code32
	.globl _start
_start:
	cli
	cld
	movl $stack_top, %esp
	xorl %ebp, %ebp
	pushl %ebx			/* multiboot info physical address */
	pushl %eax			/* multiboot magic */
	call pvh_main
halt:	cli
	hlt
	jmp halt

/*
 * void pvh_jump(uint32_t entry, uint32_t start_info)
 * Linux's arch/x86/platform/pvh/head.S contract: 32-bit protected mode,
 * flat 4 GiB CS (execute/read) and DS/ES/SS (read/write), paging off,
 * interrupts off, EBX = physical address of struct hvm_start_info.
 */
	.globl pvh_jump
pvh_jump:
	movl 4(%esp), %ecx
	movl 8(%esp), %ebx
	lgdt gdt_desc
	ljmp $0x08, $1f
1:	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	movw %ax, %fs
	movw %ax, %gs
	movl %cr0, %eax
	andl $0x7fffffff, %eax		/* PG off (it already is) */
	movl %eax, %cr0
	xorl %eax, %eax
	movl %eax, %cr4
	xorl %edx, %edx
	xorl %esi, %esi
	xorl %edi, %edi
	xorl %ebp, %ebp
	movl $stack_top, %esp
	jmp *%ecx

	.section .rodata
	.balign 16
gdt:
	.quad 0
	.quad 0x00cf9a000000ffff	/* 0x08: code, base 0, limit 4 GiB, 32-bit */
	.quad 0x00cf92000000ffff	/* 0x10: data, base 0, limit 4 GiB */
gdt_end:
	.balign 4
gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt

	.bss
	.balign 16
	.skip 16384
stack_top:

	.section .note.GNU-stack, "", @progbits

/*
 * pvhload: boot an uncompressed x86-64 Linux vmlinux through its PVH entry.
 *
 * Started by isolinux's mboot.c32 as a Multiboot (v1) kernel:
 *   APPEND mboot.c32 pvhload.elf <kernel cmdline> --- vmlinux --- initramfs
 *
 * It copies the vmlinux ELF64 PT_LOAD segments to their physical addresses,
 * finds the 32-bit PVH entry (Xen ELF note XEN_ELFNOTE_PHYS32_ENTRY), builds
 * a struct hvm_start_info (version 1, with a memory map taken from the
 * Multiboot map and one module: the initramfs) and jumps to the entry in
 * 32-bit flat protected mode with paging off and EBX = &start_info.
 *
 * Freestanding: no libc, no libgcc (so no 64-bit division anywhere).
 * Progress and errors go to COM1 so they land in the serial log, or to COM2
 * when the command line says console=ttyS1 (boot.sh --com1-socket gives COM1
 * to a debugger and logs on COM2).
 */
#include <stddef.h>
#include <stdint.h>

/* ---- Multiboot v1 (information passed by the boot loader) ---- */
#define MB_BOOT_MAGIC 0x2BADB002u
#define MBI_CMDLINE (1u << 2)
#define MBI_MODS (1u << 3)
#define MBI_MMAP (1u << 6)

struct mb_info {
	uint32_t flags;
	uint32_t mem_lower, mem_upper;
	uint32_t boot_device;
	uint32_t cmdline;
	uint32_t mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr;
};

struct mb_module {
	uint32_t mod_start, mod_end, string, reserved;
};

struct mb_mmap_entry { /* 'size' does not count itself */
	uint32_t size;
	uint64_t addr, len;
	uint32_t type;
} __attribute__((packed));

/* ---- Xen PVH start of day (xen/include/public/arch-x86/hvm/start_info.h) ---- */
#define HVM_START_MAGIC 0x336ec578u

struct hvm_start_info {
	uint32_t magic;          /*  0 */
	uint32_t version;        /*  4 */
	uint32_t flags;          /*  8 */
	uint32_t nr_modules;     /* 12 */
	uint64_t modlist_paddr;  /* 16 */
	uint64_t cmdline_paddr;  /* 24 */
	uint64_t rsdp_paddr;     /* 32 */
	uint64_t memmap_paddr;   /* 40, version >= 1 */
	uint32_t memmap_entries; /* 48 */
	uint32_t reserved;       /* 52 */
};

struct hvm_modlist_entry {
	uint64_t paddr, size, cmdline_paddr, reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr, size;
	uint32_t type, reserved;
};

_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info layout");
_Static_assert(sizeof(struct hvm_modlist_entry) == 32, "hvm_modlist_entry layout");
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "memmap entry layout");
_Static_assert(sizeof(struct mb_mmap_entry) == 24, "multiboot mmap entry layout");

/* ---- ELF64 ---- */
struct elf64_ehdr {
	unsigned char e_ident[16];
	uint16_t e_type, e_machine;
	uint32_t e_version;
	uint64_t e_entry, e_phoff, e_shoff;
	uint32_t e_flags;
	uint16_t e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx;
};

struct elf64_phdr {
	uint32_t p_type, p_flags;
	uint64_t p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align;
};

#define PT_LOAD 1
#define PT_NOTE 4
#define EM_X86_64 62
#define XEN_ELFNOTE_PHYS32_ENTRY 18

extern char __image_start[], __image_end[];
void pvh_jump(uint32_t entry, uint32_t start_info) __attribute__((noreturn));
void pvh_main(uint32_t magic, uint32_t mbi_addr);

/* ---- tiny runtime ---- */
void *memcpy(void *dst, const void *src, size_t n)
{
	void *d = dst;
	size_t words = n >> 2, rest = n & 3;
	__asm__ volatile("cld; rep movsl" : "+D"(d), "+S"(src), "+c"(words) : : "memory");
	__asm__ volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(rest) : : "memory");
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
	void *d = dst;
	uint32_t v = (uint8_t)c * 0x01010101u;
	size_t words = n >> 2, rest = n & 3;
	__asm__ volatile("cld; rep stosl" : "+D"(d), "+c"(words) : "a"(v) : "memory");
	__asm__ volatile("rep stosb" : "+D"(d), "+c"(rest) : "a"(v) : "memory");
	return dst;
}

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

#define COM1 0x3f8
#define COM2 0x2f8
static uint16_t com = COM1; /* the port the serial log is on */

static void serial_init(void)
{
	outb(com + 1, 0x00); /* no interrupts */
	outb(com + 3, 0x80); /* DLAB */
	outb(com + 0, 0x01); /* 115200 baud */
	outb(com + 1, 0x00);
	outb(com + 3, 0x03); /* 8N1 */
	outb(com + 2, 0xc7); /* FIFO on, cleared */
	outb(com + 4, 0x03); /* DTR, RTS */
}

static void putc_serial(char ch)
{
	for (unsigned spin = 0; spin < 100000 && !(inb(com + 5) & 0x20); spin++)
		;
	outb(com, (uint8_t)ch);
}

static void puts_serial(const char *s)
{
	for (; *s; s++) {
		if (*s == '\n')
			putc_serial('\r');
		putc_serial(*s);
	}
}

static void puthex(uint64_t v)
{
	char buf[19];
	int i;
	buf[0] = '0';
	buf[1] = 'x';
	for (i = 0; i < 16; i++)
		buf[2 + i] = "0123456789abcdef"[(v >> (60 - 4 * i)) & 0xf];
	buf[18] = 0;
	/* drop leading zeros, keep at least one digit */
	for (i = 2; i < 17 && buf[i] == '0'; i++)
		;
	putc_serial('0');
	putc_serial('x');
	puts_serial(buf + i);
}

static void log_kv(const char *k, uint64_t v)
{
	puts_serial(k);
	puthex(v);
	puts_serial("\n");
}

static void __attribute__((noreturn)) die(const char *msg)
{
	puts_serial("pvhload: FATAL: ");
	puts_serial(msg);
	puts_serial("\n");
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* ---- address ranges ---- */
struct range {
	uint64_t start, end; /* [start, end) */
};

#define MAX_RAM 64
#define MAX_AVOID 8
static struct range ram[MAX_RAM];
static int nram;
static struct range avoid[MAX_AVOID];
static int navoid;

static int overlaps(uint64_t s1, uint64_t e1, uint64_t s2, uint64_t e2)
{
	return s1 < e2 && s2 < e1;
}

static void add_avoid(uint64_t s, uint64_t e)
{
	if (navoid == MAX_AVOID)
		die("too many reserved ranges");
	avoid[navoid].start = s;
	avoid[navoid].end = e;
	navoid++;
}

static int in_ram(uint64_t s, uint64_t e)
{
	for (int i = 0; i < nram; i++)
		if (s >= ram[i].start && e <= ram[i].end)
			return 1;
	return 0;
}

/* Highest 4 KiB aligned address in RAM (1 MiB .. 2 GiB) where 'size' bytes fit
 * without touching any avoided range; 0 if none. */
static uint64_t find_high(uint64_t size)
{
	uint64_t best = 0;
	for (int i = 0; i < nram; i++) {
		uint64_t lo = ram[i].start, end = ram[i].end;
		for (;;) {
			if (end < lo + size)
				break;
			uint64_t cand = (end - size) & ~(uint64_t)0xfff;
			if (cand < lo)
				break;
			int hit = -1;
			for (int j = 0; j < navoid; j++)
				if (overlaps(cand, cand + size, avoid[j].start, avoid[j].end) &&
				    (hit < 0 || avoid[j].start > avoid[hit].start))
					hit = j;
			if (hit < 0) {
				if (cand > best)
					best = cand;
				break;
			}
			end = avoid[hit].start;
		}
	}
	return best;
}

/* ---- ACPI RSDP lookup in the legacy BIOS areas ---- */
static int rsdp_ok(const uint8_t *p)
{
	static const char sig[8] = "RSD PTR ";
	uint8_t sum = 0;
	for (int i = 0; i < 8; i++)
		if (p[i] != (uint8_t)sig[i])
			return 0;
	for (int i = 0; i < 20; i++)
		sum += p[i];
	return sum == 0;
}

static uint32_t find_rsdp(void)
{
	uint32_t ebda = (uint32_t)(*(volatile uint16_t *)0x40e) << 4;
	if (ebda >= 0x80000 && ebda < 0xa0000)
		for (uint32_t a = ebda; a < ebda + 1024; a += 16)
			if (rsdp_ok((const uint8_t *)a))
				return a;
	for (uint32_t a = 0xe0000; a < 0x100000; a += 16)
		if (rsdp_ok((const uint8_t *)a))
			return a;
	return 0;
}

/* ---- start of day data handed to Linux (inside this image, below 16 MiB) ---- */
#define MAX_MEMMAP 128
#define CMDLINE_MAX 2048
static struct hvm_start_info start_info __attribute__((aligned(16)));
static struct hvm_modlist_entry modlist[1] __attribute__((aligned(16)));
static struct hvm_memmap_table_entry memmap[MAX_MEMMAP] __attribute__((aligned(16)));
static char cmdline[CMDLINE_MAX];

static const char *skip_first_word(const char *s)
{
	/* mboot.c32 passes "<image name> <args>", like GRUB; drop the name. */
	while (*s == ' ')
		s++;
	while (*s && *s != ' ')
		s++;
	while (*s == ' ')
		s++;
	return s;
}

static int is_elf64(const uint8_t *p, uint32_t len)
{
	return len >= sizeof(struct elf64_ehdr) && p[0] == 0x7f && p[1] == 'E' && p[2] == 'L' &&
	       p[3] == 'F' && p[4] == 2 /* ELFCLASS64 */ && p[5] == 1 /* little endian */;
}

static uint32_t find_pvh_entry(const uint8_t *img, uint32_t len, const struct elf64_phdr *ph, int phnum)
{
	for (int i = 0; i < phnum; i++) {
		if (ph[i].p_type != PT_NOTE)
			continue;
		if (ph[i].p_offset + ph[i].p_filesz > len)
			die("PT_NOTE beyond the end of the vmlinux module");
		const uint8_t *p = img + ph[i].p_offset;
		const uint8_t *end = p + ph[i].p_filesz;
		while (p + 12 <= end) {
			uint32_t namesz = ((const uint32_t *)p)[0];
			uint32_t descsz = ((const uint32_t *)p)[1];
			uint32_t type = ((const uint32_t *)p)[2];
			const uint8_t *name = p + 12;
			const uint8_t *desc = name + ((namesz + 3) & ~3u);
			const uint8_t *next = desc + ((descsz + 3) & ~3u);
			if (next > end)
				break;
			if (type == XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 && name[0] == 'X' &&
			    name[1] == 'e' && name[2] == 'n' && name[3] == 0 && (descsz == 4 || descsz == 8))
				return *(const uint32_t *)desc; /* low 32 bits: a physical address */
			p = next;
		}
	}
	return 0;
}

/* Nonzero if `s` contains `word` (no libc). */
static int contains(const char *s, const char *word)
{
	for (; *s; s++) {
		size_t i = 0;
		while (word[i] && s[i] == word[i])
			i++;
		if (!word[i])
			return 1;
	}
	return 0;
}

void pvh_main(uint32_t magic, uint32_t mbi_addr)
{
	if (magic == MB_BOOT_MAGIC) {
		const struct mb_info *mb = (const struct mb_info *)mbi_addr;
		if ((mb->flags & MBI_CMDLINE) && contains((const char *)mb->cmdline, "console=ttyS1"))
			com = COM2;
	}
	serial_init();
	puts_serial("\npvhload: multiboot PVH loader\n");
	if (magic != MB_BOOT_MAGIC)
		die("not started by a Multiboot loader (bad EAX magic)");

	const struct mb_info *mbi = (const struct mb_info *)mbi_addr;
	if (!(mbi->flags & MBI_MODS) || mbi->mods_count < 1)
		die("no modules: expected 'mboot.c32 pvhload.elf ARGS --- vmlinux --- initramfs'");
	if (!(mbi->flags & MBI_MMAP))
		die("the boot loader gave no memory map");

	/* kernel command line */
	const char *args = (mbi->flags & MBI_CMDLINE) ? skip_first_word((const char *)mbi->cmdline) : "";
	size_t n = 0;
	while (args[n] && n < CMDLINE_MAX - 1) {
		cmdline[n] = args[n];
		n++;
	}
	cmdline[n] = 0;
	puts_serial("pvhload: cmdline: ");
	puts_serial(cmdline);
	puts_serial("\n");

	/* memory map: RAM regions (1 MiB .. 2 GiB) for placement, full map for Linux */
	uint32_t nmap = 0;
	for (uint32_t off = 0; off + 4 <= mbi->mmap_length;) {
		const struct mb_mmap_entry *e = (const struct mb_mmap_entry *)(mbi->mmap_addr + off);
		if (nmap == MAX_MEMMAP)
			die("memory map too long");
		memmap[nmap].addr = e->addr;
		memmap[nmap].size = e->len;
		memmap[nmap].type = e->type;
		memmap[nmap].reserved = 0;
		nmap++;
		if (e->type == 1 && nram < MAX_RAM) {
			uint64_t s = e->addr, t = e->addr + e->len;
			if (s < 0x100000)
				s = 0x100000;
			if (t > 0x80000000ull)
				t = 0x80000000ull;
			if (s < t) {
				ram[nram].start = s;
				ram[nram].end = t;
				nram++;
			}
		}
		off += e->size + 4;
	}
	if (!nram)
		die("no usable RAM above 1 MiB in the memory map");

	/* modules: the ELF64 one is the kernel, the next other one the initramfs */
	const struct mb_module *mods = (const struct mb_module *)mbi->mods_addr;
	int kmod = -1, imod = -1;
	for (uint32_t i = 0; i < mbi->mods_count; i++) {
		const uint8_t *p = (const uint8_t *)mods[i].mod_start;
		uint32_t len = mods[i].mod_end - mods[i].mod_start;
		if (kmod < 0 && is_elf64(p, len))
			kmod = (int)i;
		else if (imod < 0)
			imod = (int)i;
	}
	if (kmod < 0)
		die("no ELF64 vmlinux among the modules");

	uint32_t ksrc = mods[kmod].mod_start, klen = mods[kmod].mod_end - mods[kmod].mod_start;
	uint32_t isrc = 0, ilen = 0;
	if (imod >= 0) {
		isrc = mods[imod].mod_start;
		ilen = mods[imod].mod_end - mods[imod].mod_start;
	}
	log_kv("pvhload: vmlinux module at ", ksrc);
	log_kv("pvhload: vmlinux size ", klen);
	if (imod >= 0) {
		log_kv("pvhload: initramfs module at ", isrc);
		log_kv("pvhload: initramfs size ", ilen);
	} else {
		puts_serial("pvhload: no initramfs module\n");
	}

	/* ELF64 program headers */
	const struct elf64_ehdr *eh = (const struct elf64_ehdr *)ksrc;
	if (eh->e_machine != EM_X86_64)
		die("vmlinux is not an x86-64 ELF");
	if (eh->e_phentsize != sizeof(struct elf64_phdr) || !eh->e_phnum ||
	    eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(struct elf64_phdr) > klen)
		die("bad ELF program header table");
	const struct elf64_phdr *ph = (const struct elf64_phdr *)(ksrc + (uint32_t)eh->e_phoff);
	int phnum = eh->e_phnum;

	uint64_t kstart = ~0ull, kend = 0;
	for (int i = 0; i < phnum; i++) {
		if (ph[i].p_type != PT_LOAD || !ph[i].p_memsz)
			continue;
		if (ph[i].p_offset + ph[i].p_filesz > klen)
			die("PT_LOAD beyond the end of the vmlinux module (truncated file?)");
		if (ph[i].p_filesz > ph[i].p_memsz)
			die("PT_LOAD with p_filesz > p_memsz");
		if (ph[i].p_paddr < kstart)
			kstart = ph[i].p_paddr;
		if (ph[i].p_paddr + ph[i].p_memsz > kend)
			kend = ph[i].p_paddr + ph[i].p_memsz;
	}
	if (kend == 0)
		die("vmlinux has no PT_LOAD segment");
	if (kend > 0x80000000ull)
		die("vmlinux loads above 2 GiB");
	if (!in_ram(kstart, kend))
		die("the kernel's load range is not inside one usable RAM region");
	log_kv("pvhload: kernel range start ", kstart);
	log_kv("pvhload: kernel range end ", kend);

	uint32_t entry = find_pvh_entry((const uint8_t *)ksrc, klen, ph, phnum);
	if (!entry)
		die("no XEN_ELFNOTE_PHYS32_ENTRY note: kernel built without CONFIG_PVH?");
	if (entry < kstart || entry >= kend)
		die("PVH entry outside the kernel's load range");
	log_kv("pvhload: PVH entry ", entry);

	uint32_t self_start = (uint32_t)__image_start, self_end = (uint32_t)__image_end;
	if (overlaps(kstart, kend, self_start, self_end))
		die("the kernel's load range overlaps the loader");

	/* Move the modules out of the way of the kernel's load range. */
	add_avoid(self_start, self_end);
	add_avoid(kstart, kend);
	int kavoid = navoid;
	add_avoid(ksrc, (uint64_t)ksrc + klen);
	int iavoid = -1;
	if (ilen) {
		iavoid = navoid;
		add_avoid(isrc, (uint64_t)isrc + ilen);
	}

	if (ilen && (overlaps(isrc, (uint64_t)isrc + ilen, kstart, kend) ||
		     overlaps(isrc, (uint64_t)isrc + ilen, self_start, self_end))) {
		uint64_t dst = find_high(ilen);
		if (!dst)
			die("no room to move the initramfs");
		memcpy((void *)(uint32_t)dst, (const void *)isrc, ilen);
		isrc = (uint32_t)dst;
		avoid[iavoid].start = dst;
		avoid[iavoid].end = dst + ilen;
		log_kv("pvhload: initramfs moved to ", dst);
	}
	if (overlaps(ksrc, (uint64_t)ksrc + klen, kstart, kend)) {
		uint64_t dst = find_high(klen);
		if (!dst)
			die("no room to move the vmlinux image");
		memcpy((void *)(uint32_t)dst, (const void *)ksrc, klen);
		ksrc = (uint32_t)dst;
		avoid[kavoid].start = dst;
		avoid[kavoid].end = dst + klen;
		ph = (const struct elf64_phdr *)(ksrc + (uint32_t)((const struct elf64_ehdr *)ksrc)->e_phoff);
		log_kv("pvhload: vmlinux moved to ", dst);
	}

	/* Load the segments. */
	for (int i = 0; i < phnum; i++) {
		if (ph[i].p_type != PT_LOAD || !ph[i].p_memsz)
			continue;
		uint32_t dst = (uint32_t)ph[i].p_paddr;
		uint32_t fsz = (uint32_t)ph[i].p_filesz, msz = (uint32_t)ph[i].p_memsz;
		memcpy((void *)dst, (const void *)(ksrc + (uint32_t)ph[i].p_offset), fsz);
		if (msz > fsz)
			memset((void *)(dst + fsz), 0, msz - fsz);
	}
	puts_serial("pvhload: segments loaded\n");

	/* start_info */
	memset(&start_info, 0, sizeof(start_info));
	start_info.magic = HVM_START_MAGIC;
	start_info.version = 1;
	start_info.cmdline_paddr = (uint32_t)cmdline;
	start_info.rsdp_paddr = find_rsdp();
	start_info.memmap_paddr = (uint32_t)memmap;
	start_info.memmap_entries = nmap;
	if (ilen) {
		modlist[0].paddr = isrc;
		modlist[0].size = ilen;
		modlist[0].cmdline_paddr = 0;
		modlist[0].reserved = 0;
		start_info.nr_modules = 1;
		start_info.modlist_paddr = (uint32_t)modlist;
	}
	log_kv("pvhload: RSDP ", start_info.rsdp_paddr);
	log_kv("pvhload: memmap entries ", nmap);
	log_kv("pvhload: start_info at ", (uint32_t)&start_info);
	puts_serial("pvhload: jumping to the PVH entry\n");
	pvh_jump(entry, (uint32_t)&start_info);
}

/*
 * vmlinux-trim: host tool run by setup.sh. Writes a compact copy of an x86-64
 * vmlinux for the PVH boot path: each PT_LOAD keeps its file bytes up to the
 * last non-zero one (the rest becomes p_memsz-only, zero-filled by pvhload),
 * PT_NOTE segments are kept, section headers are dropped. Debian's vmlinux
 * carries ~24 MB of zeroed .bss/.brk that the emulated guest would otherwise
 * read from the CD and copy twice.
 *
 * usage: vmlinux-trim IN OUT
 */
#include <elf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *msg)
{
	fprintf(stderr, "vmlinux-trim: %s\n", msg);
	exit(1);
}

int main(int argc, char **argv)
{
	if (argc != 3)
		die("usage: vmlinux-trim IN OUT");
	FILE *in = fopen(argv[1], "rb");
	if (!in)
		die("cannot open input");
	if (fseek(in, 0, SEEK_END))
		die("seek failed");
	long len = ftell(in);
	if (len < (long)sizeof(Elf64_Ehdr))
		die("input too small");
	rewind(in);
	unsigned char *img = malloc((size_t)len);
	if (!img || fread(img, 1, (size_t)len, in) != (size_t)len)
		die("read failed");
	fclose(in);

	Elf64_Ehdr eh;
	memcpy(&eh, img, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64)
		die("not a little-endian x86-64 ELF64 file");
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || !eh.e_phnum ||
	    eh.e_phoff + (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > (uint64_t)len)
		die("bad program header table");

	int n = eh.e_phnum;
	Elf64_Phdr *ph = calloc((size_t)n, sizeof(*ph));
	uint64_t *newoff = calloc((size_t)n, sizeof(uint64_t));
	if (!ph || !newoff)
		die("out of memory");
	memcpy(ph, img + eh.e_phoff, (size_t)n * sizeof(*ph));

	/* New layout: headers, then each kept segment 4 KiB aligned. */
	uint64_t pos = sizeof(Elf64_Ehdr) + (uint64_t)n * sizeof(Elf64_Phdr);
	for (int i = 0; i < n; i++) {
		if (ph[i].p_offset + ph[i].p_filesz > (uint64_t)len)
			die("segment beyond the end of the file");
		if (ph[i].p_type == PT_LOAD) {
			uint64_t fs = ph[i].p_filesz;
			while (fs && img[ph[i].p_offset + fs - 1] == 0)
				fs--;
			pos = (pos + 4095) & ~(uint64_t)4095;
			newoff[i] = pos;
			pos += fs;
			ph[i].p_filesz = fs;
		}
	}
	/* PT_NOTE and other non-load segments: keep their bytes, inside a kept
	 * PT_LOAD if possible, else appended. */
	Elf64_Phdr *orig = (Elf64_Phdr *)(img + eh.e_phoff);
	for (int i = 0; i < n; i++) {
		if (ph[i].p_type == PT_LOAD || !ph[i].p_filesz)
			continue;
		int inside = -1;
		for (int j = 0; j < n; j++)
			if (ph[j].p_type == PT_LOAD && orig[i].p_offset >= orig[j].p_offset &&
			    orig[i].p_offset + orig[i].p_filesz <= orig[j].p_offset + ph[j].p_filesz)
				inside = j;
		if (inside >= 0) {
			newoff[i] = newoff[inside] + (orig[i].p_offset - orig[inside].p_offset);
		} else {
			pos = (pos + 7) & ~(uint64_t)7;
			newoff[i] = pos;
			pos += ph[i].p_filesz;
		}
	}

	unsigned char *out = calloc(1, (size_t)pos);
	if (!out)
		die("out of memory");
	for (int i = 0; i < n; i++) {
		if (ph[i].p_type == PT_LOAD || (ph[i].p_filesz && newoff[i] + ph[i].p_filesz <= pos))
			memcpy(out + newoff[i], img + orig[i].p_offset, (size_t)ph[i].p_filesz);
		ph[i].p_offset = newoff[i];
	}
	eh.e_phoff = sizeof(Elf64_Ehdr);
	eh.e_shoff = 0;
	eh.e_shnum = 0;
	eh.e_shstrndx = 0;
	memcpy(out, &eh, sizeof(eh));
	memcpy(out + sizeof(eh), ph, (size_t)n * sizeof(*ph));

	FILE *o = fopen(argv[2], "wb");
	if (!o || fwrite(out, 1, (size_t)pos, o) != (size_t)pos || fclose(o))
		die("write failed");
	fprintf(stderr, "vmlinux-trim: %ld -> %llu bytes\n", len, (unsigned long long)pos);
	return 0;
}

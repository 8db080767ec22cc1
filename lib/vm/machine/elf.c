/*
 * elf.c - ELF64 little-endian RISC-V executable loader (System V gABI, ELF-64
 * object file format; RISC-V ELF psABI for EM_RISCV).
 *
 * Everything read from the image is bounds-checked with overflow-safe
 * arithmetic: the ELF header, the program header table, each PT_LOAD
 * (p_filesz <= p_memsz, file range inside the image, memory range inside one
 * RAM region of the bus), and for symbol lookup the section header table, the
 * symbol table and its string table (names must be NUL-terminated inside the
 * table).  vm_elf_load() validates all segments before copying any.
 */
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "vessel/vm/elf.h"

#ifndef EM_RISCV
#define EM_RISCV 243
#endif

/* [off, off+len) inside [0, size)? */
static bool in_file(uint64_t off, uint64_t len, size_t size)
{
	return off <= size && len <= size - off;
}

static int check_header(const void *data, size_t size, const Elf64_Ehdr **out, struct vs_err *err)
{
	const Elf64_Ehdr *eh = data;
	if (size < sizeof(*eh))
		return vs_errf(err, EINVAL, "not an ELF file: only %zu bytes", size);
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
		return vs_errf(err, EINVAL, "not an ELF file: bad magic");
	if (eh->e_ident[EI_CLASS] != ELFCLASS64)
		return vs_errf(err, EINVAL, "ELF: not a 64-bit image (class %u)",
			       eh->e_ident[EI_CLASS]);
	if (eh->e_ident[EI_DATA] != ELFDATA2LSB)
		return vs_errf(err, EINVAL, "ELF: not little-endian");
	if (eh->e_machine != EM_RISCV)
		return vs_errf(err, EINVAL, "ELF: machine %u is not RISC-V", eh->e_machine);
	if (eh->e_type != ET_EXEC)
		return vs_errf(err, EINVAL, "ELF: type %u is not an executable (ET_EXEC)",
			       eh->e_type);
	if (eh->e_phnum == 0)
		return vs_errf(err, EINVAL, "ELF: no program headers");
	if (eh->e_phentsize != sizeof(Elf64_Phdr))
		return vs_errf(err, EINVAL, "ELF: program header size %u, expected %zu",
			       eh->e_phentsize, sizeof(Elf64_Phdr));
	if (!in_file(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr), size))
		return vs_errf(err, EINVAL, "ELF: program header table outside the file");
	if (eh->e_phoff % 8)
		return vs_errf(err, EINVAL, "ELF: misaligned program header table");
	*out = eh;
	return 0;
}

int vm_elf_check(const struct vm_bus *bus, const void *data, size_t size, struct vs_err *err)
{
	const Elf64_Ehdr *eh;
	int r = check_header(data, size, &eh, err);
	if (r < 0)
		return r;
	const Elf64_Phdr *ph = (const Elf64_Phdr *)((const uint8_t *)data + eh->e_phoff);
	unsigned nload = 0;
	bool entry_ok = false;
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];
		if (p->p_type != PT_LOAD || p->p_memsz == 0)
			continue;
		nload++;
		if (p->p_filesz > p->p_memsz)
			return vs_errf(err, EINVAL,
				       "ELF: segment %u: file size exceeds memory size", i);
		if (!in_file(p->p_offset, p->p_filesz, size))
			return vs_errf(err, EINVAL, "ELF: segment %u: data outside the file", i);
		if (p->p_paddr + p->p_memsz < p->p_paddr)
			return vs_errf(err, EINVAL, "ELF: segment %u: address range wraps", i);
		if (!vm_bus_find_ram(bus, p->p_paddr, p->p_memsz))
			return vs_errf(err, EINVAL,
				       "ELF: segment %u [0x%llx, 0x%llx) is not inside guest RAM",
				       i, (unsigned long long)p->p_paddr,
				       (unsigned long long)(p->p_paddr + p->p_memsz));
		for (unsigned j = 0; j < i; j++) {
			const Elf64_Phdr *q = &ph[j];
			if (q->p_type == PT_LOAD && q->p_memsz &&
			    p->p_paddr < q->p_paddr + q->p_memsz &&
			    q->p_paddr < p->p_paddr + p->p_memsz)
				return vs_errf(err, EINVAL, "ELF: segments %u and %u overlap", j,
					       i);
		}
		if (eh->e_entry >= p->p_paddr && eh->e_entry - p->p_paddr < p->p_memsz)
			entry_ok = true;
	}
	if (nload == 0)
		return vs_errf(err, EINVAL, "ELF: no loadable segment");
	if (!entry_ok)
		return vs_errf(err, EINVAL,
			       "ELF: entry point 0x%llx is outside the loaded segments",
			       (unsigned long long)eh->e_entry);
	return 0;
}

int vm_elf_load(struct vm_bus *bus, const void *data, size_t size, struct vm_elf_info *info,
		struct vs_err *err)
{
	int r = vm_elf_check(bus, data, size, err);
	if (r < 0)
		return r;
	const Elf64_Ehdr *eh = data;
	const Elf64_Phdr *ph = (const Elf64_Phdr *)((const uint8_t *)data + eh->e_phoff);
	info->entry = eh->e_entry;
	info->lowest = UINT64_MAX;
	info->highest = 0;
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *p = &ph[i];
		if (p->p_type != PT_LOAD || p->p_memsz == 0)
			continue;
		const struct vm_ram_region *ram = vm_bus_find_ram(bus, p->p_paddr, p->p_memsz);
		uint8_t *dst = ram->host + (p->p_paddr - ram->base);
		memcpy(dst, (const uint8_t *)data + p->p_offset, p->p_filesz);
		memset(dst + p->p_filesz, 0, p->p_memsz - p->p_filesz);
		vm_bus_note_write(bus, p->p_paddr, p->p_memsz);
		if (p->p_paddr < info->lowest)
			info->lowest = p->p_paddr;
		if (p->p_paddr + p->p_memsz > info->highest)
			info->highest = p->p_paddr + p->p_memsz;
	}
	return 0;
}

int vm_elf_symbol(const void *data, size_t size, const char *name, uint64_t *value,
		  struct vs_err *err)
{
	const Elf64_Ehdr *eh;
	int r = check_header(data, size, &eh, err);
	if (r < 0)
		return r;
	if (eh->e_shoff == 0 || eh->e_shnum == 0)
		return -ENOENT;
	if (eh->e_shentsize != sizeof(Elf64_Shdr) || eh->e_shoff % 8 ||
	    !in_file(eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr), size))
		return vs_errf(err, EINVAL, "ELF: bad section header table");
	const uint8_t *base = data;
	const Elf64_Shdr *sh = (const Elf64_Shdr *)(base + eh->e_shoff);
	for (unsigned i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type != SHT_SYMTAB)
			continue;
		const Elf64_Shdr *st = &sh[i];
		if (st->sh_link >= eh->e_shnum)
			return vs_errf(err, EINVAL, "ELF: symbol table links to section %u",
				       st->sh_link);
		const Elf64_Shdr *strs = &sh[st->sh_link];
		if (st->sh_entsize != sizeof(Elf64_Sym) || st->sh_offset % 8 ||
		    !in_file(st->sh_offset, st->sh_size, size) ||
		    !in_file(strs->sh_offset, strs->sh_size, size))
			return vs_errf(err, EINVAL, "ELF: symbol or string table outside the file");
		const Elf64_Sym *sym = (const Elf64_Sym *)(base + st->sh_offset);
		const char *strtab = (const char *)(base + strs->sh_offset);
		uint64_t nsym = st->sh_size / sizeof(Elf64_Sym);
		size_t nlen = strlen(name);
		for (uint64_t k = 0; k < nsym; k++) {
			uint64_t off = sym[k].st_name;
			if (off >= strs->sh_size || strs->sh_size - off < nlen + 1)
				continue;
			if (memcmp(strtab + off, name, nlen + 1) == 0 &&
			    sym[k].st_shndx != SHN_UNDEF) {
				*value = sym[k].st_value;
				return 0;
			}
		}
	}
	return -ENOENT;
}

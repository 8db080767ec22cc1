/*
 * Unit tests for lib/vm/machine/elf.c on hostile images: every malformed
 * header, table or segment is refused with a message and leaves guest RAM
 * untouched; a well-formed image loads (bss zeroed) and its symbols resolve.
 */
#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vessel/vm/elf.h"

#define RAM_BASE 0x80000000ULL
#define RAM_SIZE 0x10000ULL

static uint8_t ram[RAM_SIZE];
static struct vm_bus bus;

/* Image layout: ehdr | phdr[2] | code (16 bytes) | symtab[3] | strtab | shdr[4]. */
struct image {
	Elf64_Ehdr eh;
	Elf64_Phdr ph[2];
	uint8_t code[16];
	Elf64_Sym sym[3];
	char str[32];
	Elf64_Shdr sh[4];
};

static void build(struct image *im)
{
	memset(im, 0, sizeof(*im));
	memcpy(im->eh.e_ident, ELFMAG, SELFMAG);
	im->eh.e_ident[EI_CLASS] = ELFCLASS64;
	im->eh.e_ident[EI_DATA] = ELFDATA2LSB;
	im->eh.e_ident[EI_VERSION] = EV_CURRENT;
	im->eh.e_type = ET_EXEC;
	im->eh.e_machine = 243;
	im->eh.e_version = EV_CURRENT;
	im->eh.e_entry = RAM_BASE + 0x1000;
	im->eh.e_phoff = offsetof(struct image, ph);
	im->eh.e_phentsize = sizeof(Elf64_Phdr);
	im->eh.e_phnum = 2;
	im->eh.e_shoff = offsetof(struct image, sh);
	im->eh.e_shentsize = sizeof(Elf64_Shdr);
	im->eh.e_shnum = 4;
	im->eh.e_ehsize = sizeof(Elf64_Ehdr);
	/* text: 16 bytes of file data; bss: 64 bytes of zeroes elsewhere */
	im->ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD,
				  .p_offset = offsetof(struct image, code),
				  .p_paddr = RAM_BASE + 0x1000,
				  .p_vaddr = RAM_BASE + 0x1000,
				  .p_filesz = 16,
				  .p_memsz = 16,
				  .p_flags = PF_R | PF_X };
	im->ph[1] = (Elf64_Phdr){ .p_type = PT_LOAD,
				  .p_offset = offsetof(struct image, code),
				  .p_paddr = RAM_BASE + 0x2000,
				  .p_vaddr = RAM_BASE + 0x2000,
				  .p_filesz = 0,
				  .p_memsz = 64,
				  .p_flags = PF_R | PF_W };
	memset(im->code, 0x13, sizeof(im->code));
	strcpy(im->str + 1, "tohost");
	strcpy(im->str + 8, "fromhost");
	im->sym[1] = (Elf64_Sym){ .st_name = 1, .st_shndx = 1, .st_value = RAM_BASE + 0x2000 };
	im->sym[2] = (Elf64_Sym){ .st_name = 8, .st_shndx = 1, .st_value = RAM_BASE + 0x2040 };
	im->sh[2] = (Elf64_Shdr){ .sh_type = SHT_SYMTAB,
				  .sh_offset = offsetof(struct image, sym),
				  .sh_size = sizeof(im->sym),
				  .sh_link = 3,
				  .sh_entsize = sizeof(Elf64_Sym) };
	im->sh[3] = (Elf64_Shdr){ .sh_type = SHT_STRTAB,
				  .sh_offset = offsetof(struct image, str),
				  .sh_size = sizeof(im->str) };
}

static int setup(void **state)
{
	struct vs_err err = VS_ERR_INIT;
	vm_bus_init(&bus);
	assert_int_equal(vm_bus_add_ram(&bus, RAM_BASE, RAM_SIZE, ram, false, "ram", &err), 0);
	return 0;
}

static void test_valid(void **state)
{
	struct image im;
	struct vm_elf_info info;
	struct vs_err err = VS_ERR_INIT;
	build(&im);
	memset(ram, 0xaa, sizeof(ram));
	assert_int_equal(vm_elf_load(&bus, &im, sizeof(im), &info, &err), 0);
	assert_int_equal(info.entry, RAM_BASE + 0x1000);
	assert_int_equal(info.lowest, RAM_BASE + 0x1000);
	assert_int_equal(info.highest, RAM_BASE + 0x2040);
	assert_int_equal(ram[0x1000], 0x13);
	assert_int_equal(ram[0x2000], 0); /* bss zeroed */
	assert_int_equal(ram[0x2040], 0xaa);
	uint64_t v;
	assert_int_equal(vm_elf_symbol(&im, sizeof(im), "tohost", &v, &err), 0);
	assert_int_equal(v, RAM_BASE + 0x2000);
	assert_int_equal(vm_elf_symbol(&im, sizeof(im), "fromhost", &v, &err), 0);
	assert_int_equal(v, RAM_BASE + 0x2040);
	assert_int_equal(vm_elf_symbol(&im, sizeof(im), "missing", &v, &err), -ENOENT);
	assert_int_equal(vm_elf_symbol(&im, sizeof(im), "tohos", &v, &err), -ENOENT);
}

/* Each case mutates a valid image; loading must fail and RAM must stay 0xaa. */
static void expect_refused(struct image *im, size_t size, const char *what)
{
	struct vm_elf_info info;
	struct vs_err err = VS_ERR_INIT;
	memset(ram, 0xaa, sizeof(ram));
	int r = vm_elf_load(&bus, im, size, &info, &err);
	if (r != -EINVAL)
		fail_msg("%s: loaded (r=%d)", what, r);
	if (err.msg[0] == 0)
		fail_msg("%s: no message", what);
	for (size_t i = 0; i < sizeof(ram); i++)
		if (ram[i] != 0xaa)
			fail_msg("%s: RAM written at 0x%zx", what, i);
}

static void test_hostile_headers(void **state)
{
	struct image im;
	build(&im);
	expect_refused(&im, 10, "truncated header");
	build(&im);
	im.eh.e_ident[1] = 'X';
	expect_refused(&im, sizeof(im), "bad magic");
	build(&im);
	im.eh.e_ident[EI_CLASS] = ELFCLASS32;
	expect_refused(&im, sizeof(im), "32-bit");
	build(&im);
	im.eh.e_ident[EI_DATA] = ELFDATA2MSB;
	expect_refused(&im, sizeof(im), "big-endian");
	build(&im);
	im.eh.e_machine = 62;
	expect_refused(&im, sizeof(im), "x86-64");
	build(&im);
	im.eh.e_type = ET_DYN;
	expect_refused(&im, sizeof(im), "shared object");
	build(&im);
	im.eh.e_phentsize = 40;
	expect_refused(&im, sizeof(im), "phentsize");
	build(&im);
	im.eh.e_phoff = sizeof(im) - 8;
	expect_refused(&im, sizeof(im), "phdrs past the end");
	build(&im);
	im.eh.e_phoff = UINT64_MAX - 8;
	expect_refused(&im, sizeof(im), "phoff overflow");
	build(&im);
	im.eh.e_phnum = 0;
	expect_refused(&im, sizeof(im), "no phdrs");
	build(&im);
	im.ph[0].p_type = PT_NOTE;
	im.ph[1].p_type = PT_NOTE;
	expect_refused(&im, sizeof(im), "no PT_LOAD");
}

static void test_hostile_segments(void **state)
{
	struct image im;
	build(&im);
	im.ph[0].p_filesz = 32;
	expect_refused(&im, sizeof(im), "filesz > memsz");
	build(&im);
	im.ph[0].p_offset = sizeof(im) - 4;
	expect_refused(&im, sizeof(im), "data past the end");
	build(&im);
	im.ph[0].p_offset = UINT64_MAX - 4;
	expect_refused(&im, sizeof(im), "offset overflow");
	build(&im);
	im.ph[0].p_paddr = RAM_BASE + RAM_SIZE - 8;
	expect_refused(&im, sizeof(im), "segment runs off RAM");
	build(&im);
	im.ph[0].p_paddr = 0x1000;
	expect_refused(&im, sizeof(im), "segment outside RAM");
	build(&im);
	im.ph[1].p_paddr = UINT64_MAX - 16;
	expect_refused(&im, sizeof(im), "address wraps");
	build(&im);
	im.ph[1].p_paddr = RAM_BASE + 0x1008;
	expect_refused(&im, sizeof(im), "overlapping segments");
	build(&im);
	im.eh.e_entry = RAM_BASE + 0x3000;
	expect_refused(&im, sizeof(im), "entry outside segments");
	build(&im);
	im.ph[1].p_memsz = UINT64_MAX;
	expect_refused(&im, sizeof(im), "huge memsz");
}

static void test_hostile_symbols(void **state)
{
	struct image im;
	struct vs_err err = VS_ERR_INIT;
	uint64_t v;
	build(&im);
	im.sh[2].sh_link = 99;
	assert_int_equal(vm_elf_symbol(&im, sizeof(im), "tohost", &v, &err), -EINVAL);
	build(&im);
	im.sh[2].sh_size = 1 << 20;
	assert_int_equal(vm_elf_symbol(&im, sizeof(im), "tohost", &v, &err), -EINVAL);
	build(&im);
	im.sh[3].sh_offset = UINT64_MAX;
	assert_int_equal(vm_elf_symbol(&im, sizeof(im), "tohost", &v, &err), -EINVAL);
	build(&im);
	im.eh.e_shnum = 1000;
	assert_int_equal(vm_elf_symbol(&im, sizeof(im), "tohost", &v, &err), -EINVAL);
	/* A name running off the end of the string table never matches. */
	build(&im);
	memset(im.str, 'x', sizeof(im.str));
	memcpy(im.str + sizeof(im.str) - 6, "tohost", 6);
	im.sym[1].st_name = sizeof(im.str) - 6;
	assert_int_equal(vm_elf_symbol(&im, sizeof(im), "tohost", &v, &err), -ENOENT);
	/* No section headers: no symbols, not an error. */
	build(&im);
	im.eh.e_shoff = 0;
	im.eh.e_shnum = 0;
	assert_int_equal(vm_elf_symbol(&im, sizeof(im), "tohost", &v, &err), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_hostile_headers),
		cmocka_unit_test(test_hostile_segments),
		cmocka_unit_test(test_hostile_symbols),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}

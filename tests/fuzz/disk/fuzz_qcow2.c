/*
 * fuzz_qcow2.c - fuzz target for the qcow2 header, extension, L1/L2,
 * refcount and snapshot table parsers: the input is an image file; it is
 * opened read-only without its backing chain, read in several places,
 * mapped and checked; then opened read-write and written (in memory).  Nothing may crash, hang or read out of bounds.
 *
 * Built two ways: with -fsanitize=fuzzer (define VESSEL_LIBFUZZER) the
 * libFuzzer entry point alone; normally, with a main() that replays files
 * or directories given on the command line (the checked-in corpus).
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vessel/disk/image.h"
#include "vessel/disk/manage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz.qcow2", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	struct vs_err err = VS_ERR_INIT;
	struct disk_open_options o = { .flags = DISK_OPEN_RDONLY | DISK_OPEN_NO_BACKING,
				       .format = "qcow2",
				       .l2_cache_bytes = 1 << 20 };
	struct disk_image *img = disk_image_open(path, &o, &err);
	if (img) {
		static uint8_t buf[65536];
		uint64_t vsize = disk_image_size(img);
		uint64_t offs[] = { 0, 65536, 1 << 20, vsize / 2,
				    vsize > 65536 ? vsize - 65536 : 0 };
		for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
			uint64_t len = sizeof(buf);
			if (offs[i] >= vsize)
				continue;
			if (len > vsize - offs[i])
				len = vsize - offs[i];
			disk_image_pread(img, buf, len, offs[i], &err);
		}
		struct disk_extent e;
		uint64_t off = 0;
		for (int n = 0; n < 64 && off < vsize; n++) {
			if (disk_image_block_status(img, off, vsize - off, &e, &err) < 0)
				break;
			off += e.length;
		}
		struct disk_check_result res;
		disk_image_check(img, DISK_REPAIR_NONE, &res, &err);
		struct disk_snapshot_info snaps[4];
		disk_snapshot_list(img, snaps, 4, &err);
		disk_image_close(img);
		/* then the write path: allocation, refcounts, COW on the same bytes */
		o.flags = DISK_OPEN_NO_BACKING;
		img = disk_image_open(path, &o, &err);
		if (img) {
			uint64_t vs = disk_image_size(img);
			memset(buf, 0x5a, 4096);
			if (vs >= 4096) {
				disk_image_pwrite(img, buf, 4096, 0, &err);
				disk_image_pwrite(img, buf, 100, vs / 2, &err);
				disk_image_write_zeroes(img, 0, vs < 65536 ? vs : 65536, &err);
				disk_image_flush(img, &err);
			}
			disk_image_close(img);
		}
	}
	close(fd);
	return 0;
}

#ifndef VESSEL_LIBFUZZER
static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "open %s: %s\n", path, strerror(errno));
		return 1;
	}
	static uint8_t data[4 << 20];
	size_t n = fread(data, 1, sizeof(data), f);
	fclose(f);
	LLVMFuzzerTestOneInput(data, n);
	return 0;
}

int main(int argc, char **argv)
{
	int files = 0, rc = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			rc |= replay_file(argv[i]);
			files++;
			continue;
		}
		DIR *d = opendir(argv[i]);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			char p[4096];
			snprintf(p, sizeof(p), "%s/%s", argv[i], de->d_name);
			rc |= replay_file(p);
			files++;
		}
		if (d)
			closedir(d);
	}
	printf("replayed %d inputs\n", files);
	return rc || files == 0;
}
#endif

/*
 * crash_writer.c - the victim of the crash test (test_crash.py): random
 * allocating writes, write-zeroes and discards on an image with periodic
 * flushes, announcing each operation before it starts ("W off len pat",
 * "Z off len", "D off len", snapshot create/delete "S name") and each
 * completed flush ("F ops") on stdout (with CRASH_SNAPSHOTS set it only
 * creates and deletes internal snapshots),
 * unbuffered, so the parent knows what must have survived a SIGKILL.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vessel/disk/image.h"
#include "vessel/disk/manage.h"

static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void say_line(const char *line, int n)
{
	if (n < 0 || write(1, line, (size_t)n) != n)
		exit(1);
}

#define SAY(...)                                                              \
	do {                                                                  \
		char line_[128];                                              \
		say_line(line_, snprintf(line_, sizeof(line_), __VA_ARGS__)); \
	} while (0)

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: crash_writer IMAGE SEED OPS CLUSTER\n");
		return 2;
	}
	rng_state = strtoull(argv[2], NULL, 0) | 1;
	uint64_t ops = strtoull(argv[3], NULL, 0), cs = strtoull(argv[4], NULL, 0);
	struct vs_err err = VS_ERR_INIT;
	struct disk_open_options o = { 0 };
	struct disk_image *img = disk_image_open(argv[1], &o, &err);
	if (!img) {
		fprintf(stderr, "crash_writer: %s\n", err.msg);
		return 1;
	}
	uint64_t size = disk_image_size(img);
	/* snapshot mode: only snapshot create/delete, no data changes */
	bool snap_mode = getenv("CRASH_SNAPSHOTS") != NULL;
	uint8_t *buf = malloc(4 * cs);
	if (!buf)
		return 1;
	for (uint64_t i = 0; i < ops; i++) {
		uint64_t kind = snap_mode ? 100 : rnd() % 100;
		uint64_t len = 1 + rnd() % (3 * cs);
		uint64_t off = rnd() % (size - len);
		int r;
		if (kind < 75) {
			uint64_t pat = 1 + rnd() % 255;
			SAY("W %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", off, len, pat);
			memset(buf, (int)pat, len);
			r = disk_image_pwrite(img, buf, len, off, &err);
		} else if (kind < 88) {
			SAY("Z %" PRIu64 " %" PRIu64 "\n", off, len);
			r = disk_image_write_zeroes(img, off, len, &err);
		} else if (snap_mode) {
			r = 0;
		} else {
			off -= off % cs;
			len = cs * (1 + rnd() % 3);
			if (off + len > size)
				len = size - off;
			SAY("D %" PRIu64 " %" PRIu64 "\n", off, len);
			r = disk_image_discard(img, off, len, &err);
		}
		if (r == 0 && snap_mode) {
			/* snapshot operations do not change what the disk reads */
			char name[32];
			snprintf(name, sizeof(name), "w%s-%" PRIu64, argv[2], i);
			SAY("S %s\n", name);
			r = disk_snapshot_create(img, name, &err);
			if (r == 0 && rnd() % 2) {
				struct disk_snapshot_info s[8];
				int n = disk_snapshot_list(img, s, 8, &err);
				if (n > 0)
					r = disk_snapshot_delete(img, s[rnd() % (n < 8 ? n : 8)].id,
								 &err);
			}
		}
		if (r == 0 && (i % 8 == 7 || rnd() % 20 == 0)) {
			r = disk_image_flush(img, &err);
			if (r == 0)
				SAY("F %" PRIu64 "\n", i + 1);
		}
		if (r < 0) {
			fprintf(stderr, "crash_writer: %s\n", err.msg);
			return 1;
		}
	}
	disk_image_close(img);
	SAY("DONE\n");
	free(buf);
	return 0;
}

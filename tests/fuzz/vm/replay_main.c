/*
 * replay_main.c - runs a fuzz target over every file of the corpus
 * directories given as arguments, plus deterministic mutations of each
 * (bit flips and overwritten bytes from a fixed-seed generator), so the
 * regular test suite exercises the parser on hostile input without
 * libFuzzer.  Exit 0 when every input was handled (crashes abort).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MUTATIONS 3000

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t next_random(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return -1;
	}
	uint8_t *buf = malloc(1 << 17);
	size_t n = buf ? fread(buf, 1, 1 << 17, f) : 0;
	fclose(f);
	if (!buf)
		return -1;
	LLVMFuzzerTestOneInput(buf, n);
	uint8_t *mut = malloc(n ? n : 1);
	for (unsigned m = 0; m < MUTATIONS && n > 0; m++) {
		memcpy(mut, buf, n);
		unsigned edits = 1 + (unsigned)(next_random() % 8);
		for (unsigned e = 0; e < edits; e++) {
			/* Mostly the head and descriptors, then the rings, then anywhere. */
			uint64_t r = next_random();
			size_t span = r % 4 < 2 ? 0x110 : r % 4 == 2 ? 0x1010 : n;
			size_t at = (size_t)(next_random() % (span < n ? span : n));
			if (r % 4 == 2 && n > 0x1010)
				at = 0x1000 + at % 0x10;
			if (next_random() & 1)
				mut[at] ^= (uint8_t)(1U << (next_random() % 8));
			else
				mut[at] = (uint8_t)next_random();
		}
		LLVMFuzzerTestOneInput(mut, n);
	}
	free(mut);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned files = 0;
	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		if (!d) {
			perror(argv[i]);
			return 1;
		}
		struct dirent *e;
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			char path[4096];
			snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
			if (replay_file(path) < 0) {
				closedir(d);
				return 1;
			}
			files++;
		}
		closedir(d);
	}
	printf("replayed %u corpus files (+%u mutations each)\n", files, MUTATIONS);
	return files ? 0 : 1;
}

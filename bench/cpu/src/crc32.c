/* crc32: integer ALU, bitwise CRC-32 (no table) over a 64 KiB buffer. */
#include "bench.h"

#ifndef SCALE
#define SCALE 1
#endif
static u8 buf[65536];

u64 bench_run(void)
{
	u32 x = 1;
	for (unsigned i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (u8)(x >> 16);
	}
	u32 crc = ~0u;
	for (int rep = 0; rep < 500 * SCALE; rep++)
		for (unsigned i = 0; i < sizeof(buf); i++) {
			crc ^= buf[i];
			for (int k = 0; k < 8; k++)
				crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
		}
	return ~crc;
}

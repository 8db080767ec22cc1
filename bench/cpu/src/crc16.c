/* crc16: CoreMark's crcu8 (bit-serial CRC-16 with data-dependent branches and
 * 8- and 16-bit values in 64-bit registers) over a 4 KiB buffer. */
#include "bench.h"

#ifndef SCALE
#define SCALE 1
#endif
static u8 buf[4096];

static u16 crcu8(u8 data, u16 crc)
{
	for (u8 i = 0; i < 8; i++) {
		u8 x16 = (u8)((data & 1) ^ ((u8)crc & 1)), carry;
		data >>= 1;
		if (x16 == 1) {
			crc ^= 0x4002;
			carry = 1;
		} else {
			carry = 0;
		}
		crc >>= 1;
		if (carry)
			crc |= 0x8000;
		else
			crc &= 0x7fff;
	}
	return crc;
}

u64 bench_run(void)
{
	u32 x = 3;
	for (unsigned i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (u8)(x >> 16);
	}
	u16 crc = 0;
	for (int rep = 0; rep < 1000 * SCALE; rep++)
		for (unsigned i = 0; i < sizeof(buf); i++)
			crc = crcu8(buf[i], crc);
	return crc;
}

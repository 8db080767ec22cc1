/*
 * crc32c.c - CRC-32C (include/vessel/core/crc32c.h).  On x86-64 hosts with
 * SSE 4.2 the crc32 instruction does 8 bytes per step; elsewhere a 256-entry
 * table built on first use does one byte per step.  Both give the same
 * result (standard init ~0 and final xor ~0, so crc32c(crc32c(0,a),b) ==
 * crc32c(0, a||b)).
 */
#include <stdbool.h>
#include <string.h>

#include "vessel/core/crc32c.h"

static uint32_t crc_table[256];
static bool crc_table_ready;

static void crc_table_build(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82F63B78U & (0U - (c & 1)));
		crc_table[i] = c;
	}
	crc_table_ready = true;
}

static uint32_t crc_soft(uint32_t c, const uint8_t *p, size_t len)
{
	if (!crc_table_ready)
		crc_table_build();
	while (len--)
		c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t c, const uint8_t *p, size_t len)
{
	uint64_t c64 = c;
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c64 = __builtin_ia32_crc32di(c64, v);
		p += 8;
		len -= 8;
	}
	c = (uint32_t)c64;
	while (len--)
		c = __builtin_ia32_crc32qi(c, *p++);
	return c;
}
#endif

uint32_t vs_crc32c(uint32_t crc, const void *buf, size_t len)
{
	uint32_t c = ~crc;
#if defined(__x86_64__)
	if (__builtin_cpu_supports("sse4.2"))
		return ~crc_hw(c, buf, len);
#endif
	return ~crc_soft(c, buf, len);
}

/*
 * crc32c.h - CRC-32C (Castagnoli, polynomial 0x1EDC6F41 reflected as
 * 0x82F63B78), the checksum of iSCSI, ext4 metadata and vessel's snapshot
 * sections.  crc32c("123456789", 9) == 0xE3069283.
 */
#ifndef VESSEL_CORE_CRC32C_H
#define VESSEL_CORE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extend crc (0 to start) over len bytes. */
uint32_t vs_crc32c(uint32_t crc, const void *buf, size_t len);

#endif

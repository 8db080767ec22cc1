/*
 * agent_proto.h - the vessel guest agent's wire protocol (docs/agent-protocol.md),
 * shared by the guest's vessel-agent (guest/agent/vessel-agent.c) and the
 * host's client (lib/vm/agent/client.c).  Kept under guest/ so that the
 * guest recipe's hash covers it.  Freestanding: only <stdint.h>/<stddef.h>.
 *
 * A frame is a 20-byte little-endian header followed by len payload bytes:
 *   u32 magic "VSAG"   u16 type   u16 flags (0)   u32 id   u32 len
 *   u32 crc: CRC-32 (IEEE 802.3, as zlib's crc32) of the header with crc
 *            zeroed, then of the payload
 * Request payloads are TLV fields: u16 tag, u16 reserved (0), u32 length,
 * bytes.  Responses carry the request's id.
 */
#ifndef VESSEL_AGENT_PROTO_H
#define VESSEL_AGENT_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define VAG_MAGIC	  0x47415356u /* "VSAG" little-endian */
#define VAG_VERSION	  1
#define VAG_HDR_SIZE	  20
#define VAG_MAX_PAYLOAD	  65536
#define VAG_CHUNK	  16384	     /* data frames the agent sends carry at most this */
#define VAG_WINDOW	  49152	     /* unacknowledged data bytes the agent may have in flight */
#define VAG_STDIN_MAX	  (8u << 20) /* stdin bytes the agent buffers for one exec */
#define VAG_FRAME_IDLE_MS 3000	     /* a partial frame idle this long is resynchronised */

enum vag_type {
	/* host -> guest */
	VAG_HELLO = 0x01,     /* empty; answered by VAG_HELLO_REPLY */
	VAG_PING = 0x02,      /* any payload; echoed in VAG_PONG */
	VAG_EXEC = 0x03,      /* TLV: ARG+ ENV* CWD? STDIN? */
	VAG_STDIN = 0x04,     /* raw stdin bytes; empty = end of stdin */
	VAG_PUSH = 0x05,      /* TLV: PATH MODE; answered by VAG_OK */
	VAG_PUSH_DATA = 0x06, /* raw file bytes; empty = end, answered by VAG_OK */
	VAG_PULL = 0x07,      /* TLV: PATH; answered by FILE_DATA* FILE_END */
	VAG_ACK = 0x08,	      /* u32: data bytes consumed (opens the window) */
	/* guest -> host */
	VAG_HELLO_REPLY = 0x81, /* u32 version, then text "vessel-agent ..." */
	VAG_PONG = 0x82,
	VAG_STDOUT = 0x84, /* raw bytes */
	VAG_STDERR = 0x85, /* raw bytes */
	VAG_EXIT = 0x86,   /* i32 exit status (-1 if signalled), i32 signal (0) */
	VAG_OK = 0x87,
	VAG_FILE_DATA = 0x88, /* raw bytes */
	VAG_FILE_END = 0x89,  /* u32 mode, u64 size */
	VAG_ERROR = 0x8f,     /* u32 errno, text message */
};

enum vag_tag {
	VAG_TAG_ARG = 1,   /* one argv string (no NUL inside) */
	VAG_TAG_ENV = 2,   /* one "NAME=VALUE" */
	VAG_TAG_CWD = 3,   /* working directory */
	VAG_TAG_STDIN = 4, /* u8 1: stdin follows in VAG_STDIN frames, else /dev/null */
	VAG_TAG_PATH = 5,  /* a guest path */
	VAG_TAG_MODE = 6,  /* u32 permission bits */
};

#define VAG_MAX_ARGS 1024

static inline void vag_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void vag_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline uint32_t vag_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint16_t vag_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* CRC-32 (reflected, polynomial 0xedb88320), bitwise: frames are small. */
static inline uint32_t vag_crc32(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	crc = ~crc;
	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
	}
	return ~crc;
}

/* Fill hdr (VAG_HDR_SIZE bytes) for a frame with this payload. */
static inline void vag_header(uint8_t *hdr, uint16_t type, uint32_t id, const void *payload,
			      uint32_t len)
{
	vag_put32(hdr, VAG_MAGIC);
	vag_put16(hdr + 4, type);
	vag_put16(hdr + 6, 0);
	vag_put32(hdr + 8, id);
	vag_put32(hdr + 12, len);
	vag_put32(hdr + 16, 0);
	uint32_t crc = vag_crc32(0, hdr, VAG_HDR_SIZE);
	crc = vag_crc32(crc, payload, len);
	vag_put32(hdr + 16, crc);
}

/* Check a complete frame's CRC (buf: header then len payload bytes). */
static inline int vag_crc_ok(const uint8_t *buf, uint32_t len)
{
	uint8_t hdr[VAG_HDR_SIZE];
	for (int i = 0; i < VAG_HDR_SIZE; i++)
		hdr[i] = i >= 16 ? 0 : buf[i];
	uint32_t crc = vag_crc32(0, hdr, VAG_HDR_SIZE);
	crc = vag_crc32(crc, buf + VAG_HDR_SIZE, len);
	return crc == vag_get32(buf + 16);
}

#endif

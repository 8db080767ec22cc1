/*
 * state.h - the encoding of device and CPU state inside a snapshot section
 * (docs/snapshot-format.md): a flat sequence of little-endian fixed-width
 * fields, written and read in the same order by one save/load pair per
 * device.  No field names, no alignment: the section's type and version say
 * what follows.
 *
 * Writing appends to a growable buffer; reading walks a bounded cursor.
 * Neither reports errors per call: a failed allocation or a read past the
 * end sets `failed`, every later get returns zeros, and the caller checks
 * vm_state_ok() once (with the exact length consumed) before it commits
 * anything.  Snapshot files are untrusted input: every loader validates
 * the values it decodes before applying them.
 */
#ifndef VESSEL_VM_STATE_H
#define VESSEL_VM_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vessel/core/err.h"

struct vm_state {
	uint8_t *data;
	size_t len, cap; /* writing: bytes used / allocated */
	size_t pos;	 /* reading: next byte */
	bool failed;	 /* out of memory (write) or past the end (read) */
	bool owned;	 /* data is ours to free */
};

/* A reader over len bytes at data (not copied). */
static inline struct vm_state vm_state_reader(const void *data, size_t len)
{
	return (struct vm_state){ .data = (uint8_t *)data, .len = len };
}

void vm_state_free(struct vm_state *s);

void vm_state_put_bytes(struct vm_state *s, const void *p, size_t n);
void vm_state_put_u8(struct vm_state *s, uint8_t v);
void vm_state_put_u16(struct vm_state *s, uint16_t v);
void vm_state_put_u32(struct vm_state *s, uint32_t v);
void vm_state_put_u64(struct vm_state *s, uint64_t v);
void vm_state_put_str(struct vm_state *s, const char *str); /* u32 length + bytes */

void vm_state_get_bytes(struct vm_state *s, void *p, size_t n);
uint8_t vm_state_get_u8(struct vm_state *s);
uint16_t vm_state_get_u16(struct vm_state *s);
uint32_t vm_state_get_u32(struct vm_state *s);
uint64_t vm_state_get_u64(struct vm_state *s);
static inline bool vm_state_get_bool(struct vm_state *s)
{
	return vm_state_get_u8(s) != 0;
}
/* A string of at most max-1 bytes into buf (NUL-terminated); longer fails. */
void vm_state_get_str(struct vm_state *s, char *buf, size_t max);

/*
 * After a load: 0 when every get stayed inside the data and all of it was
 * consumed, else -EINVAL with "what: ..." in err.
 */
int vm_state_check_end(const struct vm_state *s, const char *what, struct vs_err *err);

#endif

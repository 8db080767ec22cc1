/*
 * state.c - the little-endian field encoding of snapshot sections
 * (include/vessel/vm/state.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vessel/vm/state.h"

void vm_state_free(struct vm_state *s)
{
	if (s->owned)
		free(s->data);
	*s = (struct vm_state){ 0 };
}

void vm_state_put_bytes(struct vm_state *s, const void *p, size_t n)
{
	if (s->failed || n == 0)
		return;
	if (s->len + n > s->cap) {
		size_t cap = s->cap ? s->cap : 256;
		while (cap < s->len + n)
			cap *= 2;
		uint8_t *d = realloc(s->owned ? s->data : NULL, cap);
		if (!d) {
			s->failed = true;
			return;
		}
		if (!s->owned && s->len)
			memcpy(d, s->data, s->len);
		s->data = d;
		s->cap = cap;
		s->owned = true;
	}
	memcpy(s->data + s->len, p, n);
	s->len += n;
}

void vm_state_put_u8(struct vm_state *s, uint8_t v)
{
	vm_state_put_bytes(s, &v, 1);
}

void vm_state_put_u16(struct vm_state *s, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	vm_state_put_bytes(s, b, 2);
}

void vm_state_put_u32(struct vm_state *s, uint32_t v)
{
	uint8_t b[4];
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	vm_state_put_bytes(s, b, 4);
}

void vm_state_put_u64(struct vm_state *s, uint64_t v)
{
	uint8_t b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	vm_state_put_bytes(s, b, 8);
}

void vm_state_put_str(struct vm_state *s, const char *str)
{
	size_t n = str ? strlen(str) : 0;
	vm_state_put_u32(s, (uint32_t)n);
	vm_state_put_bytes(s, str, n);
}

void vm_state_get_bytes(struct vm_state *s, void *p, size_t n)
{
	if (s->failed || n > s->len - s->pos) {
		s->failed = true;
		memset(p, 0, n);
		return;
	}
	memcpy(p, s->data + s->pos, n);
	s->pos += n;
}

uint8_t vm_state_get_u8(struct vm_state *s)
{
	uint8_t v;
	vm_state_get_bytes(s, &v, 1);
	return v;
}

uint16_t vm_state_get_u16(struct vm_state *s)
{
	uint8_t b[2];
	vm_state_get_bytes(s, b, 2);
	return (uint16_t)(b[0] | b[1] << 8);
}

uint32_t vm_state_get_u32(struct vm_state *s)
{
	uint8_t b[4];
	vm_state_get_bytes(s, b, 4);
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

uint64_t vm_state_get_u64(struct vm_state *s)
{
	uint8_t b[8];
	vm_state_get_bytes(s, b, 8);
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

void vm_state_get_str(struct vm_state *s, char *buf, size_t max)
{
	uint32_t n = vm_state_get_u32(s);
	if (s->failed || n >= max) {
		s->failed = true;
		if (max)
			buf[0] = 0;
		return;
	}
	vm_state_get_bytes(s, buf, n);
	buf[s->failed ? 0 : n] = 0;
}

int vm_state_check_end(const struct vm_state *s, const char *what, struct vs_err *err)
{
	if (s->failed)
		return vs_errf(err, EINVAL, "%s: section shorter than its fields", what);
	if (s->pos != s->len)
		return vs_errf(err, EINVAL, "%s: %zu unexpected trailing bytes", what,
			       s->len - s->pos);
	return 0;
}

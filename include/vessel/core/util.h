/*
 * util.h - small helpers shared by every part of vessel.
 */
#ifndef VESSEL_CORE_UTIL_H
#define VESSEL_CORE_UTIL_H

#include <stdint.h>
#include <sys/types.h>

#include "vessel/core/err.h"

/*
 * Parse a size such as "4096", "64K", "1.5G" or "2T" (binary units, an
 * optional trailing "B"/"iB").  Fails with -EINVAL or -ERANGE.
 */
int vs_parse_size(const char *text, uint64_t *out, struct vs_err *err);

/* Parse an unsigned decimal/hex integer that must fill the whole string. */
int vs_parse_u64(const char *text, uint64_t *out, struct vs_err *err);

/* Format a size as "64 KiB", "1.5 GiB" into buf. Returns buf. */
const char *vs_format_size(uint64_t size, char *buf, size_t len);

/* pread/pwrite that loop over short transfers and EINTR; return 0 or -errno
 * (-EIO with errno 0 when pread hits end of file). */
int vs_pread_full(int fd, void *buf, size_t len, off_t off);
int vs_pwrite_full(int fd, const void *buf, size_t len, off_t off);
int vs_write_full(int fd, const void *buf, size_t len);
/* The same on a socket with send(MSG_NOSIGNAL): a closed peer is -EPIPE,
 * not SIGPIPE. */
int vs_send_full(int fd, const void *buf, size_t len);

/*
 * Close a server's connection whose client may still be sending a request
 * body the server will not read: shut the sending side, then read and drop
 * what arrives on a thread of its own until the client stops (2 s quiet),
 * closes or 10 s pass, so the client reads the answer instead of a reset.
 * Takes fd (a dup of the server's descriptor, so the server's own close
 * does not reset the connection first).
 */
void vs_linger_close(int fd);

/* Split "HOST:PORT" or "[V6ADDR]:PORT" at its last colon: the host, without
 * brackets, into host[hostlen]; *port points into address.  0, or -EINVAL
 * when a part is empty, a bracket is unmatched or the host does not fit. */
int vs_split_hostport(const char *address, char *host, size_t hostlen, const char **port);

/* Read a whole (small) file into a NUL-terminated malloc'd buffer. */
int vs_read_file(const char *path, char **out, size_t *len, size_t max, struct vs_err *err);

/* Write a whole file atomically (temp file + fsync + rename). */
int vs_write_file_atomic(const char *path, const void *buf, size_t len, struct vs_err *err);

/* Programs call this first: any of fds 0-2 that is closed is opened on
 * /dev/null, so that no file the program opens later gets one of those
 * numbers and then receives its console or log output. */
void vs_stdio_ensure(void);

/* Monotonic clock in nanoseconds. */
uint64_t vs_now_ns(void);

#endif

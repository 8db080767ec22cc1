/*
 * cleanup.h - scope-bound release of memory and file descriptors, so that
 * early returns never leak:
 *
 *	vs_cleanup_free char *buf = malloc(n);
 *	vs_cleanup_close int fd = -1;
 *	...
 *	return vs_steal_fd(&fd);
 */
#ifndef VESSEL_CORE_CLEANUP_H
#define VESSEL_CORE_CLEANUP_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void vs_freep(void *p)
{
	free(*(void **)p);
}

static inline void vs_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

static inline void vs_fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

#define vs_cleanup_free	  __attribute__((cleanup(vs_freep)))
#define vs_cleanup_close  __attribute__((cleanup(vs_closep)))
#define vs_cleanup_fclose __attribute__((cleanup(vs_fclosep)))

/* Take ownership of a pointer guarded by vs_cleanup_free. */
#define vs_steal_ptr(pp)                      \
	({                                    \
		__typeof__(*(pp)) _p = *(pp); \
		*(pp) = NULL;                 \
		_p;                           \
	})

static inline int vs_steal_fd(int *fd)
{
	int r = *fd;
	*fd = -1;
	return r;
}

#define VS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif

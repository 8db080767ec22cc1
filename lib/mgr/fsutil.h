/*
 * fsutil.h - file-system helpers of the manager: directories, recursive
 * removal that never crosses a mount, sha256 of files and buffers (GnuTLS),
 * and running a helper program with its output captured.
 */
#ifndef VESSEL_MGR_FSUTIL_H
#define VESSEL_MGR_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vessel/core/err.h"

int mgr_mkdir_p(const char *path, mode_t mode, struct vs_err *err);
/* rm -rf that stays on path's file system (a mount inside makes it fail). */
int mgr_rm_rf(const char *path, struct vs_err *err);
bool mgr_path_exists(const char *path);
/* Whether path is a mount point (its own entry in /proc/self/mountinfo). */
bool mgr_is_mountpoint(const char *path);

/* Lower-case hex sha256 (65 bytes with NUL) of a file / a buffer; *size gets
 * the file's length. */
int mgr_sha256_file(const char *path, char hex[65], uint64_t *size, struct vs_err *err);
void mgr_sha256_buf(const void *buf, size_t len, char hex[65]);
bool mgr_is_hex(const char *s, size_t len);

/*
 * Run argv (argv[0] an absolute path) and wait: stdin from in/in_len (may be
 * NULL), stdout and stderr captured (malloc'd, capped at cap bytes each,
 * may be NULL to discard).  *status gets the exit code (128+N for signal N).
 * Fails only when the program cannot run.
 */
struct mgr_run {
	char *out;
	size_t out_len;
	char *err;
	size_t err_len;
	int status;
};
int mgr_run(char *const argv[], const char *in, size_t in_len, size_t cap, struct mgr_run *res,
	    struct vs_err *err);
void mgr_run_free(struct mgr_run *res);
/* Run argv with stdin /dev/null and stdout+stderr on out_fd (a log that the
 * program's own children may keep); *status as for mgr_run. */
int mgr_run_logged(char *const argv[], int out_fd, int *status, struct vs_err *err);

/* Copy src into the new file dst (O_EXCL, 0600), fsync'ed: a reflink
 * (FICLONE) where the file system shares extents, else its data extents
 * only (holes stay holes).  dst is removed on failure (file_clone.c). */
int mgr_file_clone(const char *src, const char *dst, struct vs_err *err);
int mgr_fsync_dir(const char *dir, struct vs_err *err);

#endif

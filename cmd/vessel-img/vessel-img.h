/*
 * vessel-img.h - shared helpers of the vessel-img commands (one file per
 * group of commands; the work is done by lib/disk).
 */
#ifndef VESSEL_IMG_H
#define VESSEL_IMG_H

#include <stdint.h>

#include "vessel/core/err.h"
#include "vessel/disk/image.h"
#include "vessel/disk/manage.h"

struct img_command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;
};

extern const struct img_command img_commands[];

/* Report err as "vessel-img: msg" and return exit code 1. */
int img_fail(const struct vs_err *err);
int img_failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Size or offset: "64k", "1G", "0x1000", "4096". */
int img_parse_num(const char *s, uint64_t *out, struct vs_err *err);
struct disk_image *img_open(const char *path, const char *fmt, bool rw, bool no_backing,
			    struct vs_err *err);

int cmd_create(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_io(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_map(int argc, char **argv);
int cmd_snapshot(int argc, char **argv);
int cmd_resize(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_commit(int argc, char **argv);
int cmd_rebase(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif

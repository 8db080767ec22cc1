/*
 * manage.h - image management beyond plain I/O: create, info, check, map,
 * resize, internal snapshots, convert, commit, rebase and bench.  These are
 * what vessel-img exposes; the VMM only needs image.h.
 *
 * Every function follows the vessel error convention (0 or -errno, err last).
 */
#ifndef VESSEL_DISK_MANAGE_H
#define VESSEL_DISK_MANAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "vessel/disk/image.h"

enum disk_prealloc {
	DISK_PREALLOC_OFF = 0,
	DISK_PREALLOC_METADATA,
	DISK_PREALLOC_FALLOC,
};

enum disk_compression {
	DISK_COMPRESSION_ZLIB = 0, /* qcow2 compression_type 0 (raw deflate) */
	DISK_COMPRESSION_ZSTD = 1,
};

struct disk_create_options {
	const char *format;	    /* "qcow2" (default) or "raw" */
	uint64_t size;		    /* virtual size in bytes; 0 = backing file's */
	uint32_t cluster_size;	    /* 0 = 64 KiB; power of two 512 B - 2 MiB */
	const char *backing_file;   /* stored as given (relative to the image) */
	const char *backing_format; /* "qcow2", "raw" or NULL to probe */
	enum disk_prealloc prealloc;
	bool compat_v2;			/* write a version 2 (compat=0.10) image */
	bool extended_l2;		/* subclusters (32 per cluster) */
	unsigned refcount_bits;		/* 0 = 16; 1, 2, 4, ..., 64 */
	enum disk_compression compress; /* compression_type of the header */
};

/* Create an image; refuses to overwrite nothing: the file is truncated. */
int disk_image_create(const char *path, const struct disk_create_options *opts, struct vs_err *err);

#define DISK_MAX_SNAPSHOTS_INFO 64

struct disk_info {
	char format[16];
	uint64_t virtual_size;
	uint64_t actual_size; /* bytes allocated on the host */
	uint64_t file_length;
	uint32_t cluster_size;
	int version; /* qcow2 version, 0 for raw */
	char backing_file[1024];
	char backing_format[16];
	unsigned refcount_bits;
	bool extended_l2;
	bool lazy_refcounts;
	bool corrupt;
	const char *compression; /* "zlib" / "zstd" / NULL */
	unsigned nb_snapshots;
};

int disk_image_info(struct disk_image *img, struct disk_info *info, struct vs_err *err);

/* Backing image (NULL when none or not opened). */
struct disk_image *disk_image_backing(struct disk_image *img);
const char *disk_image_path(const struct disk_image *img);

/* --- check ------------------------------------------------------------ */

enum disk_repair {
	DISK_REPAIR_NONE = 0,
	DISK_REPAIR_LEAKS = 1,
	DISK_REPAIR_ALL = 2,
};

struct disk_check_result {
	uint64_t corruptions; /* left after repair */
	uint64_t leaks;	      /* left after repair */
	uint64_t corruptions_fixed;
	uint64_t leaks_fixed;
	uint64_t allocated_clusters;
	uint64_t total_clusters;
	uint64_t image_end_offset;
	char first_problem[256]; /* description of the first problem seen */
};

/* Check an image opened read-write when repairing. -ENOTSUP for raw. */
int disk_image_check(struct disk_image *img, enum disk_repair repair, struct disk_check_result *res,
		     struct vs_err *err);

/* --- map / block status ---------------------------------------------- */

enum disk_extent_flags {
	DISK_EXTENT_DATA = 1 << 0,   /* allocated in this image (or chain) */
	DISK_EXTENT_ZERO = 1 << 1,   /* reads as zeros */
	DISK_EXTENT_OFFSET = 1 << 2, /* host_offset valid (uncompressed data) */
};

struct disk_extent {
	uint64_t start, length;
	unsigned flags;	      /* enum disk_extent_flags */
	int depth;	      /* 0 = this image, 1 = its backing, ... */
	bool present;	      /* allocated somewhere in the chain */
	uint64_t host_offset; /* with DISK_EXTENT_OFFSET */
};

/* Status of the extent starting at offset (length <= len, > 0), following the
 * backing chain.  Returns 0 and fills ext. */
int disk_image_block_status(struct disk_image *img, uint64_t offset, uint64_t len,
			    struct disk_extent *ext, struct vs_err *err);

/* --- resize --------------------------------------------------------- */

int disk_image_resize(struct disk_image *img, uint64_t new_size, bool shrink, struct vs_err *err);

/* --- internal snapshots ------------------------------------------- */

struct disk_snapshot_info {
	char id[32];
	char name[256];
	uint64_t vm_state_size;
	uint32_t date_sec, date_nsec;
	uint64_t vm_clock_nsec;
	uint64_t disk_size;
};

/* Fills at most max entries; returns the number of snapshots or -errno. */
int disk_snapshot_list(struct disk_image *img, struct disk_snapshot_info *out, unsigned max,
		       struct vs_err *err);
int disk_snapshot_create(struct disk_image *img, const char *name, struct vs_err *err);
int disk_snapshot_apply(struct disk_image *img, const char *name_or_id, struct vs_err *err);
int disk_snapshot_delete(struct disk_image *img, const char *name_or_id, struct vs_err *err);

/*
 * savevm/loadvm (qcow2 only, -ENOTSUP otherwise): a VM state stored inside
 * an internal snapshot, in the image's VM state area as QEMU's savevm does
 * (virtual offsets from the first L1 entry past the disk, reached through
 * the snapshot's L1 table; vm_state_size in the snapshot table).
 * save: the bytes [0, len) of fd (holes stay unallocated) become the VM
 * state of a new snapshot `name` of the disk as it is now (an older one of
 * that name is replaced).  load: writes snapshot `name`'s VM state into fd
 * (zero clusters as holes), *len its size; it only reads (the image may be
 * open read-only) and does not roll the disk back: disk_snapshot_apply does,
 * once the caller validated the state.  Neither save nor apply leaves VM
 * state clusters in the active image.
 */
int disk_snapshot_save_vmstate(struct disk_image *img, const char *name, int fd, uint64_t len,
			       uint64_t vm_clock_nsec, struct vs_err *err);
int disk_snapshot_load_vmstate(struct disk_image *img, const char *name, int fd, uint64_t *len,
			       struct vs_err *err);

/* --- convert, commit, rebase -------------------------------------- */

struct disk_convert_options {
	const char *out_format; /* "qcow2" or "raw" */
	bool compress;		/* qcow2 only: write compressed clusters */
	enum disk_compression compression;
	uint32_t cluster_size;
	bool compat_v2;
	bool extended_l2;
};

int disk_image_convert(struct disk_image *src, const char *out_path,
		       const struct disk_convert_options *opts, struct vs_err *err);

/* Copy the data allocated in img (top only) into its backing image, then
 * empty img unless keep_top. */
int disk_image_commit(struct disk_image *img, bool keep_top, struct vs_err *err);

/* Change img's backing file.  Safe mode (unsafe=false) first copies into
 * img every cluster where the old and new backing chains differ. */
int disk_image_rebase(struct disk_image *img, const char *backing_file, const char *backing_format,
		      bool unsafe, struct vs_err *err);

/* --- bench ---------------------------------------------------------- */

struct disk_bench_options {
	bool write;
	uint64_t count;		 /* requests */
	uint64_t buffer_size;	 /* bytes per request */
	uint64_t offset;	 /* first request */
	uint64_t step;		 /* distance between requests; 0 = buffer_size */
	bool random;		 /* random aligned offsets instead of step */
	uint64_t flush_interval; /* flush every N requests, 0 = never */
	uint8_t pattern;
};

struct disk_bench_result {
	uint64_t elapsed_ns;
	uint64_t bytes;
};

int disk_image_bench(struct disk_image *img, const struct disk_bench_options *opts,
		     struct disk_bench_result *res, struct vs_err *err);

#define DISK_BENCH_MAX_DEPTH	      256
#define DISK_BENCH_MAX_PARALLEL_COUNT (1ULL << 24)
/* Like disk_image_bench with up to depth read requests in flight: imgs are
 * depth separate read-only handles on the same image, one per thread
 * (a handle is never used by two threads).  Reads only (EINVAL for writes
 * or flushes); depth 1 is disk_image_bench on imgs[0]. */
int disk_image_bench_parallel(struct disk_image **imgs, unsigned depth,
			      const struct disk_bench_options *opts, struct disk_bench_result *res,
			      struct vs_err *err);

#endif

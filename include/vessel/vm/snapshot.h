/*
 * snapshot.h - VM snapshots: the file container (lib/vm/snapshot/file.c)
 * and saving/restoring a whole `virt` board (lib/vm/snapshot/virt.c).
 * The format is documented in docs/snapshot-format.md.
 *
 * A snapshot file is a 64-byte header, a list of sections (type, instance,
 * version, CRC32C, length, payload) ending with an END section, and guest
 * RAM laid out page by page at a page-aligned offset: page i of RAM is at
 * ram_offset + i * 4096, pages not stored are holes (they read as zeros).
 * A full snapshot stores every non-zero page, so restoring maps the file
 * with mmap(MAP_PRIVATE) in one call and pages fault in lazily from the page
 * cache; VMs restored from one file share their unmodified pages.  A diff
 * snapshot stores only the pages written since its parent (a bitmap in the
 * RAM section says which) and names its parent.
 *
 * Safety: sections are checked (magic, version, CRC32C, lengths, every
 * decoded value) and the whole snapshot is validated before any part of the
 * machine is changed, so a corrupt, truncated or foreign file is refused
 * with a message and the machine is untouched.  Files are written under a
 * temporary name and renamed, never rewritten in place (running VMs may map
 * the old file).
 */
#ifndef VESSEL_VM_SNAPSHOT_H
#define VESSEL_VM_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vessel/core/err.h"
#include "vessel/vm/virt.h"

#define VM_SNAP_MAGIC	     "VSLSNAP\n"
#define VM_SNAP_VERSION	     2 /* written; 1 (no HOT section) is read too */
#define VM_SNAP_VERSION_MIN  1
#define VM_SNAP_HEADER_SIZE  64
#define VM_SNAP_PAGE_SIZE    4096ULL
#define VM_SNAP_MAX_SECTIONS 256
#define VM_SNAP_MAX_SECTION  (64ULL << 20) /* bytes of one section's payload */

enum vm_snap_kind {
	VM_SNAP_FULL = 0,
	VM_SNAP_DIFF = 1,
};

enum vm_snap_section_type {
	VM_SNAP_SEC_END = 0,
	VM_SNAP_SEC_META = 1,	 /* id, parent, disk tag, time */
	VM_SNAP_SEC_CONFIG = 2,	 /* the board's configuration */
	VM_SNAP_SEC_MACHINE = 3, /* mtime */
	VM_SNAP_SEC_HART = 4,	 /* instance = hart id */
	VM_SNAP_SEC_CLINT = 5,
	VM_SNAP_SEC_PLIC = 6,
	VM_SNAP_SEC_UART = 7,
	VM_SNAP_SEC_RTC = 8,
	VM_SNAP_SEC_ROM = 9,	 /* the reset ROM */
	VM_SNAP_SEC_VIRTIO = 10, /* instance = virtio-mmio slot */
	VM_SNAP_SEC_DISKS = 11,	 /* which disks hold an internal snapshot */
	VM_SNAP_SEC_RAM = 12,	 /* RAM layout and page bitmap */
	VM_SNAP_SEC_RAMSUM = 13, /* optional: CRC32C of the stored pages (savevm) */
	VM_SNAP_SEC_HOT = 14,	 /* optional: pages a restore makes resident first */
	VM_SNAP_SEC_TYPES
};

/* ---- the container ------------------------------------------------------ */

struct vm_snap_section {
	uint32_t type, instance, version;
	const uint8_t *data; /* payload, inside the reader's mapping of the file */
	uint64_t len;
};

/* The RAM section, decoded. */
struct vm_snap_ram {
	uint64_t base, size;	/* guest physical range */
	uint64_t data_offset;	/* file offset of page 0 (page-aligned) */
	uint64_t stored_pages;	/* bits set in bitmap */
	const uint64_t *bitmap; /* size / 4096 bits: page stored in this file */
};

struct vm_snap_reader {
	int fd;
	char *path;
	uint64_t file_size;
	uint32_t kind; /* enum vm_snap_kind */
	unsigned nsections;
	struct vm_snap_section sec[VM_SNAP_MAX_SECTIONS];
	const uint8_t *map; /* the file from offset 0 through the sections (read-only) */
	uint64_t map_len;
	struct vm_snap_ram ram;
	bool has_ram;
};

/*
 * Open and validate a snapshot file: header, every section's CRC and
 * length, the END marker, the RAM section's extent against the file size.
 * Nothing is trusted beyond that: loaders still check what they decode.
 * The sections are mapped from the file, not copied: like RAM, the file
 * must not change while it is open (snapshot files are written under
 * another name and renamed, never rewritten in place).
 */
int vm_snap_reader_open(struct vm_snap_reader *r, const char *path, struct vs_err *err);
/* Release (safe after a failed open, and twice). */
void vm_snap_reader_close(struct vm_snap_reader *r);
/*
 * The stored RAM pages against the RAMSUM section, read through the file:
 * 0 if they match or the file has no RAMSUM (older files), -EINVAL with a
 * precise message otherwise.
 */
int vm_snap_reader_check_ram(const struct vm_snap_reader *r, struct vs_err *err);
/* The section (type, instance), or NULL. */
const struct vm_snap_section *vm_snap_find(const struct vm_snap_reader *r, uint32_t type,
					   uint32_t instance);

struct vm_snap_writer {
	int fd;
	char *path, *tmp_path;
	uint64_t off; /* next section offset */
	unsigned nsections;
	uint32_t kind;
	uint64_t file_size;
	uint64_t ram_bytes; /* bytes of RAM data written */
	/* Migration (lib/vm/snapshot/migrate.c): RAM data at exactly this
	 * offset, and pages described by the bitmap but not written (the
	 * receiver has them already).  0/false for files. */
	uint64_t fixed_data_offset;
	bool ram_elsewhere;
	bool no_rename; /* commit writes the header only (fd-backed) */
	/* Full snapshots: pages whose byte is 0 are known to be zero (never
	 * touched anonymous memory) and are not even read; NULL = read all. */
	const uint8_t *touched;
	/* Write a RAMSUM section (CRC32C of every stored page, in page order)
	 * before RAM: one more pass over the pages, so the whole state can be
	 * checked before anything is applied (savevm / --loadvm). */
	bool ram_sum;
};

/*
 * For anonymous guest RAM: one byte per page, 0 where the page was never
 * touched (neither present nor swapped, /proc/self/pagemap), so it reads
 * as zero.  NULL when unknown.  Free with free().
 */
uint8_t *vm_snap_ram_touched(const uint8_t *ram, uint64_t size);
/*
 * Open /proc/self/pagemap now and keep it for vm_snap_ram_touched(): a
 * sandboxed VMM (--sandbox) may open no file later (the control API calls
 * this when it starts confined).  Best effort; idempotent, thread-safe.
 */
void vm_snap_pagemap_keep(void);

/* Create path's temporary file and reserve the header. */
int vm_snap_writer_open(struct vm_snap_writer *w, const char *path, enum vm_snap_kind kind,
			struct vs_err *err);
int vm_snap_writer_section(struct vm_snap_writer *w, uint32_t type, uint32_t instance,
			   uint32_t version, const void *data, size_t len, struct vs_err *err);
/*
 * Write the RAM section, the END section and the RAM pages: with
 * dirty == NULL every non-zero page of ram (full snapshot), else the pages
 * whose bit is set in dirty (diff snapshot; zero pages included).  Must be
 * the last write before vm_snap_writer_commit.
 */
int vm_snap_writer_ram(struct vm_snap_writer *w, const uint8_t *ram, uint64_t base, uint64_t size,
		       const uint64_t *dirty, struct vs_err *err);
/* Write the header and rename the file into place. */
int vm_snap_writer_commit(struct vm_snap_writer *w, struct vs_err *err);
/* Drop an uncommitted file (also after commit: only frees). */
void vm_snap_writer_abort(struct vm_snap_writer *w);

/* ---- a virt board ------------------------------------------------------- */

struct vm_snapshot_options {
	const char *path;
	enum vm_snap_kind kind; /* VM_SNAP_DIFF needs dirty tracking (below) */
	bool no_disks;		/* do not take internal disk snapshots */
};

struct vm_snapshot_result {
	uint64_t file_bytes; /* bytes allocated for the file (holes excluded) */
	uint64_t ram_pages;  /* pages stored */
	uint64_t elapsed_ns; /* time the machine was stopped for the save */
	unsigned disks;	     /* internal disk snapshots taken */
	char tag[40];	     /* their tag */
};

/*
 * Save the board at a safe point (every hart stopped at an instruction
 * boundary, on the machine thread).  A diff snapshot's parent is the last
 * snapshot saved or restored by this board; it then becomes the parent of
 * the next one.
 */
int virt_snapshot_save(struct virt_board *b, const struct vm_snapshot_options *opts,
		       struct vm_snapshot_result *res, struct vs_err *err);

/*
 * A board configuration read from a snapshot, to build the board that
 * virt_snapshot_restore() then loads (strings live in this struct).
 */
struct virt_snapshot_config {
	char disk_paths[VIRT_MAX_DISKS][1024];
	char disk_formats[VIRT_MAX_DISKS][8];
	char tap[VIRT_MAX_NETS][64];
	uint64_t ram_size;
	unsigned ncpus, ndisks, nnets;
	bool readonly[VIRT_MAX_DISKS], console_hvc, rng, balloon, keyboard;
	uint8_t mac[VIRT_MAX_NETS][6];
};
int virt_snapshot_read_config(const char *path, struct virt_snapshot_config *out,
			      struct vs_err *err);

/*
 * A snapshot file and its parents, opened and checked once (the container:
 * header, sections, CRC32C, RAM extent; the chain of diff parents) for the
 * configuration that builds the board and then the restore, without a
 * second pass over the files.  virt_snapshot_load() does what
 * virt_snapshot_restore() does with it; the snapshot may be closed after
 * the load (the RAM mapping holds its own reference to the file).
 */
struct virt_snapshot;
struct virt_snapshot *virt_snapshot_open(const char *path, struct vs_err *err);
int virt_snapshot_config(const struct virt_snapshot *snap, struct virt_snapshot_config *out,
			 struct vs_err *err);
int virt_snapshot_load(struct virt_board *b, const struct virt_snapshot *snap, struct vs_err *err);
void virt_snapshot_close(struct virt_snapshot *snap);
/* Fill the device part of cfg (RAM, harts, disks, NIC, console, rng). */
void virt_snapshot_apply_config(const struct virt_snapshot_config *sc, struct virt_config *cfg);

/*
 * Load a snapshot (and its parents) into a board built with the snapshot's
 * configuration: validates everything first, then rolls the disks back to
 * their internal snapshots, maps RAM and loads every device.  On failure
 * the board is unchanged unless the failure came after validation (disk
 * rollback or mapping RAM failed): then -EIO and the board must not run.
 */
int virt_snapshot_restore(struct virt_board *b, const char *path, struct vs_err *err);

/*
 * savevm: the whole VM state stored inside the first writable qcow2 disk
 * as the VM state of internal snapshot `tag` (QEMU's savevm layout); every
 * other writable qcow2 disk gets an internal snapshot `tag` too.  One
 * .qcow2 file is then a complete, portable VM.  At a safe point.
 */
int virt_savevm(struct virt_board *b, const char *tag, struct vm_snapshot_result *res,
		struct vs_err *err);
/*
 * Delete internal snapshot `tag` (a savevm's, with its VM state) from every
 * writable qcow2 disk of the running board, which holds them open.  At a
 * safe point (the disks are drained).  *ndeleted: how many disks had it;
 * -ENOENT when none had.
 */
int virt_snapshot_delete_tag(struct virt_board *b, const char *tag, unsigned *ndeleted,
			     struct vs_err *err);
/*
 * loadvm, before the board exists: roll the first writable qcow2 disk of
 * disks back to snapshot `tag` and extract its VM state into a memfd
 * (*fd_out); restore it with virt_snapshot_read_config/restore on
 * /proc/self/fd/N, with these disks replacing the snapshot's.
 */
int virt_loadvm_extract(const struct virt_disk_config *disks, unsigned ndisks, const char *tag,
			int *fd_out, struct vs_err *err);

/*
 * Live migration (lib/vm/snapshot/migrate.c): write the whole state but
 * RAM data into fd as the head of a snapshot file whose RAM lies at
 * data_offset (the receiver already holds the pages set in `pages`);
 * *state_len bytes from offset 0 are the head.  At a safe point.
 */
int virt_snapshot_write_state(struct virt_board *b, int fd, uint64_t data_offset,
			      const uint64_t *pages, uint64_t *state_len, struct vs_err *err);

/* Guest RAM is still the anonymous mapping (never restored from a file). */
bool virt_snapshot_ram_anonymous(struct virt_board *b);

/*
 * Dirty page tracking for diff snapshots (every write path: interpreter,
 * JIT, device DMA).  Started by the first full snapshot or restore when
 * enabled; pages are cleared by each save.
 */
int virt_snapshot_track_dirty(struct virt_board *b, bool on, struct vs_err *err);

#endif

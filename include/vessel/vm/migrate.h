/*
 * migrate.h - live migration of a `virt` VM between two vessel-vmm
 * processes (lib/vm/snapshot/migrate.c, docs/migration.md).
 *
 * The source (PUT /migrate) pre-copies guest RAM while the guest runs,
 * re-sending the pages it dirtied (dirty tracking, lib/vm/cpu/dirty.c) in
 * rounds until few are left, throttling the harts when they dirty memory
 * faster than the link carries it; then it pauses the guest, sends the last
 * dirty pages and the device state, and exits once the destination
 * confirmed it runs.  The destination (--incoming) assembles the stream
 * into a snapshot file in a memfd and restores it with the same validation
 * as --restore.  Disks are shared (same paths on both sides), or copied
 * along with their writes tracked (vm_migration_start_disks).  Any failure
 * on the source side resumes the guest as it was.
 */
#ifndef VESSEL_VM_MIGRATE_H
#define VESSEL_VM_MIGRATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vessel/core/err.h"
#include "vessel/vm/virt.h"

enum vm_migration_state {
	VM_MIGRATION_NONE = 0,
	VM_MIGRATION_ACTIVE,
	VM_MIGRATION_COMPLETED,
	VM_MIGRATION_FAILED,
};

struct vm_migration_status {
	enum vm_migration_state state;
	unsigned rounds;
	uint64_t pages_sent, bytes_sent;
	uint64_t disk_bytes_sent; /* disk copy: disk data sent */
	uint64_t dirty_pages;	  /* left after the last round */
	unsigned throttle_pct;	  /* share of time the harts are held back */
	double total_ms, downtime_ms;
	char error[VS_ERR_MSG_MAX];
};

struct vm_migration;

/*
 * Start migrating the board to uri ("unix:PATH" or "tcp:HOST:PORT") on a
 * thread of its own.  Returns NULL with err on a bad URI or when one is
 * running.  After a successful migration the machine is asked to exit
 * (VM_EXIT_POWEROFF: vessel-vmm exits with status 0).
 */
struct vm_migration *vm_migration_start(struct virt_board *b, const char *uri, struct vs_err *err);
/*
 * The same; with copy_disks the disks' contents go along (no shared
 * storage): the destination must be given one --disk PATH per disk, files
 * that do not exist yet, which it creates with the source's sizes.
 */
struct vm_migration *vm_migration_start_disks(struct virt_board *b, const char *uri,
					      bool copy_disks, struct vs_err *err);
/*
 * The same; with a broker, a tcp: URI is connected by the connect broker
 * (broker.h: a sandboxed VMM cannot open AF_INET sockets itself), which
 * must outlive the migration.  unix: URIs connect directly.
 */
struct vm_broker;
struct vm_migration *vm_migration_start_via(struct virt_board *b, const char *uri, bool copy_disks,
					    struct vm_broker *broker, struct vs_err *err);
/* Progress or result (thread-safe). */
void vm_migration_status(struct vm_migration *mig, struct vm_migration_status *out);
/* Wait for the thread and free (the API's teardown). */
void vm_migration_free(struct vm_migration *mig);

/*
 * Destination: wait on uri for one source, receive the VM, build the board
 * (host-side options from host_cfg: serial, timeout, ...) and load the
 * state.  On success *out is the board, ready to run (its configuration
 * points into *sc, which must outlive it), and the source has been told to
 * exit.  *snap_out is then the received state, still open: the caller
 * closes it (virt_snapshot_close) once the guest has run, so that unmapping
 * it (~0.6 ms for 256 MiB) is not part of the downtime.
 */
struct virt_snapshot_config;
struct virt_snapshot;
int vm_migration_incoming(const char *uri, const struct virt_config *host_cfg,
			  struct virt_snapshot_config *sc, struct virt_board **out,
			  struct virt_snapshot **snap_out, struct vs_err *err);

#endif

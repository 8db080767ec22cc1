/*
 * backend.h - host backends of the VM's devices, behind small vtables
 * (TinyEMU's BlockDevice/EthernetDevice/CharacterDevice split): device
 * models (virtio-blk, virtio-net, virtio-console, the UART) know only these
 * interfaces; disk formats, TAP and terminals know nothing about virtio.
 *
 * Every backend is used from one thread at a time: the machine thread, or for
 * a disk its I/O thread (vm_block_queue).  Input arrives through
 * a file descriptor the run loop polls (struct vm_host_poll), so models ask
 * for input only when they have room for it.
 */
#ifndef VESSEL_VM_BACKEND_H
#define VESSEL_VM_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "vessel/core/err.h"

/* How a model asks the run loop to call it back when an fd is readable. */
struct vm_host_poll {
	int (*watch)(void *opaque, int fd, void (*cb)(void *cb_opaque), void *cb_opaque);
	void (*unwatch)(void *opaque, int fd);
	void *opaque;
};

/* ---- block ------------------------------------------------------------ */

struct vm_block_backend;

struct vm_block_backend_ops {
	int (*preadv)(struct vm_block_backend *be, const struct iovec *iov, int iovcnt,
		      uint64_t offset, struct vs_err *err);
	int (*pwritev)(struct vm_block_backend *be, const struct iovec *iov, int iovcnt,
		       uint64_t offset, struct vs_err *err);
	int (*flush)(struct vm_block_backend *be, struct vs_err *err);
	int (*discard)(struct vm_block_backend *be, uint64_t offset, uint64_t len,
		       struct vs_err *err);
	int (*write_zeroes)(struct vm_block_backend *be, uint64_t offset, uint64_t len,
			    struct vs_err *err);
	void (*close)(struct vm_block_backend *be);
	/*
	 * Internal snapshots of the image under a tag (qcow2); NULL when the
	 * format has none (raw).  Create replaces an older snapshot of the same
	 * tag; apply rolls the disk back to it.
	 */
	int (*snapshot_create)(struct vm_block_backend *be, const char *tag, struct vs_err *err);
	int (*snapshot_apply)(struct vm_block_backend *be, const char *tag, struct vs_err *err);
	/* savevm (qcow2): snapshot `tag` holding [0, len) of fd as its VM state. */
	int (*vmstate_save)(struct vm_block_backend *be, const char *tag, int fd, uint64_t len,
			    uint64_t vm_clock_nsec, struct vs_err *err);
	/* Delete snapshot `tag` (and its VM state): -ENOENT when there is none. */
	int (*snapshot_delete)(struct vm_block_backend *be, const char *tag, struct vs_err *err);
};

struct vm_block_backend {
	const struct vm_block_backend_ops *ops;
	uint64_t size; /* bytes */
	bool readonly;
	/*
	 * Dirty tracking (live migration with disk copy): while non-NULL, every
	 * write, discard and write-zeroes sets the bits of the
	 * VM_BLOCK_DIRTY_CHUNK chunks it touches.  Set and cleared at a safe
	 * point with the disk drained; bits are set atomically from the I/O
	 * thread and taken by the migration thread.
	 */
	uint64_t *dirty;
};

#define VM_BLOCK_DIRTY_SHIFT 16 /* 64 KiB chunks */
#define VM_BLOCK_DIRTY_CHUNK (1ull << VM_BLOCK_DIRTY_SHIFT)

static inline void vm_block_backend_mark_dirty(struct vm_block_backend *be, uint64_t offset,
					       uint64_t len)
{
	uint64_t *d = __atomic_load_n(&be->dirty, __ATOMIC_ACQUIRE);
	if (!d || !len || offset >= be->size)
		return;
	if (len > be->size - offset)
		len = be->size - offset;
	for (uint64_t c = offset >> VM_BLOCK_DIRTY_SHIFT;
	     c <= (offset + len - 1) >> VM_BLOCK_DIRTY_SHIFT; c++)
		__atomic_fetch_or(&d[c / 64], 1ull << (c % 64), __ATOMIC_RELAXED);
}

/*
 * A disk image (lib/disk: qcow2 or raw) as a block backend.  format is
 * "qcow2", "raw" or NULL to probe.
 */
struct vm_block_backend *vm_block_backend_open_image(const char *path, const char *format,
						     bool readonly, struct vs_err *err);
static inline void vm_block_backend_close(struct vm_block_backend *be)
{
	if (be)
		be->ops->close(be);
}

/*
 * An I/O thread per disk (lib/vm/backend/block_queue.c): requests submitted
 * from the machine thread run on the queue's own thread, in submission order,
 * split into bounded pieces (sized so that one piece takes a few
 * milliseconds, whatever the image layout); completions come back through an
 * eventfd the run loop watches.  The machine thread never waits for the
 * disk, so timers, signals and exit requests are served while a guest
 * request of any size runs.  Cancellation (per request, or of everything on
 * close) takes effect between pieces: a cancelled request stops at a piece
 * boundary, where the image is consistent.
 */
enum vm_block_op {
	VM_BLOCK_READ,
	VM_BLOCK_WRITE,
	VM_BLOCK_FLUSH,
	VM_BLOCK_DISCARD,
	VM_BLOCK_WRITE_ZEROES,
};

#define VM_BLOCK_MAX_RANGES 16	 /* discard / write-zeroes ranges per request */
#define VM_BLOCK_MAX_IOV    1024 /* iovecs per read or write */

struct vm_block_req {
	/* Set by the submitter (not touched again until completion): */
	enum vm_block_op op;
	const struct iovec *iov; /* READ, WRITE: iovcnt buffers for [offset, +len) */
	int iovcnt;
	uint64_t offset, len;
	struct {
		uint64_t offset, len;
	} range[VM_BLOCK_MAX_RANGES]; /* DISCARD, WRITE_ZEROES */
	unsigned nranges;
	/* Set by the queue: 0, -ECANCELED or -errno with err filled. */
	int result;
	struct vs_err err;
	volatile int cancel;	   /* vm_block_queue_cancel() */
	struct vm_block_req *next; /* the queue's lists */
};

struct vm_block_queue;

/* Start the I/O thread of be (the queue owns be from here on, also on failure). */
struct vm_block_queue *vm_block_queue_new(struct vm_block_backend *be, struct vs_err *err);
/* Readable (an eventfd) while completed requests wait for vm_block_queue_reap. */
int vm_block_queue_fd(const struct vm_block_queue *q);
/* Queue a request (machine thread); req must stay valid until it is reaped. */
void vm_block_queue_submit(struct vm_block_queue *q, struct vm_block_req *req);
/* Completed requests in completion order (a list through ->next), or NULL. */
struct vm_block_req *vm_block_queue_reap(struct vm_block_queue *q);
/* Ask a submitted request to stop at its next piece boundary (-ECANCELED). */
void vm_block_queue_cancel(struct vm_block_req *req);
/* Start stopping (non-blocking): cancel everything, let the thread close
 * the backend.  Lets several disks stop in parallel before their closes. */
void vm_block_queue_stop(struct vm_block_queue *q);
/*
 * Stop, then wait until deadline_ns (CLOCK_MONOTONIC, as vs_now_ns) for the
 * thread to finish its piece and close the backend (which flushes), and
 * free the queue.  Requests not yet reaped are handed to drop() (may be
 * NULL).  Returns 0, or -ETIMEDOUT when the thread was still busy at the
 * deadline: it is then abandoned and frees the queue itself when done (its
 * last request goes to drop()); if the process exits first, the image is
 * left as a crash would leave it.
 */
int vm_block_queue_close(struct vm_block_queue *q, uint64_t deadline_ns,
			 void (*drop)(struct vm_block_req *req));
/* Was any I/O thread abandoned by a close?  Its request may still read or
 * write the memory its iovecs point to (guest RAM): keep that mapped. */
bool vm_block_queue_any_abandoned(void);

/* ---- network ---------------------------------------------------------- */

struct vm_net_backend;

struct vm_net_backend_ops {
	/* Send one frame; 0 or -errno (a full queue drops the frame: -EAGAIN). */
	int (*send)(struct vm_net_backend *be, const struct iovec *iov, int iovcnt);
	/* Receive one frame into buf: its length, -EAGAIN when none, -errno. */
	ssize_t (*recv)(struct vm_net_backend *be, void *buf, size_t len);
	void (*close)(struct vm_net_backend *be);
};

struct vm_net_backend {
	const struct vm_net_backend_ops *ops;
	int fd; /* readable when a frame is waiting */
};

/* A TAP interface (/dev/net/tun, IFF_TAP | IFF_NO_PI), non-blocking. */
struct vm_net_backend *vm_net_backend_open_tap(const char *ifname, struct vs_err *err);
static inline void vm_net_backend_close(struct vm_net_backend *be)
{
	if (be)
		be->ops->close(be);
}

/* ---- character devices (serial port, console) ------------------------- */

struct vm_chardev;

struct vm_chardev_ops {
	/* Write guest output; never blocks for long, may drop when nobody listens. */
	void (*write)(struct vm_chardev *cd, const void *buf, size_t len);
	/* Read available input: bytes read, 0 when none (never blocks). */
	size_t (*read)(struct vm_chardev *cd, void *buf, size_t len);
	/* Start or stop watching for input (the frontend has room or is full). */
	void (*set_input)(struct vm_chardev *cd, bool enabled);
	void (*close)(struct vm_chardev *cd);
};

struct vm_chardev {
	const struct vm_chardev_ops *ops;
	/* Filled by vm_chardev_attach(): */
	struct vm_host_poll poll;
	void (*on_input)(void *opaque); /* input may be waiting: call read */
	void *input_opaque;
	/* Called when the user typed the quit escape (Ctrl-A x). */
	void (*on_quit)(void *opaque);
	void *quit_opaque;
	/* Optional, called by the device before it writes output: another
	 * device's output to the same host fd still on its way (the UART's
	 * pipe) goes out first, so the host sees both in the guest's order. */
	void (*before_write)(void *opaque);
	void *before_write_opaque;
};

/*
 * The process's stdin/stdout.  When stdin is a terminal it is put in raw
 * mode (restored by close, and at exit) and Ctrl-A x quits, Ctrl-A Ctrl-A
 * sends Ctrl-A, as QEMU's -serial mon:stdio.
 */
struct vm_chardev *vm_chardev_open_stdio(struct vs_err *err);
/*
 * A listening unix socket at path (created; removed on close); one client at
 * a time; output is dropped while no client is connected.
 */
struct vm_chardev *vm_chardev_open_unix(const char *path, struct vs_err *err);
/* Append everything the guest writes to a unix chardev to the file at path
 * as well (opened now, so it works under --sandbox). */
int vm_chardev_unix_set_log(struct vm_chardev *cd, const char *path, struct vs_err *err);
/* Connect a frontend; input watching starts enabled. */
void vm_chardev_attach(struct vm_chardev *cd, const struct vm_host_poll *poll,
		       void (*on_input)(void *opaque), void *opaque);
static inline void vm_chardev_close(struct vm_chardev *cd)
{
	if (cd)
		cd->ops->close(cd);
}

#endif

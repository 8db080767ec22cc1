/*
 * migrate.c - live migration (include/vessel/vm/migrate.h,
 * docs/migration.md).
 *
 * Stream (little-endian): the source sends a hello { "VSLMIG3\n", u64 RAM
 * size, u64 data offset }, then messages { u32 type, u32 count, u64 first }:
 *   PAGES  count pages from page `first`, 4096 * count bytes follow;
 *   ZERO   count pages from page `first` are zero (no data follows);
 *   STATE  `first` bytes follow: the head of a snapshot file (header,
 *          sections, RAM section, END) whose RAM lies at the data offset;
 *   SYNC   the destination answers 'S' once it has read everything before
 *          (the source waits for it before it pauses the guest);
 *   DONE   end of stream;
 * and with disk copy ("disks":"copy"):
 *   DISKS  count disks, count u64 virtual sizes follow (right after hello);
 *   DISK   disk `count`, bytes from offset `first`: u64 length, the bytes.
 * Switch-over handshake (one byte each): after DONE the destination
 * restores the state and answers 'K' (ready, not running) or 'E' and a
 * message; the source answers 'K' with 'G' (go) and from then on never
 * resumes; the destination runs only after it received 'G' and confirms with
 * 'R' (running).  So a message lost at any point can leave the VM paused on
 * the source, never running on both sides (docs/migration.md, failure
 * matrix).  VESSEL_TEST_MIGRATE_DROP=ready|running on the destination loses
 * its 'K' or its 'R', VESSEL_TEST_MIGRATE_SLOW=MS makes it sleep MS after
 * each PAGES message (a slow destination; tests only) and
 * VESSEL_TEST_MIGRATE_RATE=MBPS makes it read pages no faster than MBPS
 * MB/s (a slow link, for a guest that dirties memory faster).
 *
 * The destination writes pages straight into a memfd laid out as
 * a snapshot file (RAM at the data offset) and the state at offset 0, then
 * restores that file as --restore does (same validation; RAM is mapped from
 * the memfd, nothing is copied).
 *
 * Source algorithm, on its own thread (the guest keeps running):
 *   1. at a safe point: dirty tracking on, bitmap cleared;
 *   2. round 0 sends every non-zero page (reading RAM while the guest
 *      writes it is fine: a page written after the clear is dirty and is
 *      sent again);
 *   3. each round takes and clears the dirty bitmap at a safe point,
 *      sends those pages (zero ones as ZERO) and ends with a SYNC: the
 *      destination has read them all, so the round's time is the link's
 *      cost per page (ms per dirty page, zero and data pages as they come).
 *      When the pages left would take less than MIG_FINAL_MS at that cost
 *      (or after MIG_MAX_ROUNDS) the guest is paused at a safe point.
 *      Otherwise auto-converge sets the throttle from the round's dirty
 *      rate (pages per ms the guest ran) and the cost, so that the next
 *      set is at most half this one, and halves the guest's share of time
 *      after a round that did not shrink it by a quarter; a thread of its
 *      own holds the harts at safe points for that share of the time
 *      while this one sends;
 *   4. paused: last dirty pages, disks flushed, state, DONE; wait for 'K',
 *      send 'G', wait for 'R'.
 * With disk copy, the disks' chunks (64 KiB) go along: step 1 also turns
 * on the block backends' write tracking (backend.h), step 2 sends every
 * non-zero chunk, every round (and the paused step 4, before the state)
 * sends the chunks written since.  Disk data is read at safe points with
 * the disks drained (a backend is used by one thread at a time), at most
 * MIG_DISK_BATCH per stop.  The destination creates its disks (the paths
 * of its own --disk options, which must not exist) and writes the chunks
 * into them; a failed stream removes them again.
 * A sandboxed VMM (no network) gets its tcp: connection from the connect
 * broker (broker.h) instead of connecting itself; the stream is the same.
 * Success: the source exits (status 0).  Any failure before 'G' - connect,
 * send, destination error or death, timeout - resumes the guest (if paused)
 * and reports the error in GET /migrate; the guest never notices.  A
 * failure after 'G' leaves the guest paused (the destination may run).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vessel/core/cleanup.h"
#include "vessel/core/log.h"
#include "vessel/core/util.h"
#include "vessel/disk/manage.h"
#include "vessel/vm/backend.h"
#include "vessel/vm/broker.h"
#include "vessel/vm/cpu.h"
#include "vessel/vm/migrate.h"
#include "vessel/vm/snapshot.h"
#include "vessel/vm/virtio.h"

#define MIG_MAGIC	   "VSLMIG3\n" /* 2: the K/G/R switch-over handshake, 3: SYNC */
#define MIG_PAGES	   1
#define MIG_STATE	   2
#define MIG_DONE	   3
#define MIG_DISKS	   4
#define MIG_DISK	   5
#define MIG_ZERO	   6	      /* count pages from `first` are zero, no data */
#define MIG_SYNC	   7	      /* the destination answers 'S' (no data) */
#define MIG_DISK_BATCH	   (4u << 20) /* disk bytes read per safe point */
#define MIG_BATCH	   256	      /* pages per PAGES message */
#define MIG_COPY	   32	      /* pages copied out of RAM per send */
#define MIG_MAX_ROUNDS	   30
#define MIG_FINAL_MS	   4	   /* stop iterating when the rest takes this long */
#define MIG_HOLD_PERIOD_US 10000   /* the throttle holds pct % of each */
#define MIG_HOLD_MAX_US	   1000000 /* the longest the throttle stops the guest */
#define MIG_THROTTLE_MAX   99
#define MIG_SAMPLE_US	   2000		/* the dirty rate's sample */
#define MIG_COST_MIN	   64		/* pages: a round that measures the link */
#define MIG_DATA_OFFSET	   (4ULL << 20) /* room for the state head */
#define MIG_ACK_TIMEOUT_MS 60000
#define PAGE		   VM_SNAP_PAGE_SIZE

struct vm_migration {
	struct virt_board *b;
	struct vm_machine *m;
	char uri[512];
	struct vm_broker *broker; /* tcp: connects through it (sandboxed VMM) */
	pthread_t thread;
	bool joined;
	pthread_mutex_t lock;
	struct vm_migration_status st;
	int fd;
	uint64_t npages;
	uint64_t *sent;	  /* pages the destination holds */
	uint64_t *dirty;  /* copy of the CPU's bitmap for one round */
	uint64_t *sample; /* the round's set while a sample is taken */
	uint8_t *touched; /* round 0: pages ever touched (NULL: all) */
	uint8_t *pbuf;	  /* MIG_COPY pages read from RAM (ram_copy) */
	/* throttle: a thread of its own holds the harts at safe points for
	 * throttle_pct % of the time, while this one sends */
	unsigned throttle_pct; /* atomic */
	pthread_t throttle_thread;
	bool throttle_started, throttle_stop; /* throttle_stop: atomic */
	/* disk copy */
	bool copy_disks, tracking;
	unsigned ndisks;
	struct mig_disk {
		struct vm_block_backend *be;
		uint64_t nchunks;
		uint64_t *live;	   /* the backend's bitmap (set by its writes) */
		uint64_t *pending; /* taken, not sent yet */
	} disks[VIRT_MAX_DISKS];
	uint8_t *dbuf; /* MIG_DISK_BATCH */
	struct disk_read {
		struct mig_disk *d;
		uint64_t offset, len;
		int r;
	} rd;
	bool committed; /* 'G' sent: the destination may run, never resume here */
	/* downtime phases (ms): pausing, last pages, state + DONE, until 'K',
	 * until 'R'; pages sent while paused */
	double ph_pause, ph_pages, ph_state, ph_ready, ph_run;
	uint64_t final_pages;
	int queued_at_pause; /* bytes the destination had not read (SIOCOUTQ) */
	uint64_t held_ns;    /* time the harts were held by the throttle (atomic) */
};

/* ---- connections ---------------------------------------------------------- */

static int uri_connect(const char *uri, bool listen_side, struct vs_err *err)
{
	if (strncmp(uri, "unix:", 5) == 0) {
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		if (!uri[5] || strlen(uri + 5) >= sizeof(a.sun_path))
			return vs_errf(err, EINVAL, "migration URI %s: bad socket path", uri);
		strcpy(a.sun_path, uri + 5);
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return vs_syserrf(err, errno, "migration: socket");
		if (!listen_side) {
			if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
				int e = errno;
				close(fd);
				return vs_syserrf(err, e, "migration: connect to %s", uri);
			}
			return fd;
		}
		/* bound under a temporary name and renamed once it listens: a
		 * peer that sees PATH can connect (no ECONNREFUSED between bind
		 * and listen) */
		unlink(a.sun_path);
		int n =
		    snprintf(a.sun_path, sizeof(a.sun_path), "%s.%d.tmp", uri + 5, (int)getpid());
		if (n < 0 || (size_t)n >= sizeof(a.sun_path))
			strcpy(a.sun_path, uri + 5);
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 1) < 0 ||
		    (strcmp(a.sun_path, uri + 5) != 0 && rename(a.sun_path, uri + 5) < 0)) {
			int e = errno;
			close(fd);
			if (strcmp(a.sun_path, uri + 5) != 0)
				unlink(a.sun_path);
			return vs_syserrf(err, e, "migration: listen on %s", uri);
		}
		return fd;
	}
	if (strncmp(uri, "tcp:", 4) == 0) {
		char host[256];
		const char *port;
		if (vs_split_hostport(uri + 4, host, sizeof(host), &port) < 0)
			return vs_errf(err, EINVAL,
				       "migration URI %s: expected tcp:HOST:PORT or tcp:[V6]:PORT",
				       uri);
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
					  .ai_flags = listen_side ? AI_PASSIVE : 0 };
		struct addrinfo *ai = NULL;
		int g = getaddrinfo(host, port, &hints, &ai);
		if (g != 0)
			return vs_errf(err, EINVAL, "migration URI %s: %s", uri, gai_strerror(g));
		int fd = -1, e = 0;
		for (struct addrinfo *p = ai; p; p = p->ai_next) {
			fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC, p->ai_protocol);
			if (fd < 0) {
				e = errno;
				continue;
			}
			int one = 1;
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			int ok = listen_side ? (bind(fd, p->ai_addr, p->ai_addrlen) == 0 &&
						listen(fd, 1) == 0)
					     : connect(fd, p->ai_addr, p->ai_addrlen) == 0;
			if (ok)
				break;
			e = errno;
			close(fd);
			fd = -1;
		}
		freeaddrinfo(ai);
		if (fd < 0)
			return vs_syserrf(err, e ? e : EINVAL, "migration: %s %s",
					  listen_side ? "listen on" : "connect to", uri);
		return fd;
	}
	return vs_errf(err, EINVAL, "migration URI %s: expected unix:PATH or tcp:HOST:PORT", uri);
}

static int send_all(int fd, const void *buf, size_t len, struct vs_err *err)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return vs_syserrf(err, n < 0 ? errno : EPIPE, "migration: send");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int recv_all(int fd, void *buf, size_t len, struct vs_err *err)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t n = recv(fd, p, len, MSG_WAITALL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return vs_syserrf(err, errno, "migration: receive");
		if (n == 0)
			return vs_errf(err, EPIPE, "migration: the peer closed the connection");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

struct mig_msg {
	uint32_t type, count;
	uint64_t first;
};

/* ---- source ----------------------------------------------------------------- */

static void mig_set(struct vm_migration *mig, void (*fn)(struct vm_migration_status *, void *),
		    void *arg)
{
	pthread_mutex_lock(&mig->lock);
	fn(&mig->st, arg);
	pthread_mutex_unlock(&mig->lock);
}

static void add_sent(struct vm_migration_status *st, void *arg)
{
	uint64_t n = *(uint64_t *)arg;
	st->pages_sent += n;
	st->bytes_sent += n * PAGE + sizeof(struct mig_msg);
}

/*
 * Guest RAM read while the guest runs: harts (on their own threads with
 * --hart-threads) and device DMA write it meanwhile.  That race is the
 * algorithm's (a page written after the dirty bitmap was cleared is sent
 * again), so these reads are word by word through volatile loads (whole
 * words, never torn by the compiler) and left out of ThreadSanitizer's
 * instrumentation.
 */
__attribute__((no_sanitize("thread"))) static bool page_zero(const uint8_t *p)
{
	const volatile uint64_t *q = (const volatile uint64_t *)p;
	for (unsigned i = 0; i < PAGE / 8; i++)
		if (q[i])
			return false;
	return true;
}

__attribute__((no_sanitize("thread"))) static void ram_copy(uint8_t *dst, const uint8_t *src,
							    size_t len)
{
	const volatile uint64_t *q = (const volatile uint64_t *)src;
	uint64_t *d = (uint64_t *)dst;
	for (size_t i = 0; i < len / 8; i++)
		d[i] = q[i];
}

/* Send pages [p, q) of RAM, copied out of it MIG_COPY pages at a time. */
static int send_ram(struct vm_migration *mig, const uint8_t *ram, uint64_t p, uint64_t q,
		    struct vs_err *err)
{
	if (!mig->pbuf && !(mig->pbuf = malloc(MIG_COPY * PAGE)))
		return vs_errf(err, ENOMEM, "migration: out of memory");
	while (p < q) {
		uint64_t n = q - p < MIG_COPY ? q - p : MIG_COPY;
		ram_copy(mig->pbuf, ram + p * PAGE, n * PAGE);
		int r = send_all(mig->fd, mig->pbuf, n * PAGE, err);
		if (r < 0)
			return r;
		p += n;
	}
	return 0;
}

struct throttle_hold {
	const bool *stop; /* throttle_end: the hold ends within 1 ms */
	unsigned pct;
	uint64_t run_from; /* the harts run since (the last hold's end) */
	uint64_t held_ns;  /* out: how long they were held */
};

/*
 * At a safe point: keep every hart stopped (throttling) for pct / (100 -
 * pct) times as long as they ran since the last hold, so that they run
 * (100 - pct) % of the time whatever the sleeps and the safe point took
 * (with a fixed hold of 99 % of 10 ms they ran 3 %, not 1), at most
 * MIG_HOLD_MAX_US at a time, as QEMU's throttle sleeps up to 990 ms per
 * 10 ms slice at 99 %.  The bound must leave room for the time the harts
 * take to reach the safe point, which counts as run time: with 50 ms and
 * two migrating VMs on two host CPUs they reached it ~4 ms after each
 * hold, ran 8 % at "99 %", and a guest rewriting 8 MiB over a 20 MB/s
 * link never converged (vm-migrate-converge beside vm-migrate-drain).
 * throttle_end cuts a hold short within 1 ms.
 */
static int throttle_hold(struct vm_machine *m, void *opaque)
{
	struct throttle_hold *h = opaque;
	uint64_t t0 = vs_now_ns();
	uint64_t ran_us = (t0 - h->run_from) / 1000;
	uint64_t us = ran_us * h->pct / (100 - h->pct);
	if (us < MIG_HOLD_PERIOD_US / 100 * h->pct)
		us = MIG_HOLD_PERIOD_US / 100 * h->pct;
	if (us > MIG_HOLD_MAX_US)
		us = MIG_HOLD_MAX_US;
	for (uint64_t t = 0; t < us && !__atomic_load_n(h->stop, __ATOMIC_ACQUIRE); t += 1000)
		usleep((useconds_t)(us - t < 1000 ? us - t : 1000));
	h->run_from = vs_now_ns();
	h->held_ns = h->run_from - t0;
	return 0;
}

static void add_zero(struct vm_migration_status *st, void *arg)
{
	st->bytes_sent += sizeof(struct mig_msg);
}

/* Send the pages set in bits (all non-zero pages when bits is NULL: the
 * destination starts from zeros).  A run of zero pages among bits goes as
 * one ZERO message without data. */
static int send_pages(struct vm_migration *mig, const uint64_t *bits, struct vs_err *err)
{
	const uint8_t *ram = vm_machine_ram(mig->m);
	for (uint64_t p = 0; p < mig->npages;) {
		bool want = bits ? (bits[p / 64] >> (p % 64)) & 1
				 : (!mig->touched || mig->touched[p]) && !page_zero(ram + p * PAGE);
		if (!want) {
			p++;
			continue;
		}
		bool zero = bits && page_zero(ram + p * PAGE);
		uint64_t q = p + 1;
		while (q < mig->npages && q - p < MIG_BATCH &&
		       (bits ? (bits[q / 64] >> (q % 64)) & 1 && page_zero(ram + q * PAGE) == zero
			     : (!mig->touched || mig->touched[q]) && !page_zero(ram + q * PAGE)))
			q++;
		if (zero) {
			struct mig_msg h = { MIG_ZERO, (uint32_t)(q - p), p };
			int r = send_all(mig->fd, &h, sizeof(h), err);
			if (r < 0)
				return r;
			for (uint64_t i = p; i < q; i++)
				mig->sent[i / 64] |= 1ULL << (i % 64);
			mig_set(mig, add_zero, NULL);
			p = q;
			continue;
		}
		struct mig_msg h = { MIG_PAGES, (uint32_t)(q - p), p };
		int r = send_all(mig->fd, &h, sizeof(h), err);
		if (r == 0)
			r = send_ram(mig, ram, p, q, err);
		if (r < 0)
			return r;
		for (uint64_t i = p; i < q; i++)
			mig->sent[i / 64] |= 1ULL << (i % 64);
		uint64_t n = q - p;
		mig_set(mig, add_sent, &n);
		p = q;
	}
	return 0;
}

/*
 * The throttle's thread: it holds the harts at a safe point
 * (throttle_hold), lets them run (100 - throttle_pct) % of
 * MIG_HOLD_PERIOD_US, and again, whatever the migration thread does
 * meanwhile (it goes on sending:
 * holding the harts from the sending thread, between its messages, as
 * before, stopped the link too, and held them for a share of the messages,
 * not of the time - a round of many small messages was held 97 % at 20 %).
 */
static void *throttle_main(void *opaque)
{
	struct vm_migration *mig = opaque;
	struct throttle_hold h = { .stop = &mig->throttle_stop, .run_from = vs_now_ns() };
	while (!__atomic_load_n(&mig->throttle_stop, __ATOMIC_ACQUIRE)) {
		h.pct = __atomic_load_n(&mig->throttle_pct, __ATOMIC_RELAXED);
		unsigned hold_us = MIG_HOLD_PERIOD_US / 100 * h.pct;
		if (h.pct) {
			vm_machine_run_at_safepoint(mig->m, throttle_hold, &h);
			__atomic_fetch_add(&mig->held_ns, h.held_ns, __ATOMIC_RELAXED);
		} else {
			h.run_from = vs_now_ns();
		}
		/* in steps of 1 ms: throttle_end does not wait for the period */
		for (unsigned us = hold_us; us < MIG_HOLD_PERIOD_US &&
					    !__atomic_load_n(&mig->throttle_stop, __ATOMIC_ACQUIRE);
		     us += 1000)
			usleep(MIG_HOLD_PERIOD_US - us < 1000 ? MIG_HOLD_PERIOD_US - us : 1000);
	}
	return NULL;
}

static void throttle_set(struct vm_migration *mig, unsigned pct)
{
	__atomic_store_n(&mig->throttle_pct, pct, __ATOMIC_RELAXED);
	if (pct && !mig->throttle_started &&
	    pthread_create(&mig->throttle_thread, NULL, throttle_main, mig) == 0)
		mig->throttle_started = true;
}

/* Stop holding the harts (before the pause, and when the migration ends). */
static void throttle_end(struct vm_migration *mig)
{
	__atomic_store_n(&mig->throttle_pct, 0, __ATOMIC_RELAXED);
	if (!mig->throttle_started)
		return;
	__atomic_store_n(&mig->throttle_stop, true, __ATOMIC_RELEASE);
	pthread_join(mig->throttle_thread, NULL);
	mig->throttle_started = false;
}

/* At a safe point: take the CPU's dirty bitmap and restart the round. */
static int take_dirty(struct vm_machine *m, void *opaque)
{
	struct vm_migration *mig = opaque;
	struct rv_core *core = vm_machine_core(m);
	const uint64_t *d = rv_core_dirty_bitmap(core);
	if (!d)
		return -EINVAL;
	memcpy(mig->dirty, d, (mig->npages + 63) / 64 * 8);
	rv_core_dirty_clear(core);
	for (unsigned i = 0; mig->tracking && i < mig->ndisks; i++) {
		struct mig_disk *dk = &mig->disks[i];
		for (uint64_t w = 0; w < (dk->nchunks + 63) / 64; w++)
			dk->pending[w] |= __atomic_exchange_n(&dk->live[w], 0, __ATOMIC_ACQ_REL);
	}
	return 0;
}

/* ---- disk copy (source) ---- */

/* At a safe point: the writable disks, their writes tracked from now on. */
static int disks_track_on(struct vm_machine *m, void *opaque)
{
	struct vm_migration *mig = opaque;
	struct virt_board_parts p;
	virt_board_parts(mig->b, &p); /* drained */
	for (unsigned i = 0; i < p.nvirtio && mig->ndisks < VIRT_MAX_DISKS; i++) {
		struct vm_block_backend *be = virtio_blk_backend(p.virtio[i]);
		if (!be)
			continue;
		struct mig_disk *dk = &mig->disks[mig->ndisks];
		dk->be = be;
		dk->nchunks = (be->size + VM_BLOCK_DIRTY_CHUNK - 1) >> VM_BLOCK_DIRTY_SHIFT;
		dk->live = calloc((dk->nchunks + 63) / 64 + 1, 8);
		dk->pending = calloc((dk->nchunks + 63) / 64 + 1, 8);
		if (!dk->live || !dk->pending) {
			free(dk->live);
			free(dk->pending);
			return -ENOMEM;
		}
		mig->ndisks++;
	}
	for (unsigned i = 0; i < mig->ndisks; i++)
		__atomic_store_n(&mig->disks[i].be->dirty, mig->disks[i].live, __ATOMIC_RELEASE);
	mig->tracking = true;
	return 0;
}

static int disks_track_off(struct vm_machine *m, void *opaque)
{
	struct vm_migration *mig = opaque;
	struct virt_board_parts p;
	virt_board_parts(mig->b, &p); /* drained: no write looks at the bitmaps */
	for (unsigned i = 0; i < mig->ndisks; i++)
		__atomic_store_n(&mig->disks[i].be->dirty, NULL, __ATOMIC_RELEASE);
	mig->tracking = false;
	return 0;
}

static void disks_free(struct vm_migration *mig)
{
	for (unsigned i = 0; i < mig->ndisks; i++) {
		free(mig->disks[i].live);
		free(mig->disks[i].pending);
	}
	mig->ndisks = 0;
	free(mig->dbuf);
	mig->dbuf = NULL;
}

/* At a safe point, disks drained: read mig->rd into mig->dbuf. */
static int disk_read_cb(struct vm_machine *m, void *opaque)
{
	struct vm_migration *mig = opaque;
	struct virt_board_parts p;
	virt_board_parts(mig->b, &p);
	struct iovec iov = { mig->dbuf, mig->rd.len };
	struct vs_err e = VS_ERR_INIT;
	mig->rd.r = mig->rd.d->be->ops->preadv(mig->rd.d->be, &iov, 1, mig->rd.offset, &e);
	return 0;
}

static void add_disk_sent(struct vm_migration_status *st, void *arg)
{
	uint64_t n = *(uint64_t *)arg;
	st->disk_bytes_sent += n;
	st->bytes_sent += n + sizeof(struct mig_msg) + 8;
}

static bool chunk_zero(const uint8_t *p, uint64_t len)
{
	const uint64_t *q = (const uint64_t *)p;
	for (uint64_t i = 0; i < len / 8; i++)
		if (q[i])
			return false;
	return true;
}

static int send_disk_range(struct vm_migration *mig, unsigned idx, uint64_t off, uint64_t len,
			   struct vs_err *err)
{
	struct mig_msg h = { MIG_DISK, idx, off };
	uint64_t l = len;
	int r = send_all(mig->fd, &h, sizeof(h), err);
	if (r == 0)
		r = send_all(mig->fd, &l, 8, err);
	if (r == 0)
		r = send_all(mig->fd, mig->dbuf + (off - mig->rd.offset), len, err);
	if (r == 0)
		mig_set(mig, add_disk_sent, &l);
	return r;
}

/*
 * Send disk idx's chunks: those set in its pending bitmap (cleared as they
 * go), or with all, every chunk that is not zeros (round 0).
 */
static int send_disk(struct vm_migration *mig, unsigned idx, bool all, struct vs_err *err)
{
	struct mig_disk *dk = &mig->disks[idx];
	const uint64_t per = MIG_DISK_BATCH >> VM_BLOCK_DIRTY_SHIFT;
#define WANT(c) (all || ((dk->pending[(c) / 64] >> ((c) % 64)) & 1))
	for (uint64_t c = 0; c < dk->nchunks;) {
		if (!WANT(c)) {
			c++;
			continue;
		}
		uint64_t e = c + 1;
		while (e < dk->nchunks && e - c < per && WANT(e))
			e++;
		for (uint64_t k = c; !all && k < e; k++)
			dk->pending[k / 64] &= ~(1ull << (k % 64));
		uint64_t off = c << VM_BLOCK_DIRTY_SHIFT;
		uint64_t len = (e << VM_BLOCK_DIRTY_SHIFT) - off;
		if (off + len > dk->be->size)
			len = dk->be->size - off;
		mig->rd = (struct disk_read){ dk, off, len, 0 };
		int r = vm_machine_run_at_safepoint(mig->m, disk_read_cb, mig);
		if (r < 0 || mig->rd.r < 0)
			return vs_errf(err, EIO, "migration: cannot read disk %u at %" PRIu64, idx,
				       off);
		/* send runs of chunks (round 0: of non-zero chunks) */
		uint64_t run = off, pos = off;
		while (pos < off + len) {
			uint64_t n = VM_BLOCK_DIRTY_CHUNK;
			if (pos + n > off + len)
				n = off + len - pos;
			bool skip = all && chunk_zero(mig->dbuf + (pos - off), n);
			if (skip) {
				if (pos > run &&
				    (r = send_disk_range(mig, idx, run, pos - run, err)) < 0)
					return r;
				run = pos + n;
			}
			pos += n;
		}
		if (pos > run && (r = send_disk_range(mig, idx, run, pos - run, err)) < 0)
			return r;
		c = e;
	}
#undef WANT
	return 0;
}

static int send_disks(struct vm_migration *mig, bool all, struct vs_err *err)
{
	for (unsigned i = 0; i < mig->ndisks; i++) {
		int r = send_disk(mig, i, all, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int start_tracking(struct vm_machine *m, void *opaque)
{
	struct rv_core *core = vm_machine_core(m);
	struct vs_err err = VS_ERR_INIT;
	int r = rv_core_dirty_track(core, true, &err);
	if (r == 0)
		rv_core_dirty_clear(core);
	return r;
}

static int pause_and_take(struct vm_machine *m, void *opaque)
{
	struct vm_migration *mig = opaque;
	struct virt_board_parts p;
	if (!vm_machine_paused(m))
		vm_machine_pause(m);
	virt_board_parts(mig->b, &p); /* drains the disks: their DMA is in this round */
	return take_dirty(m, opaque);
}

static int resume_cb(struct vm_machine *m, void *opaque)
{
	if (vm_machine_paused(m))
		vm_machine_resume(m);
	return 0;
}

struct final_ctx {
	struct vm_migration *mig;
	int memfd;
	uint64_t state_len;
	struct vs_err err;
};

/* Paused, at a safe point: flush the disks, write the state head. */
static int write_final(struct vm_machine *m, void *opaque)
{
	struct final_ctx *f = opaque;
	struct virt_board_parts p;
	virt_board_parts(f->mig->b, &p);
	for (unsigned i = 0; i < p.nvirtio; i++) {
		struct vm_block_backend *be = virtio_blk_backend(p.virtio[i]);
		if (be && !be->readonly && be->ops->flush(be, &f->err) < 0)
			return -EIO;
	}
	return virt_snapshot_write_state(f->mig->b, f->memfd, MIG_DATA_OFFSET, f->mig->sent,
					 &f->state_len, &f->err);
}

static uint64_t popcount_bits(const uint64_t *b, uint64_t npages)
{
	uint64_t n = 0;
	for (uint64_t i = 0; i < (npages + 63) / 64; i++)
		n += (uint64_t)__builtin_popcountll(b[i]);
	return n;
}

/* One byte of the handshake from the peer: 0 if it is `want`. */
static int wait_byte(int fd, char want, const char *what, struct vs_err *err)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int r = poll(&pfd, 1, MIG_ACK_TIMEOUT_MS);
	if (r == 0)
		return vs_errf(err, ETIMEDOUT, "migration: no %s within %d s", what,
			       MIG_ACK_TIMEOUT_MS / 1000);
	char c;
	if (recv_all(fd, &c, 1, err) < 0)
		return vs_err_prefix(err, "migration: waiting for the %s", what);
	if (c == want)
		return 0;
	if (c != 'E')
		return vs_errf(err, EPROTO, "migration: %s: unexpected byte 0x%02x", what,
			       (unsigned char)c);
	char msg[200] = "";
	ssize_t n = recv(fd, msg, sizeof(msg) - 1, 0);
	msg[n > 0 ? n : 0] = 0;
	return vs_errf(err, EIO, "migration: the destination refused the VM: %s", msg);
}

struct round_info {
	unsigned rounds;
	uint64_t dirty;
	unsigned throttle;
};

static void set_round(struct vm_migration_status *st, void *arg)
{
	struct round_info *ri = arg;
	st->rounds = ri->rounds;
	st->dirty_pages = ri->dirty;
	st->throttle_pct = ri->throttle;
}

/*
 * Before the pause: wait (the guest running) until the destination has
 * read everything sent so far.  Without it the socket's buffers, megabytes
 * on both sides, could still hold most of round 0 when the guest paused
 * (an idle guest converges right after it), and the destination read them
 * during the downtime: 17-29 ms of an idle guest's 25-32 ms.
 */
static int sync_link(struct vm_migration *mig, struct vs_err *err)
{
	struct mig_msg h = { MIG_SYNC, 0, 0 };
	int r = send_all(mig->fd, &h, sizeof(h), err);
	if (r == 0)
		r = wait_byte(mig->fd, 'S', "destination's sync", err);
	return r;
}

/* Bytes sent that the destination has not read yet (AF_UNIX: exactly that;
 * TCP: not yet acknowledged by its kernel); -1 if unknown. */
static int unread_bytes(int fd)
{
	int n;
	return ioctl(fd, SIOCOUTQ, &n) == 0 ? n : -1;
}

/*
 * The guest's dirty rate, sampled: the pages it dirties in MIG_SAMPLE_US
 * (taken, and added to the round's set).  A round's own count is a floor:
 * a guest that rewrites a small buffer dirties it all, whatever its speed,
 * over a long round (8 MiB in 12 ms of a 1.6 s round looked like 5 pages a
 * ms, not 170).  *rate (pages per ms the guest ran) becomes the larger.
 */
static int sample_rate(struct vm_migration *mig, double *rate, struct vs_err *err)
{
	size_t words = (mig->npages + 63) / 64;
	if (!mig->sample && !(mig->sample = malloc(words * 8)))
		return vs_errf(err, ENOMEM, "migration: out of memory");
	memcpy(mig->sample, mig->dirty, words * 8);
	uint64_t held = __atomic_load_n(&mig->held_ns, __ATOMIC_RELAXED);
	uint64_t t0 = vs_now_ns();
	usleep(MIG_SAMPLE_US);
	int r = vm_machine_run_at_safepoint(mig->m, take_dirty, mig);
	if (r < 0)
		return vs_errf(err, -r, "migration: dirty tracking stopped");
	double run_ms =
	    (vs_now_ns() - t0 - (__atomic_load_n(&mig->held_ns, __ATOMIC_RELAXED) - held)) / 1e6;
	uint64_t n = popcount_bits(mig->dirty, mig->npages);
	for (size_t i = 0; i < words; i++)
		mig->dirty[i] |= mig->sample[i];
	if (run_ms >= MIG_SAMPLE_US / 4000.0 && n / run_ms > *rate)
		*rate = n / run_ms;
	return 0;
}

static int migrate_run(struct vm_migration *mig, double *downtime_ms, struct vs_err *err)
{
	int r;
	if (mig->broker && strncmp(mig->uri, "tcp:", 4) == 0)
		mig->fd = vm_broker_connect(mig->broker, mig->uri, err);
	else
		mig->fd = uri_connect(mig->uri, false, err);
	if (mig->fd < 0)
		return mig->fd;
	int sndbuf = 4 << 20;
	setsockopt(mig->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	uint8_t hello[24];
	memcpy(hello, MIG_MAGIC, 8);
	uint64_t ram_size = mig->npages * PAGE, off = MIG_DATA_OFFSET;
	memcpy(hello + 8, &ram_size, 8);
	memcpy(hello + 16, &off, 8);
	if ((r = send_all(mig->fd, hello, sizeof(hello), err)) < 0)
		return r;
	if ((r = vm_machine_run_at_safepoint(mig->m, start_tracking, mig)) < 0)
		return vs_errf(err, -r, "migration: cannot track dirty pages");
	if (mig->copy_disks) {
		if (!(mig->dbuf = malloc(MIG_DISK_BATCH)))
			return vs_errf(err, ENOMEM, "migration: out of memory");
		if ((r = vm_machine_run_at_safepoint(mig->m, disks_track_on, mig)) < 0)
			return vs_errf(err, -r, "migration: cannot track disk writes");
		struct mig_msg h = { MIG_DISKS, mig->ndisks, 0 };
		if ((r = send_all(mig->fd, &h, sizeof(h), err)) < 0)
			return r;
		for (unsigned i = 0; i < mig->ndisks; i++) {
			uint64_t size = mig->disks[i].be->size;
			if ((r = send_all(mig->fd, &size, 8, err)) < 0)
				return r;
		}
		/* disk round 0: every non-zero chunk (writes meanwhile are tracked) */
		if ((r = send_disks(mig, true, err)) < 0)
			return r;
	}
	/* Round 0: all of RAM (pages never touched are known zeros). */
	uint64_t t = vs_now_ns();
	if (virt_snapshot_ram_anonymous(mig->b))
		mig->touched = vm_snap_ram_touched(vm_machine_ram(mig->m), mig->npages * PAGE);
	r = send_pages(mig, NULL, err);
	free(mig->touched);
	mig->touched = NULL;
	if (r == 0)
		r = sync_link(mig, err);
	if (r < 0)
		return r;
	/*
	 * Every round ends with a SYNC: the destination has read all of it, so
	 * a round's time is what the link took for its pages (the socket's
	 * buffers, megabytes, hid that: a round "sent" into them in no time)
	 * and nothing is left in flight when the guest pauses.  cost: ms per
	 * dirty page through the link, zero pages (one header per run) and
	 * data pages alike, measured by the last round of at least
	 * MIG_COST_MIN pages; round 0 also scanned all of RAM, so its figure
	 * (per page with data) is high until round 1 replaces it.
	 */
	struct vm_migration_status now;
	vm_migration_status(mig, &now);
	double cost = (vs_now_ns() - t) / 1e6 / (double)(now.pages_sent ? now.pages_sent : 1);
	uint64_t t_take = t, held_at = 0, prev_dirty = 0;
	unsigned pct = 0;
	struct round_info ri = { 0 };
	for (unsigned round = 1;; round++) {
		if ((r = vm_machine_run_at_safepoint(mig->m, take_dirty, mig)) < 0)
			return vs_errf(err, -r, "migration: dirty tracking stopped");
		uint64_t t_now = vs_now_ns();
		uint64_t held = __atomic_load_n(&mig->held_ns, __ATOMIC_RELAXED);
		/* the guest ran for the round's time less the throttle's holds */
		double wall_ms = (t_now - t_take) / 1e6;
		double run_ms = wall_ms - (held - held_at) / 1e6;
		uint64_t dirty = popcount_bits(mig->dirty, mig->npages);
		double rate = dirty / (run_ms > 0.1 ? run_ms : 0.1); /* pages per ms run */
		double est = dirty * cost;
		ri = (struct round_info){ round, dirty, pct };
		mig_set(mig, set_round, &ri);
		vm_migration_status(mig, &now);
		t_take = t_now;
		held_at = held;
		vs_log(VS_LOG_INFO,
		       "migration round %u: %" PRIu64 " pages dirty in %.1f ms (guest ran %.1f), "
		       "%.2f us per page sent, %.1f ms to send them, throttle %u%%, %" PRIu64
		       " bytes sent",
		       round, dirty, wall_ms, run_ms, cost * 1000, est, pct, now.bytes_sent);
		if (dirty == 0 || est <= MIG_FINAL_MS || round >= MIG_MAX_ROUNDS)
			break;
		/*
		 * Auto-converge.  Sending the dirty pages takes dirty * cost ms;
		 * the guest, running (100 - pct) % of that time at `rate`, must
		 * dirty at most half as many meanwhile, so the set halves every
		 * round: pct >= 100 * (1 - 1 / (2 * rate * cost)), set at once
		 * rather than in steps.  The rate is a floor (a guest rewriting a
		 * small buffer fills it whatever its speed): after a round that
		 * did not shrink the set by a quarter the guest's share of time
		 * is halved (0, 50, 75, 87, 93, 96, 98, 99 %).
		 * It never goes down before the end.
		 */
		if ((r = sample_rate(mig, &rate, err)) < 0)
			return r;
		dirty = popcount_bits(mig->dirty, mig->npages); /* with the sample's */
		double x = rate * cost;
		unsigned need = x > 0.5 ? (unsigned)(100.0 * (1.0 - 0.5 / x)) + 1 : 0;
		if (prev_dirty && dirty * 4 > prev_dirty * 3 && pct + (100 - pct) / 2 > need)
			need = pct + (100 - pct) / 2;
		if (need > MIG_THROTTLE_MAX)
			need = MIG_THROTTLE_MAX;
		if (need > pct) {
			pct = need;
			throttle_set(mig, pct);
			ri.throttle = pct;
			mig_set(mig, set_round, &ri);
		}
		prev_dirty = dirty;
		uint64_t t_send = vs_now_ns();
		if ((r = send_pages(mig, mig->dirty, err)) < 0)
			return r;
		if ((r = send_disks(mig, false, err)) < 0)
			return r;
		if ((r = sync_link(mig, err)) < 0)
			return r;
		if (dirty >= MIG_COST_MIN)
			cost = (vs_now_ns() - t_send) / 1e6 / (double)dirty;
	}
	/* The link is drained (the last round's SYNC): stop the throttle, then
	 * pause and send the pages of the last take and the few since. */
	throttle_end(mig);
	vs_cleanup_free uint64_t *pending = malloc((mig->npages + 63) / 64 * 8);
	if (!pending)
		return vs_errf(err, ENOMEM, "migration: out of memory");
	memcpy(pending, mig->dirty, (mig->npages + 63) / 64 * 8);
	mig->queued_at_pause = unread_bytes(mig->fd);
	uint64_t t_pause = vs_now_ns();
	if ((r = vm_machine_run_at_safepoint(mig->m, pause_and_take, mig)) < 0)
		return vs_errf(err, -r, "migration: cannot pause the guest");
	uint64_t t_ph = vs_now_ns();
	mig->ph_pause = (t_ph - t_pause) / 1e6;
	for (uint64_t i = 0; i < (mig->npages + 63) / 64; i++)
		pending[i] |= mig->dirty[i];
	mig->final_pages = popcount_bits(pending, mig->npages);
	if ((r = send_pages(mig, pending, err)) < 0)
		return r;
	if ((r = send_disks(mig, false, err)) < 0) /* paused: the last writes */
		return r;
	mig->ph_pages = (vs_now_ns() - t_ph) / 1e6;
	t_ph = vs_now_ns();
	struct final_ctx f = { .mig = mig, .err = VS_ERR_INIT };
	f.memfd = memfd_create("vessel-migration-state", MFD_CLOEXEC);
	if (f.memfd < 0)
		return vs_syserrf(err, errno, "migration: memfd_create");
	r = vm_machine_run_at_safepoint(mig->m, write_final, &f);
	if (r < 0) {
		close(f.memfd);
		*err = f.err;
		return r;
	}
	vs_cleanup_free uint8_t *head = malloc(f.state_len);
	if (!head || vs_pread_full(f.memfd, head, f.state_len, 0) < 0) {
		close(f.memfd);
		return vs_errf(err, EIO, "migration: cannot read back the state");
	}
	close(f.memfd);
	struct mig_msg h = { MIG_STATE, 0, f.state_len };
	struct mig_msg done = { MIG_DONE, 0, 0 };
	if ((r = send_all(mig->fd, &h, sizeof(h), err)) < 0 ||
	    (r = send_all(mig->fd, head, f.state_len, err)) < 0 ||
	    (r = send_all(mig->fd, &done, sizeof(done), err)) < 0)
		return r;
	mig->ph_state = (vs_now_ns() - t_ph) / 1e6;
	t_ph = vs_now_ns();
	if ((r = wait_byte(mig->fd, 'K', "destination's ready", err)) < 0)
		return r; /* it does not run without our 'G': resuming is safe */
	mig->ph_ready = (vs_now_ns() - t_ph) / 1e6;
	t_ph = vs_now_ns();
	/* A failed send queued nothing: the destination cannot have the 'G'. */
	if ((r = send_all(mig->fd, "G", 1, err)) < 0)
		return r;
	mig->committed = true;
	if ((r = wait_byte(mig->fd, 'R', "destination's running confirmation", err)) < 0)
		return r;
	mig->ph_run = (vs_now_ns() - t_ph) / 1e6;
	*downtime_ms = (vs_now_ns() - t_pause) / 1e6;
	return 0;
}

/* A send failed: the destination may have said why before it hung up. */
static void peer_reason(int fd, struct vs_err *err)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	if (poll(&pfd, 1, 200) != 1)
		return;
	char msg[220];
	ssize_t n = recv(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT);
	if (n < 2 || msg[0] != 'E')
		return;
	msg[n] = 0;
	vs_errf(err, EIO, "migration: the destination refused the VM: %s", msg + 1);
}

static void set_final(struct vm_migration_status *st, void *arg)
{
	*st = *(struct vm_migration_status *)arg;
}

static void *migrate_thread(void *opaque)
{
	struct vm_migration *mig = opaque;
	uint64_t t0 = vs_now_ns();
	struct vs_err err = VS_ERR_INIT;
	double downtime = 0;
	int r = migrate_run(mig, &downtime, &err);
	throttle_end(mig);
	if (r < 0 && mig->fd >= 0)
		peer_reason(mig->fd, &err);
	if (mig->tracking)
		vm_machine_run_at_safepoint(mig->m, disks_track_off, mig);
	if (!mig->tracking) /* else the backends may still write the bitmaps: kept */
		disks_free(mig);
	struct vm_migration_status st;
	vm_migration_status(mig, &st);
	st.total_ms = (vs_now_ns() - t0) / 1e6;
	if (r == 0) {
		st.state = VM_MIGRATION_COMPLETED;
		st.downtime_ms = downtime;
		mig_set(mig, set_final, &st);
		vs_log(VS_LOG_INFO,
		       "migration to %s completed: total %.1f ms, downtime %.1f ms, %" PRIu64
		       " bytes, %u rounds, %d bytes unread at the pause; downtime: pause %.1f, "
		       "%" PRIu64
		       " last pages %.1f, state %.1f, destination ready %.1f, running %.1f ms",
		       mig->uri, st.total_ms, st.downtime_ms, st.bytes_sent, st.rounds,
		       mig->queued_at_pause, mig->ph_pause, mig->final_pages, mig->ph_pages,
		       mig->ph_state, mig->ph_ready, mig->ph_run);
		vm_machine_request_exit(mig->m, VM_EXIT_POWEROFF,
					VM_EXIT_CODE_HOST); /* it lives on there */
	} else if (mig->committed) {
		/* 'G' went out: the destination may be running.  Stay paused; only
		 * someone who knows it is not may resume (PUT /vm/state). */
		st.state = VM_MIGRATION_FAILED;
		vs_err_prefix(&err, "switch-over not confirmed, the destination may be running: "
				    "the VM stays paused here");
		memcpy(st.error, err.msg, sizeof(st.error));
		st.error[sizeof(st.error) - 1] = 0;
		mig_set(mig, set_final, &st);
		vs_log(VS_LOG_WARN, "migration to %s: %s", mig->uri, st.error);
	} else {
		/* The guest continues here as if nothing happened. */
		vm_machine_run_at_safepoint(mig->m, resume_cb, NULL);
		st.state = VM_MIGRATION_FAILED;
		memcpy(st.error, err.msg, sizeof(st.error));
		mig_set(mig, set_final, &st);
		vs_log(VS_LOG_WARN, "migration to %s failed, the VM runs on here: %s", mig->uri,
		       err.msg);
	}
	if (mig->fd >= 0)
		close(mig->fd);
	mig->fd = -1;
	return NULL;
}

struct vm_migration *vm_migration_start(struct virt_board *b, const char *uri, struct vs_err *err)
{
	return vm_migration_start_disks(b, uri, false, err);
}

struct vm_migration *vm_migration_start_disks(struct virt_board *b, const char *uri,
					      bool copy_disks, struct vs_err *err)
{
	return vm_migration_start_via(b, uri, copy_disks, NULL, err);
}

struct vm_migration *vm_migration_start_via(struct virt_board *b, const char *uri, bool copy_disks,
					    struct vm_broker *broker, struct vs_err *err)
{
	if (strncmp(uri, "unix:", 5) != 0 && strncmp(uri, "tcp:", 4) != 0) {
		vs_errf(err, EINVAL, "migration URI %s: expected unix:PATH or tcp:HOST:PORT", uri);
		return NULL;
	}
	if (strlen(uri) >= sizeof(((struct vm_migration *)0)->uri)) {
		vs_errf(err, EINVAL, "migration URI too long");
		return NULL;
	}
	struct vm_migration *mig = calloc(1, sizeof(*mig));
	if (!mig) {
		vs_errf(err, ENOMEM, "migration: out of memory");
		return NULL;
	}
	mig->b = b;
	mig->m = virt_board_machine(b);
	mig->fd = -1;
	mig->copy_disks = copy_disks;
	mig->broker = broker;
	snprintf(mig->uri, sizeof(mig->uri), "%s", uri);
	mig->npages = virt_board_config(b)->ram_size / PAGE;
	mig->sent = calloc((mig->npages + 63) / 64, 8);
	mig->dirty = calloc((mig->npages + 63) / 64, 8);
	pthread_mutex_init(&mig->lock, NULL);
	mig->st.state = VM_MIGRATION_ACTIVE;
	if (!mig->sent || !mig->dirty || pthread_create(&mig->thread, NULL, migrate_thread, mig)) {
		free(mig->sent);
		free(mig->dirty);
		free(mig->pbuf);
		pthread_mutex_destroy(&mig->lock);
		free(mig);
		vs_errf(err, ENOMEM, "migration: cannot start its thread");
		return NULL;
	}
	return mig;
}

void vm_migration_status(struct vm_migration *mig, struct vm_migration_status *out)
{
	pthread_mutex_lock(&mig->lock);
	*out = mig->st;
	pthread_mutex_unlock(&mig->lock);
}

void vm_migration_free(struct vm_migration *mig)
{
	if (!mig)
		return;
	pthread_join(mig->thread, NULL);
	pthread_mutex_destroy(&mig->lock);
	free(mig->sent);
	free(mig->dirty);
	free(mig->sample);
	free(mig->pbuf);
	free(mig);
}

/* ---- destination -------------------------------------------------------------- */

static void refuse(int fd, const char *msg)
{
	char buf[220];
	int n = snprintf(buf, sizeof(buf), "E%s", msg);
	struct vs_err ignore = VS_ERR_INIT;
	send_all(fd, buf, (size_t)(n < (int)sizeof(buf) ? n : (int)sizeof(buf) - 1), &ignore);
}

/* The destination's copies of the source's disks (disk copy). */
struct dest_disks {
	unsigned n;
	const char *path[VIRT_MAX_DISKS];
	const char *format[VIRT_MAX_DISKS];
	uint64_t size[VIRT_MAX_DISKS];
	struct vm_block_backend *be[VIRT_MAX_DISKS];
	bool created[VIRT_MAX_DISKS];
};

/* DISKS: create and open this side's --disk files for the source's disks. */
static int dest_disks_open(int c, const struct virt_config *host_cfg, struct dest_disks *dd,
			   unsigned n, struct vs_err *err)
{
	if (dd->n || n == 0 || n > VIRT_MAX_DISKS)
		return vs_errf(err, EINVAL, "migration: bad disk list");
	if (host_cfg->ndisks != n)
		return vs_errf(err, EINVAL,
			       "migration with disk copy: the source has %u disk(s), this side "
			       "was given %u (--disk PATH for each, files it creates)",
			       n, host_cfg->ndisks);
	for (unsigned i = 0; i < n; i++) {
		uint64_t size;
		int r = recv_all(c, &size, 8, err);
		if (r < 0)
			return r;
		if (size == 0 || size > (1ull << 50) || size % 512)
			return vs_errf(err, EINVAL, "migration: disk %u: bad size", i);
		const char *path = host_cfg->disks[i].path;
		const char *fmt = host_cfg->disks[i].format ? host_cfg->disks[i].format : "qcow2";
		if (access(path, F_OK) == 0)
			return vs_errf(err, EEXIST,
				       "migration with disk copy: %s exists (this side creates the "
				       "disk it receives)",
				       path);
		struct disk_create_options o = { .format = fmt, .size = size };
		if ((r = disk_image_create(path, &o, err)) < 0)
			return vs_err_prefix(err, "migration: create %s", path);
		dd->created[i] = true;
		dd->path[i] = path;
		dd->format[i] = fmt;
		dd->size[i] = size;
		dd->n = i + 1;
		if (!(dd->be[i] = vm_block_backend_open_image(path, fmt, false, err)))
			return -err->code;
	}
	return 0;
}

/* DISK: one range of disk data into its copy. */
static int dest_disk_write(int c, struct dest_disks *dd, const struct mig_msg *h, uint8_t **buf,
			   struct vs_err *err)
{
	uint64_t len;
	int r = recv_all(c, &len, 8, err);
	if (r < 0)
		return r;
	if (h->count >= dd->n || len == 0 || len > MIG_DISK_BATCH ||
	    h->first >= dd->size[h->count] || len > dd->size[h->count] - h->first)
		return vs_errf(err, EINVAL, "migration: disk data out of range");
	if (!*buf && !(*buf = malloc(MIG_DISK_BATCH)))
		return vs_errf(err, ENOMEM, "migration: out of memory");
	if ((r = recv_all(c, *buf, len, err)) < 0)
		return r;
	struct iovec iov = { *buf, len };
	struct vm_block_backend *be = dd->be[h->count];
	return be->ops->pwritev(be, &iov, 1, h->first, err);
}

/* Close the copies (flushed); with failed, remove the files made. */
static int dest_disks_close(struct dest_disks *dd, bool failed, struct vs_err *err)
{
	int r = 0;
	for (unsigned i = 0; i < dd->n; i++) {
		if (dd->be[i] && !failed && r == 0)
			r = dd->be[i]->ops->flush(dd->be[i], err);
		vm_block_backend_close(dd->be[i]);
		dd->be[i] = NULL;
		if (failed && dd->created[i])
			unlink(dd->path[i]);
	}
	return r;
}

/* Receive the stream into memfd (a snapshot file); 0 at DONE. */
static int receive(int c, int memfd, uint64_t *ram_size_out, const struct virt_config *host_cfg,
		   struct dest_disks *dd, struct vs_err *err)
{
	vs_cleanup_free uint8_t *dbuf = NULL;
	uint8_t hello[24];
	int r = recv_all(c, hello, sizeof(hello), err);
	if (r < 0)
		return r;
	if (memcmp(hello, MIG_MAGIC, 8) != 0)
		return vs_errf(err, EINVAL, "migration: not a vessel migration stream");
	uint64_t ram_size, off;
	memcpy(&ram_size, hello + 8, 8);
	memcpy(&off, hello + 16, 8);
	if (off != MIG_DATA_OFFSET || ram_size == 0 || ram_size % PAGE || ram_size > (64ULL << 30))
		return vs_errf(err, EINVAL, "migration: bad stream parameters");
	if (ftruncate(memfd, (off_t)(off + ram_size)) < 0)
		return vs_syserrf(err, errno, "migration: size the memory file");
	uint8_t *ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, (off_t)off);
	if (ram == MAP_FAILED)
		return vs_syserrf(err, errno, "migration: map the memory file");
	uint64_t npages = ram_size / PAGE;
	bool have_state = false;
	const char *slow = getenv("VESSEL_TEST_MIGRATE_SLOW"); /* tests: a slow destination */
	unsigned slow_ms = slow ? (unsigned)atoi(slow) : 0;
	const char *mbps = getenv("VESSEL_TEST_MIGRATE_RATE"); /* tests: a link of N MB/s */
	double link_bytes_per_ns = mbps ? atof(mbps) / 1e3 : 0;
	uint64_t link_t0 = 0, link_bytes = 0;
	for (;;) {
		struct mig_msg h;
		if ((r = recv_all(c, &h, sizeof(h), err)) < 0)
			break;
		if (h.type == MIG_PAGES) {
			if (h.count == 0 || h.count > MIG_BATCH || h.first >= npages ||
			    h.count > npages - h.first) {
				r = vs_errf(err, EINVAL, "migration: pages out of range");
				break;
			}
			r = recv_all(c, ram + h.first * PAGE, (size_t)h.count * PAGE, err);
			if (slow_ms)
				usleep(slow_ms * 1000);
			if (link_bytes_per_ns > 0) { /* read no faster than the link */
				uint64_t t_now = vs_now_ns();
				if (!link_t0)
					link_t0 = t_now;
				link_bytes += (uint64_t)h.count * PAGE;
				uint64_t due = link_t0 + (uint64_t)(link_bytes / link_bytes_per_ns);
				if (due > t_now)
					usleep((useconds_t)((due - t_now) / 1000));
			}
		} else if (h.type == MIG_SYNC) {
			r = send_all(c, "S", 1, err);
		} else if (h.type == MIG_ZERO) {
			if (h.count == 0 || h.count > MIG_BATCH || h.first >= npages ||
			    h.count > npages - h.first) {
				r = vs_errf(err, EINVAL, "migration: zero pages out of range");
				break;
			}
			/* a hole reads as zeros: no page is allocated (a fresh
			 * memfd's first touch cost ~20 us a page, most of a busy
			 * guest's rounds: its rewritten buffers are zeros) */
			if (fallocate(memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				      (off_t)(off + h.first * PAGE), (off_t)h.count * PAGE) < 0)
				memset(ram + h.first * PAGE, 0, (size_t)h.count * PAGE);
		} else if (h.type == MIG_STATE) {
			if (h.first > off || h.first < VM_SNAP_HEADER_SIZE) {
				r = vs_errf(err, EINVAL, "migration: state of %" PRIu64 " bytes",
					    h.first);
				break;
			}
			vs_cleanup_free uint8_t *buf = malloc(h.first);
			if (!buf) {
				r = vs_errf(err, ENOMEM, "migration: out of memory");
				break;
			}
			r = recv_all(c, buf, h.first, err);
			if (r == 0 && (r = vs_pwrite_full(memfd, buf, h.first, 0)) < 0)
				r = vs_syserrf(err, -r, "migration: write the state");
			have_state = r == 0;
		} else if (h.type == MIG_DISKS) {
			r = dest_disks_open(c, host_cfg, dd, h.count, err);
		} else if (h.type == MIG_DISK) {
			r = dest_disk_write(c, dd, &h, &dbuf, err);
		} else if (h.type == MIG_DONE) {
			if (!have_state)
				r = vs_errf(err, EINVAL,
					    "migration: stream ended without the state");
			break;
		} else {
			r = vs_errf(err, EINVAL, "migration: unknown message %u", h.type);
		}
		if (r < 0)
			break;
	}
	munmap(ram, ram_size);
	*ram_size_out = ram_size;
	return r;
}

int vm_migration_incoming(const char *uri, const struct virt_config *host_cfg,
			  struct virt_snapshot_config *sc, struct virt_board **out,
			  struct virt_snapshot **snap_out, struct vs_err *err)
{
	*out = NULL;
	*snap_out = NULL;
	vs_cleanup_close int l = uri_connect(uri, true, err);
	if (l < 0)
		return l;
	vs_cleanup_close int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return vs_syserrf(err, errno, "migration: accept on %s", uri);
	if (strncmp(uri, "unix:", 5) == 0)
		unlink(uri + 5);
	vs_cleanup_close int memfd = memfd_create("vessel-migration", MFD_CLOEXEC);
	if (memfd < 0)
		return vs_syserrf(err, errno, "migration: memfd_create");
	uint64_t ram_size = 0;
	struct dest_disks dd = { 0 };
	int r = receive(c, memfd, &ram_size, host_cfg, &dd, err);
	if (r == 0)
		r = dest_disks_close(&dd, false, err);
	if (r < 0) {
		struct vs_err e2 = VS_ERR_INIT;
		dest_disks_close(&dd, true, &e2);
		refuse(c, err->msg);
		return r;
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	struct virt_snapshot *snap = virt_snapshot_open(path, err);
	if (!snap || (r = virt_snapshot_config(snap, sc, err)) < 0) {
		virt_snapshot_close(snap);
		refuse(c, err->msg);
		return snap ? r : -err->code;
	}
	struct virt_config vc = *host_cfg;
	virt_snapshot_apply_config(sc, &vc);
	if (host_cfg->nnets && host_cfg->nnets != vc.nnets)
		r = vs_errf(err, EINVAL, "migration: --net given %u times for a VM with %u NICs",
			    host_cfg->nnets, vc.nnets);
	else /* this host's TAPs; the MACs stay the guest's */
		for (unsigned i = 0; i < host_cfg->nnets; i++)
			vc.nets[i].tap = host_cfg->nets[i].tap;
	if (dd.n && dd.n != vc.ndisks) {
		r = vs_errf(err, EINVAL, "migration: %u disks copied for a VM with %u", dd.n,
			    vc.ndisks);
	}
	for (unsigned i = 0; r == 0 && i < dd.n; i++) { /* the copies, not the source's paths */
		vc.disks[i].path = dd.path[i];
		vc.disks[i].format = dd.format[i];
	}
	struct virt_board *b = r == 0 ? virt_board_new(&vc, err) : NULL;
	if (!b) {
		virt_snapshot_close(snap);
		struct vs_err e2 = VS_ERR_INIT;
		dest_disks_close(&dd, true, &e2);
		refuse(c, err->msg);
		return -err->code;
	}
	r = virt_snapshot_load(b, snap, err);
	if (r < 0) {
		virt_snapshot_close(snap);
		refuse(c, err->msg);
		virt_board_free(b);
		struct vs_err e2 = VS_ERR_INIT;
		dest_disks_close(&dd, true, &e2);
		return r;
	}
	/* Ready: run only once the source sent 'G' (it never resumes after). */
	const char *drop = getenv("VESSEL_TEST_MIGRATE_DROP"); /* tests: lose a message */
	struct vs_err serr = VS_ERR_INIT;
	if (drop && strcmp(drop, "ready") == 0)
		shutdown(c, SHUT_WR);
	else if (send_all(c, "K", 1, &serr) < 0) {
		virt_snapshot_close(snap);
		virt_board_free(b);
		return vs_errf(err, EPIPE, "migration: the source went away before the switch");
	}
	if ((r = wait_byte(c, 'G', "source's go", err)) < 0) {
		virt_snapshot_close(snap);
		virt_board_free(b);
		return vs_err_prefix(err, "switch-over not confirmed by the source, the VM does "
					  "not run here");
	}
	if (drop && strcmp(drop, "running") == 0)
		shutdown(c, SHUT_WR);
	else
		send_all(c, "R", 1, &serr); /* lost: the source stays paused, we run */
	*out = b;
	*snap_out = snap; /* closed by the caller once the guest runs */
	return 0;
}

/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * copy.c: the copy engine of snapvolctl backup (see copy.h).
 *
 * Design notes
 *
 * Work is a queue of chunks (at most sh->chunk bytes of one range:
 * COPY_CHUNK, or less if the source says it takes smaller requests)
 * handed out in ascending order under one mutex.  Each worker owns a
 * source handle (and a destination handle for an NBD destination) and
 * its slots, each with its own buffer: COPY_REQUESTS of COPY_CHUNK
 * bytes, and COPY_SMALL_REQUESTS of COPY_SMALL_CHUNK that take a chunk
 * only if it fits.  A worker loops:
 *
 *   1. fill free slots from the queue: a data chunk starts an
 *      nbd_aio_pread, a zero chunk is zeroed at once (file) or starts
 *      an nbd_aio_zero (export);
 *   2. poll its handles and let libnbd run (nbd_aio_notify_*): the
 *      completion callbacks only mark slots, they never issue commands;
 *   3. for each slot whose read completed: digest its blocks, write
 *      runs of data blocks and zero runs of zero blocks (pwrite /
 *      fallocate for a file, nbd_aio_pwrite / nbd_aio_zero for an
 *      export); the slot is free when its writes completed.
 *
 * Many small requests.  An incremental backup's chunks are mostly
 * single 4 KiB blocks scattered over the volume.  With 8 of them in
 * flight per connection, every reply woke the worker for one block and
 * every request woke a server thread for one block: for 2,600 blocks
 * (1% of 1 GiB), 1,100 to 5,300 context switches in the client; with
 * 64 in flight (the small slots), 900 to 1,900 (docs/performance.md,
 * where the CPU and wall time did not move beyond the noise of a
 * loaded machine).  The small slots' buffers cost 56 x 16 KiB per
 * connection; a full backup's 1 MiB chunks never fit them and leave
 * them idle.
 *
 * The slot's offset stays registered in the shared state from the
 * moment the chunk is taken until it is written, so the lowest
 * registered offset (or the queue's position) is the resume point:
 * everything below it is written.
 *
 * Writing behind.  A run of at least COPY_WRITEBACK_MIN bytes written
 * to a file through the page cache has its writeback started at once
 * (sync_file_range SYNC_FILE_RANGE_WRITE); WRITEBACK_WINDOW such runs
 * later the worker waits for it to reach the disk and drops its pages
 * (POSIX_FADV_DONTNEED).  So the page cache the copy writes into stays
 * small and its pages are reused while they are hot, dirty pages never
 * pile up for the kernel to throttle us or for the caller's fsync to
 * write, and a checkpoint's fdatasync finds little to do.  Smaller runs
 * (an incremental backup's single blocks) are not waited for or
 * dropped, but their writeback is started too, WRITEBACK_BATCH at a
 * time over the span they cover: otherwise the disk sees none of them
 * until the caller syncs, and an incremental that copies faster than
 * its caller's periodic writeback hint (ctl-backup.c's tick) wrote
 * every block at its final fsync (94 ms against 33 ms for 1% of 1 GiB,
 * docs/performance.md).  Measured on
 * a 2-core VM (docs/performance.md, "Backups"): a backup of 2 GiB with
 * plain pwrites took 6.4 s of the client's system time and 6.6 s of
 * wall time, with writing behind 1.3 s and 1.9 s.  Failures of these
 * calls are not reported: they are hints, and the caller's fdatasync
 * or fsync reports what did not reach the disk.
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libnbd.h>
#include <openssl/evp.h>

#include "blockhash.h"
#include "copy.h"

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define ALIGN_DOWN(x) ((x) / COPY_BLOCK * COPY_BLOCK)
#define ALIGN_UP(x) (((x) + COPY_BLOCK - 1) / COPY_BLOCK * COPY_BLOCK)

/* Large runs a worker lets the kernel write back behind it before it
 * waits for the oldest and drops its pages. */
#define WRITEBACK_WINDOW 8

/* Small runs a worker writes before it starts their writeback, as one
 * sync_file_range over the span they cover. */
#define WRITEBACK_BATCH 16

/* Block status requests cover at most this much (servers cap a request
 * at 32 bits). */
#define MAP_REQUEST (1u << 30)

/* A connection's slots: COPY_REQUESTS of COPY_CHUNK bytes, then
 * COPY_SMALL_REQUESTS of COPY_SMALL_CHUNK. */
#define SLOTS (COPY_REQUESTS + COPY_SMALL_REQUESTS)

/* A FAILED slot is idle but keeps its offset registered: its chunk
 * is not done, and the resume point must stay below it. */
enum slot_state {
  SLOT_FREE, SLOT_READING, SLOT_READ, SLOT_WRITING, SLOT_FAILED,
};

struct worker;

struct slot {
  struct worker *w;
  unsigned char *buf;
  uint64_t cap;                 /* bytes of buf: the longest chunk it takes */
  enum slot_state state;
  uint64_t offset, length;
  int error;                    /* errno of a failed command */
  bool failed;                  /* the chunk cannot complete */
  const char *doing;            /* "reading", "writing", "zeroing" */
  unsigned pending;             /* destination commands in flight */
  bool zero[COPY_CHUNK / COPY_BLOCK];   /* block I of the chunk read as
                                         * zeroes */
};

struct shared;

struct worker {
  struct shared *sh;
  unsigned index;
  struct nbd_handle *src, *dst;
  struct slot slots[SLOTS];
  EVP_MD_CTX *md_ctx;
  /* A file destination: the worker's latest large writes, oldest
   * first, whose writeback is started and not yet waited for. */
  struct { uint64_t off, len; } wb[WRITEBACK_WINDOW];
  unsigned wb_head, wb_n;
  /* A file destination: the span of the worker's small writes whose
   * writeback is not started yet, and how many there are. */
  uint64_t small_lo, small_hi;
  unsigned small_n;
  pthread_t thread;
  bool started;
};

struct shared {
  const struct copy_params *p;
  pthread_mutex_t mu;
  pthread_cond_t cv;            /* a worker ended */
  size_t next_range;            /* the queue: next chunk's range */
  uint64_t next_offset;         /*   and offset in it */
  struct copy_stats st;
  unsigned running;
  bool stop;
  char err[512];                /* the first error */
  struct worker workers[COPY_MAX_CONNECTIONS];
  uint64_t chunk;               /* bytes per read request */
  bool dst_can_zero;
  EVP_MD *md;                   /* SHA-256, fetched once */
  bool pair;                    /* full blocks hashed two at a time
                                 * (blockhash.h) */
  unsigned char zero_digest[COPY_DIGEST];
};

static const unsigned char zero_block[COPY_BLOCK];

/* SHA-256 of LEN bytes at BUF into OUT, with the worker's context: a
 * context reused with a fetched algorithm costs a third of OpenSSL's
 * one-shot SHA256 () on 4 KiB blocks, which looks the algorithm up at
 * every call. */
static int
digest (EVP_MD_CTX *ctx, const EVP_MD *md, const void *buf, size_t len,
        unsigned char out[COPY_DIGEST])
{
  unsigned n;

  if (EVP_DigestInit_ex2 (ctx, md, NULL) != 1 ||
      EVP_DigestUpdate (ctx, buf, len) != 1 ||
      EVP_DigestFinal_ex (ctx, out, &n) != 1 || n != COPY_DIGEST)
    return -1;
  return 0;
}

/* Record the first error and stop every worker.  Takes sh->mu. */
static void
fail (struct shared *sh, const char *fmt, ...)
  __attribute__((format (printf, 2, 3)));

static void
fail (struct shared *sh, const char *fmt, ...)
{
  va_list ap;

  pthread_mutex_lock (&sh->mu);
  if (sh->err[0] == '\0') {
    va_start (ap, fmt);
    vsnprintf (sh->err, sizeof sh->err, fmt, ap);
    va_end (ap);
  }
  sh->stop = true;
  pthread_mutex_unlock (&sh->mu);
}

static bool
stopping (struct shared *sh)
{
  bool s;

  pthread_mutex_lock (&sh->mu);
  s = sh->stop;
  pthread_mutex_unlock (&sh->mu);
  return s;
}

/* Take the next chunk into SLOT: 1; 0 if the next chunk is longer than
 * SLOT's buffer (it stays for a larger slot); -1 when the queue is
 * empty or the copy stops. */
static int
take_chunk (struct shared *sh, struct slot *slot, enum copy_kind *kind)
{
  const struct copy_params *p = sh->p;
  const struct copy_range *r;
  uint64_t len;
  int got = -1;

  pthread_mutex_lock (&sh->mu);
  while (!sh->stop && sh->next_range < p->nranges) {
    r = &p->ranges[sh->next_range];
    if (sh->next_offset < r->offset)
      sh->next_offset = r->offset;
    if (sh->next_offset >= r->offset + r->length) {
      sh->next_range++;
      continue;
    }
    len = MIN (r->offset + r->length - sh->next_offset, sh->chunk);
    if (len > slot->cap) {
      got = 0;
      break;
    }
    slot->offset = sh->next_offset;
    slot->length = len;
    *kind = r->kind;
    sh->next_offset += len;
    got = 1;
    break;
  }
  pthread_mutex_unlock (&sh->mu);
  return got;
}

/* SLOT's chunk is on the destination. */
static void
chunk_done (struct slot *slot)
{
  struct shared *sh = slot->w->sh;

  pthread_mutex_lock (&sh->mu);
  sh->st.done += slot->length;
  slot->state = SLOT_FREE;
  pthread_mutex_unlock (&sh->mu);
}

static void
add_stat (struct shared *sh, uint64_t *counter, uint64_t n)
{
  pthread_mutex_lock (&sh->mu);
  *counter += n;
  pthread_mutex_unlock (&sh->mu);
}

/* Completion callbacks: run inside nbd_aio_notify_* of the worker
 * that owns the slot.  They only record. */
static int
read_done (void *opaque, int *error)
{
  struct slot *slot = opaque;

  slot->error = *error;
  slot->state = SLOT_READ;
  return 1;
}

static int
write_done (void *opaque, int *error)
{
  struct slot *slot = opaque;

  if (*error && !slot->error)
    slot->error = *error;
  slot->pending--;
  return 1;
}

/* Zero [OFF, OFF+LEN) of the destination for SLOT. */
static int
zero_dest (struct slot *slot, uint64_t off, uint64_t len)
{
  struct shared *sh = slot->w->sh;
  const struct copy_params *p = sh->p;
  nbd_completion_callback cb = { .callback = write_done, .user_data = slot };

  add_stat (sh, &sh->st.bytes_zeroed, len);
  if (p->dst_uri == NULL) {
    if (p->dst_zeroed)
      return 0;
    if (fallocate (p->dst_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                   (off_t) off, (off_t) len) == 0)
      return 0;
    if (errno != EOPNOTSUPP) {
      fail (sh, "cannot punch a hole at offset %" PRIu64 " of the "
            "destination: %s", off, strerror (errno));
      return -1;
    }
    while (len > 0) {
      size_t n = MIN (len, (uint64_t) COPY_BLOCK);

      if (pwrite (p->dst_fd, zero_block, n, (off_t) off) != (ssize_t) n) {
        fail (sh, "cannot write zeroes at offset %" PRIu64 " of the "
              "destination: %s", off, strerror (errno));
        return -1;
      }
      off += n;
      len -= n;
    }
    return 0;
  }
  if (p->dst_zeroed)
    return 0;
  slot->doing = "zeroing";
  while (len > 0) {
    uint64_t n = MIN (len, (uint64_t) COPY_CHUNK);
    int64_t c;

    slot->pending++;
    if (sh->dst_can_zero)
      c = nbd_aio_zero (slot->w->dst, n, off, cb, 0);
    else
      c = nbd_aio_pwrite (slot->w->dst, zero_block, MIN (n, COPY_BLOCK), off,
                          cb, 0), n = MIN (n, COPY_BLOCK);
    if (c == -1) {
      slot->pending--;
      fail (sh, "cannot zero %s at offset %" PRIu64 ": %s", p->dst_uri, off,
            nbd_get_error ());
      return -1;
    }
    off += n;
    len -= n;
  }
  return 0;
}

/* [OFF, OFF+LEN) of FD was just written through the page cache by W:
 * start its writeback; wait for the oldest run W started and drop its
 * pages once there are WRITEBACK_WINDOW (see the design notes). */
static void
write_behind (struct worker *w, int fd, uint64_t off, uint64_t len)
{
  unsigned i;

  if (w->wb_n == WRITEBACK_WINDOW) {
    i = w->wb_head;
    sync_file_range (fd, (off_t) w->wb[i].off, (off_t) w->wb[i].len,
                     SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                     SYNC_FILE_RANGE_WAIT_AFTER);
    posix_fadvise (fd, (off_t) w->wb[i].off, (off_t) w->wb[i].len,
                   POSIX_FADV_DONTNEED);
    w->wb_head = (i + 1) % WRITEBACK_WINDOW;
    w->wb_n--;
  }
  sync_file_range (fd, (off_t) off, (off_t) len, SYNC_FILE_RANGE_WRITE);
  i = (w->wb_head + w->wb_n) % WRITEBACK_WINDOW;
  w->wb[i].off = off;
  w->wb[i].len = len;
  w->wb_n++;
}

/* Start the writeback of W's pending small writes to FD. */
static void
write_behind_small_flush (struct worker *w, int fd)
{
  if (w->small_n == 0)
    return;
  sync_file_range (fd, (off_t) w->small_lo,
                   (off_t) (w->small_hi - w->small_lo), SYNC_FILE_RANGE_WRITE);
  w->small_n = 0;
}

/* [OFF, OFF+LEN) of FD, shorter than COPY_WRITEBACK_MIN, was just
 * written by W: start the writeback of every WRITEBACK_BATCH of them
 * (see the design notes). */
static void
write_behind_small (struct worker *w, int fd, uint64_t off, uint64_t len)
{
  if (w->small_n == 0 || off < w->small_lo)
    w->small_lo = off;
  if (w->small_n == 0 || off + len > w->small_hi)
    w->small_hi = off + len;
  if (++w->small_n == WRITEBACK_BATCH)
    write_behind_small_flush (w, fd);
}

/* Write LEN bytes of SLOT's buffer from BUF_OFF to the destination. */
static int
write_dest (struct slot *slot, size_t buf_off, size_t len)
{
  struct shared *sh = slot->w->sh;
  const struct copy_params *p = sh->p;
  uint64_t off = slot->offset + buf_off;
  nbd_completion_callback cb = { .callback = write_done, .user_data = slot };

  add_stat (sh, &sh->st.bytes_written, len);
  if (p->dst_uri == NULL) {
    size_t done = 0;

    while (done < len) {
      ssize_t r = pwrite (p->dst_fd, slot->buf + buf_off + done, len - done,
                          (off_t) (off + done));
      if (r <= 0) {
        fail (sh, "cannot write at offset %" PRIu64 " of the destination: %s",
              off + done, r == 0 ? "short write" : strerror (errno));
        return -1;
      }
      done += r;
    }
    if (len >= COPY_WRITEBACK_MIN)
      write_behind (slot->w, p->dst_fd, off, len);
    else
      write_behind_small (slot->w, p->dst_fd, off, len);
    return 0;
  }
  slot->doing = "writing";
  slot->pending++;
  if (nbd_aio_pwrite (slot->w->dst, slot->buf + buf_off, len, off, cb, 0)
      == -1) {
    slot->pending--;
    fail (sh, "cannot write to %s at offset %" PRIu64 ": %s", p->dst_uri, off,
          nbd_get_error ());
    return -1;
  }
  return 0;
}

static bool
is_zero (const unsigned char *b, size_t len)
{
  return b[0] == 0 && memcmp (b, b + 1, len - 1) == 0;
}

/* The digest of the whole block at BLOCK into OUT, or, with the
 * two-lane SHA-256, kept in *PENDING until a second block comes to
 * hash with it (blockhash.h).  0, or -1 if OpenSSL failed. */
static int
digest_block (struct worker *w, const unsigned char *block, unsigned char *out,
              const unsigned char **pending, unsigned char **pending_out)
{
  struct shared *sh = w->sh;

  if (!sh->pair)
    return digest (w->md_ctx, sh->md, block, COPY_BLOCK, out);
  if (*pending == NULL) {
    *pending = block;
    *pending_out = out;
    return 0;
  }
  blockhash_pair (*pending, block, *pending_out, out);
  *pending = NULL;
  return 0;
}

/* SLOT's data is in its buffer: note which blocks read as zeroes
 * (slot->zero) and put the digest of each block into the table. */
static int
digest_chunk (struct slot *slot)
{
  struct worker *w = slot->w;
  struct shared *sh = w->sh;
  const struct copy_params *p = sh->p;
  const unsigned char *pending = NULL;
  unsigned char *pending_out = NULL, *out;
  size_t pos, i;
  int r = 0;

  for (pos = 0, i = 0; pos < slot->length; pos += COPY_BLOCK, i++) {
    size_t n = MIN (slot->length - pos, (uint64_t) COPY_BLOCK);

    slot->zero[i] = is_zero (slot->buf + pos, n);
    if (p->sums == NULL || r == -1)
      continue;
    out = p->sums + (slot->offset + pos) / COPY_BLOCK * COPY_DIGEST;
    if (slot->zero[i] && n == COPY_BLOCK)
      memcpy (out, sh->zero_digest, COPY_DIGEST);
    else if (n == COPY_BLOCK)
      r = digest_block (w, slot->buf + pos, out, &pending, &pending_out);
    else
      r = digest (w->md_ctx, sh->md, slot->buf + pos, n, out);
  }
  /* OpenSSL does not fail on memory it was given; if it does, the
   * chunk is named, not the block. */
  if (r == 0 && pending)
    r = digest (w->md_ctx, sh->md, pending, COPY_BLOCK, pending_out);
  if (r == -1)
    fail (sh, "SHA-256 of a block of the chunk at offset %" PRIu64 " failed",
          slot->offset);
  return r;
}

/* SLOT's data is in its buffer: digest it and write it, runs of data
 * blocks as data, runs of zero blocks as zeroes. */
static int
write_chunk (struct slot *slot)
{
  struct shared *sh = slot->w->sh;
  size_t pos = 0, run = 0, i = 0;
  bool run_zero = false;

  add_stat (sh, &sh->st.bytes_read, slot->length);
  if (digest_chunk (slot) == -1)
    return -1;
  for (; pos < slot->length; pos += COPY_BLOCK, i++) {
    bool z = slot->zero[i];

    if (pos > run && z != run_zero) {
      if ((run_zero ? zero_dest (slot, slot->offset + run, pos - run)
           : write_dest (slot, run, pos - run)) == -1)
        return -1;
      run = pos;
    }
    run_zero = z;
  }
  pos = slot->length;
  if (pos > run &&
      (run_zero ? zero_dest (slot, slot->offset + run, pos - run)
       : write_dest (slot, run, pos - run)) == -1)
    return -1;
  return 0;
}

/* Digests of a zero chunk of SLOT. */
static void
zero_sums (struct shared *sh, struct slot *slot)
{
  const struct copy_params *p = sh->p;
  uint64_t pos;

  if (p->sums == NULL)
    return;
  for (pos = 0; pos < slot->length; pos += COPY_BLOCK) {
    unsigned char *out = p->sums
      + (slot->offset + pos) / COPY_BLOCK * COPY_DIGEST;
    size_t n = MIN (slot->length - pos, (uint64_t) COPY_BLOCK);

    if (n == COPY_BLOCK)
      memcpy (out, sh->zero_digest, COPY_DIGEST);
    else
      /* Only the volume's last block can be short; it cannot fail
       * where the full zero block's digest did not. */
      digest (slot->w->md_ctx, sh->md, zero_block, n, out);
  }
}

/* Start SLOT on a new chunk: 0; 1 if the next chunk is too long for
 * SLOT; -1 when there is none. */
static int
start_slot (struct worker *w, struct slot *slot)
{
  struct shared *sh = w->sh;
  nbd_completion_callback cb = { .callback = read_done, .user_data = slot };
  enum copy_kind kind;
  int got;

  /* Registered before it leaves the mutex: the resume point must not
   * pass a chunk that is taken but not yet started. */
  pthread_mutex_lock (&sh->mu);
  slot->state = SLOT_READING;
  pthread_mutex_unlock (&sh->mu);
  got = take_chunk (sh, slot, &kind);
  if (got != 1) {
    pthread_mutex_lock (&sh->mu);
    slot->state = SLOT_FREE;
    pthread_mutex_unlock (&sh->mu);
    return got == 0 ? 1 : -1;
  }
  slot->error = 0;
  slot->failed = false;
  slot->pending = 0;
  if (kind == COPY_ZERO) {
    zero_sums (sh, slot);
    slot->state = SLOT_WRITING;
    if (zero_dest (slot, slot->offset, slot->length) == -1)
      slot->failed = true;
    return 0;
  }
  slot->doing = "reading";
  if (nbd_aio_pread (w->src, slot->buf, slot->length, slot->offset, cb, 0)
      == -1) {
    fail (sh, "cannot read %s at offset %" PRIu64 ": %s", sh->p->src_uri,
          slot->offset, nbd_get_error ());
    slot->failed = true;
    slot->state = SLOT_WRITING;
  }
  return 0;
}

/* Let libnbd work on H as POLLFD says. */
static int
notify (struct shared *sh, struct nbd_handle *h, const struct pollfd *pfd,
        const char *what)
{
  int r = 0;

  if (pfd->revents & (POLLIN | POLLHUP | POLLERR))
    r = nbd_aio_notify_read (h);
  else if (pfd->revents & POLLOUT)
    r = nbd_aio_notify_write (h);
  if (r == -1) {
    fail (sh, "connection to %s lost: %s", what, nbd_get_error ());
    return -1;
  }
  return 0;
}

static void
events (struct nbd_handle *h, struct pollfd *pfd)
{
  unsigned dir = nbd_aio_get_direction (h);

  pfd->fd = nbd_aio_get_fd (h);
  pfd->events = 0;
  pfd->revents = 0;
  if (dir & LIBNBD_AIO_DIRECTION_READ)
    pfd->events |= POLLIN;
  if (dir & LIBNBD_AIO_DIRECTION_WRITE)
    pfd->events |= POLLOUT;
}

/* One pass over the slots after libnbd ran: write what was read,
 * retire what was written.  Returns how many slots are busy. */
static unsigned
advance_slots (struct worker *w)
{
  struct shared *sh = w->sh;
  unsigned i, busy = 0;

  for (i = 0; i < SLOTS; i++) {
    struct slot *slot = &w->slots[i];

    if (slot->state == SLOT_READ) {
      slot->state = SLOT_WRITING;
      if (slot->error) {
        fail (sh, "cannot read %s at offset %" PRIu64 ": %s",
              sh->p->src_uri, slot->offset, strerror (slot->error));
        slot->failed = true;
      }
      else if (write_chunk (slot) == -1)
        slot->failed = true;
    }
    if (slot->state == SLOT_WRITING && slot->pending == 0) {
      if (slot->error && !slot->failed) {
        fail (sh, "%s %s at offset %" PRIu64 " failed: %s", slot->doing,
              sh->p->dst_uri ? sh->p->dst_uri : "the destination",
              slot->offset, strerror (slot->error));
        slot->failed = true;
      }
      if (slot->failed) {
        pthread_mutex_lock (&sh->mu);
        slot->state = SLOT_FAILED;
        pthread_mutex_unlock (&sh->mu);
      }
      else
        chunk_done (slot);
    }
    if (slot->state != SLOT_FREE && slot->state != SLOT_FAILED)
      busy++;
  }
  return busy;
}

static void *
worker_run (void *arg)
{
  struct worker *w = arg;
  struct shared *sh = w->sh;
  const struct copy_params *p = sh->p;
  bool queue_open = true;
  unsigned i, busy;

  for (;;) {
    struct pollfd pfd[2];
    nfds_t nfds = 1;
    int r = 0;

    /* Once a small slot finds the next chunk too long, so would the
     * others. */
    for (i = 0; queue_open && r != 1 && i < SLOTS; i++)
      if (w->slots[i].state == SLOT_FREE) {
        r = start_slot (w, &w->slots[i]);
        if (r == -1)
          queue_open = false;
      }
    if (stopping (sh))
      queue_open = false;
    busy = advance_slots (w);
    if (busy == 0 && (!queue_open || stopping (sh)))
      break;
    if (busy == 0)
      continue;

    events (w->src, &pfd[0]);
    if (w->dst) {
      events (w->dst, &pfd[1]);
      nfds = 2;
    }
    if (poll (pfd, nfds, 1000) == -1 && errno != EINTR) {
      fail (sh, "poll: %s", strerror (errno));
      break;
    }
    if (notify (sh, w->src, &pfd[0], p->src_uri) == -1 ||
        (w->dst && notify (sh, w->dst, &pfd[1], p->dst_uri) == -1))
      break;
    if (stopping (sh))
      queue_open = false;
  }
  if (p->dst_uri == NULL)
    write_behind_small_flush (w, p->dst_fd);

  pthread_mutex_lock (&sh->mu);
  sh->running--;
  pthread_cond_signal (&sh->cv);
  pthread_mutex_unlock (&sh->mu);
  return NULL;
}

/* Connect a new handle to URI (TLS_DIR: the certificates of an
 * nbds:// URI, or NULL).  NULL with ERR filled in. */
static struct nbd_handle *
connect_uri (const char *uri, const char *tls_dir, const char *what,
             bool meta, char *err, size_t errlen)
{
  struct nbd_handle *h = nbd_create ();

  if (h == NULL) {
    snprintf (err, errlen, "cannot create an NBD handle: %s",
              nbd_get_error ());
    return NULL;
  }
  if ((meta && nbd_add_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION) == -1)
      || (tls_dir && strncmp (uri, "nbds", 4) == 0 &&
          nbd_set_tls_certificates (h, tls_dir) == -1)
      || nbd_connect_uri (h, uri) == -1) {
    snprintf (err, errlen, "cannot connect to the %s %s: %s", what, uri,
              nbd_get_error ());
    nbd_close (h);
    return NULL;
  }
  return h;
}

/* Connect worker W's handles and check the export sizes. */
static int
connect_worker (struct shared *sh, struct worker *w, char *err, size_t errlen)
{
  const struct copy_params *p = sh->p;
  int64_t size, max;

  w->src = connect_uri (p->src_uri, p->tls_certificates, "source", false,
                       err, errlen);
  if (w->src == NULL)
    return -1;
  /* libnbd zeroes a read's buffer before the read by default, so that
   * a failed read leaks no old heap contents; a slot's buffer is used
   * only after its read succeeded (advance_slots), and the memset of
   * every 1 MiB chunk cost 3.6% of a full backup's client CPU (perf). */
  nbd_set_pread_initialize (w->src, false);
  /* Whole blocks per request: a chunk's blocks are digested alone. */
  max = nbd_get_block_size (w->src, LIBNBD_SIZE_MAXIMUM);
  if (max > 0 && (uint64_t) max < sh->chunk) {
    if (max < COPY_BLOCK) {
      snprintf (err, errlen, "the source %s takes requests of at most %"
                PRId64 " bytes, less than a block (%d bytes)", p->src_uri,
                max, COPY_BLOCK);
      return -1;
    }
    sh->chunk = ALIGN_DOWN ((uint64_t) max);
  }
  size = nbd_get_size (w->src);
  if (size < 0 || (uint64_t) size != p->size) {
    snprintf (err, errlen, "the source %s is %" PRId64 " bytes, expected %"
              PRIu64, p->src_uri, size, p->size);
    return -1;
  }
  if (p->dst_uri == NULL)
    return 0;
  w->dst = connect_uri (p->dst_uri, p->tls_certificates, "destination",
                       false, err, errlen);
  if (w->dst == NULL)
    return -1;
  if (nbd_is_read_only (w->dst) == 1) {
    snprintf (err, errlen, "the destination %s is read-only", p->dst_uri);
    return -1;
  }
  size = nbd_get_size (w->dst);
  if (size < 0 || (uint64_t) size < p->size) {
    snprintf (err, errlen, "the destination %s is %" PRId64 " bytes, smaller "
              "than the source (%" PRIu64 " bytes)", p->dst_uri, size,
              p->size);
    return -1;
  }
  sh->dst_can_zero = nbd_can_zero (w->dst) == 1;
  return 0;
}

/* The resume point: the lowest chunk still registered, else the
 * queue's position.  Under sh->mu. */
static uint64_t
resume_point (struct shared *sh)
{
  const struct copy_params *p = sh->p;
  uint64_t r;
  unsigned i, k;

  if (sh->next_range >= p->nranges)
    r = p->size;
  else if (sh->next_offset < p->ranges[sh->next_range].offset)
    r = p->ranges[sh->next_range].offset;
  else
    r = sh->next_offset;
  for (i = 0; i < p->connections; i++)
    for (k = 0; k < SLOTS; k++) {
      const struct slot *slot = &sh->workers[i].slots[k];

      if (slot->state != SLOT_FREE && slot->offset < r)
        r = slot->offset;
    }
  return r;
}

static void
snapshot_stats (struct shared *sh, struct copy_stats *st)
{
  pthread_mutex_lock (&sh->mu);
  sh->st.resume = resume_point (sh);
  *st = sh->st;
  pthread_mutex_unlock (&sh->mu);
}

static int
start_workers (struct shared *sh, char *err, size_t errlen)
{
  sigset_t all, old;
  unsigned i;
  int r = 0;

  sigfillset (&all);
  pthread_sigmask (SIG_BLOCK, &all, &old);
  for (i = 0; i < sh->p->connections; i++) {
    struct worker *w = &sh->workers[i];

    pthread_mutex_lock (&sh->mu);
    sh->running++;
    pthread_mutex_unlock (&sh->mu);
    errno = pthread_create (&w->thread, NULL, worker_run, w);
    if (errno != 0) {
      snprintf (err, errlen, "pthread_create: %s", strerror (errno));
      pthread_mutex_lock (&sh->mu);
      sh->running--;
      sh->stop = true;
      pthread_mutex_unlock (&sh->mu);
      r = -1;
      break;
    }
    w->started = true;
  }
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  return r;
}

/* Wait for the workers, calling TICK every tick_ms. */
static void
wait_workers (struct shared *sh)
{
  const struct copy_params *p = sh->p;
  unsigned ms = p->tick_ms ? p->tick_ms : 1000;

  pthread_mutex_lock (&sh->mu);
  while (sh->running > 0) {
    struct timespec ts;
    struct copy_stats st;

    clock_gettime (CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long) (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait (&sh->cv, &sh->mu, &ts);
    if (sh->running == 0)
      break;
    if (p->stop && *p->stop && !sh->stop) {
      sh->stop = true;
      if (sh->err[0] == '\0')
        snprintf (sh->err, sizeof sh->err, "interrupted by a signal");
    }
    pthread_mutex_unlock (&sh->mu);
    snapshot_stats (sh, &st);
    if (p->tick && p->tick (&st, p->opaque) == -1)
      fail (sh, "interrupted");
    pthread_mutex_lock (&sh->mu);
  }
  pthread_mutex_unlock (&sh->mu);
}

/* Flush an NBD destination once every write is done: through one
 * connection if the server promises multi-conn consistency, else
 * through each. */
static int
flush_dest (struct shared *sh)
{
  unsigned i;

  for (i = 0; i < sh->p->connections; i++) {
    struct nbd_handle *h = sh->workers[i].dst;

    if (h == NULL || nbd_can_flush (h) != 1)
      return 0;
    if (nbd_flush (h, 0) == -1) {
      fail (sh, "cannot flush %s: %s", sh->p->dst_uri, nbd_get_error ());
      return -1;
    }
    if (nbd_can_multi_conn (h) == 1)
      return 0;
  }
  return 0;
}

int
copy_run (const struct copy_params *p, struct copy_stats *st, char *err,
          size_t errlen)
{
  struct shared *sh = calloc (1, sizeof *sh);
  unsigned i, k;
  size_t r;
  int ret = -1;

  memset (st, 0, sizeof *st);
  if (sh == NULL) {
    snprintf (err, errlen, "out of memory");
    return -1;
  }
  sh->p = p;
  sh->chunk = COPY_CHUNK;
  pthread_mutex_init (&sh->mu, NULL);
  pthread_cond_init (&sh->cv, NULL);
  sh->md = EVP_MD_fetch (NULL, "SHA256", NULL);
  sh->pair = blockhash_available ();
  for (r = 0; r < p->nranges; r++)
    if (p->ranges[r].offset + p->ranges[r].length > p->start)
      sh->st.total += p->ranges[r].offset + p->ranges[r].length
        - (p->ranges[r].offset > p->start ? p->ranges[r].offset : p->start);
  sh->next_offset = p->start;
  while (sh->next_range < p->nranges &&
         p->ranges[sh->next_range].offset + p->ranges[sh->next_range].length
         <= p->start)
    sh->next_range++;

  for (i = 0; i < p->connections; i++) {
    struct worker *w = &sh->workers[i];

    w->sh = sh;
    w->index = i;
    w->md_ctx = EVP_MD_CTX_new ();
    if (sh->md == NULL || w->md_ctx == NULL ||
        (i == 0 && digest (w->md_ctx, sh->md, zero_block, COPY_BLOCK,
                           sh->zero_digest) == -1)) {
      snprintf (err, errlen, "cannot set up SHA-256 (OpenSSL)");
      goto out;
    }
    for (k = 0; k < SLOTS; k++) {
      w->slots[k].w = w;
      w->slots[k].offset = UINT64_MAX;
      w->slots[k].cap = k < COPY_REQUESTS ? COPY_CHUNK : COPY_SMALL_CHUNK;
      w->slots[k].buf = malloc (w->slots[k].cap);
      if (w->slots[k].buf == NULL) {
        snprintf (err, errlen, "out of memory");
        goto out;
      }
    }
    if (connect_worker (sh, w, err, errlen) == -1)
      goto out;
  }

  sh->st.started = true;
  if (start_workers (sh, err, errlen) == 0) {
    wait_workers (sh);
    if (sh->err[0] == '\0')
      flush_dest (sh);
    if (sh->err[0] == '\0')
      ret = 0;
    else
      snprintf (err, errlen, "%s", sh->err);
  }
  else
    wait_workers (sh);

 out:
  for (i = 0; i < p->connections; i++) {
    struct worker *w = &sh->workers[i];

    if (w->started)
      pthread_join (w->thread, NULL);
  }
  snapshot_stats (sh, st);
  for (i = 0; i < p->connections; i++) {
    struct worker *w = &sh->workers[i];

    if (w->src)
      nbd_close (w->src);
    if (w->dst)
      nbd_close (w->dst);
    for (k = 0; k < SLOTS; k++)
      free (w->slots[k].buf);
    EVP_MD_CTX_free (w->md_ctx);
  }
  EVP_MD_free (sh->md);
  pthread_mutex_destroy (&sh->mu);
  pthread_cond_destroy (&sh->cv);
  free (sh);
  return ret;
}

/* Allocation map. */

struct map {
  struct copy_range *v;
  size_t n, cap;
  uint64_t pos;                 /* where the next extent starts */
  int error;
};

static int
map_add (struct map *m, uint64_t off, uint64_t len, enum copy_kind kind)
{
  if (len == 0)
    return 0;
  if (m->n > 0 && m->v[m->n - 1].kind == kind &&
      m->v[m->n - 1].offset + m->v[m->n - 1].length == off) {
    m->v[m->n - 1].length += len;
    return 0;
  }
  if (m->n == m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 64;
    struct copy_range *v = realloc (m->v, cap * sizeof *v);

    if (v == NULL)
      return -1;
    m->v = v;
    m->cap = cap;
  }
  m->v[m->n++] = (struct copy_range) { off, len, kind };
  return 0;
}

static int
map_extent (void *opaque, const char *metacontext, uint64_t offset,
            uint32_t *entries, size_t nr_entries, int *error)
{
  struct map *m = opaque;
  size_t i;

  if (strcmp (metacontext, LIBNBD_CONTEXT_BASE_ALLOCATION) != 0)
    return 0;
  if (offset != m->pos) {
    m->error = EPROTO;
    return -1;
  }
  for (i = 0; i + 1 < nr_entries; i += 2) {
    enum copy_kind kind = entries[i + 1] & LIBNBD_STATE_ZERO
      ? COPY_ZERO : COPY_DATA;

    if (entries[i] == 0 || map_add (m, m->pos, entries[i], kind) == -1) {
      m->error = entries[i] == 0 ? EPROTO : ENOMEM;
      return -1;
    }
    m->pos += entries[i];
  }
  return 0;
}

int
copy_map (const char *uri, const char *tls_certificates, uint64_t size,
          struct copy_range **ranges, size_t *n, char *err, size_t errlen)
{
  struct nbd_handle *h = connect_uri (uri, tls_certificates, "source", true,
                                      err, errlen);
  struct map m = { 0 };
  nbd_extent_callback cb = { .callback = map_extent, .user_data = &m };

  if (h == NULL)
    return -1;
  if (nbd_can_meta_context (h, LIBNBD_CONTEXT_BASE_ALLOCATION) != 1) {
    if (map_add (&m, 0, size, COPY_DATA) == -1)
      goto nomem;
    goto done;
  }
  while (m.pos < size) {
    uint64_t start = m.pos;

    if (nbd_block_status (h, MIN (size - m.pos, (uint64_t) MAP_REQUEST),
                          m.pos, cb, 0) == -1) {
      snprintf (err, errlen, "block status of %s at offset %" PRIu64 ": %s",
                uri, start, m.error ? strerror (m.error) : nbd_get_error ());
      goto fail;
    }
    if (m.pos == start) {
      snprintf (err, errlen, "block status of %s at offset %" PRIu64
                ": the server described nothing", uri, start);
      goto fail;
    }
  }
  /* A server may describe past the end it asked about. */
  while (m.n > 0 && m.v[m.n - 1].offset >= size)
    m.n--;
  if (m.n > 0 && m.v[m.n - 1].offset + m.v[m.n - 1].length > size)
    m.v[m.n - 1].length = size - m.v[m.n - 1].offset;
 done:
  nbd_close (h);
  *ranges = m.v;
  *n = m.n;
  return 0;

 nomem:
  snprintf (err, errlen, "out of memory");
 fail:
  nbd_close (h);
  free (m.v);
  return -1;
}

/* Append [START, END) of KIND to OUT (room for it is there), merging
 * with the last range.  Only data ranges can overlap the last one
 * (both grown to a shared partial block). */
static void
align_emit (struct copy_range *out, size_t *n, enum copy_kind kind,
            uint64_t start, uint64_t end)
{
  struct copy_range *last = *n ? &out[*n - 1] : NULL;

  if (start >= end)
    return;
  if (last && (start < last->offset + last->length ||
               (start == last->offset + last->length && kind == last->kind))) {
    if (end > last->offset + last->length)
      last->length = end - last->offset;
    return;
  }
  out[(*n)++] = (struct copy_range) { start, end - start, kind };
}

struct copy_range *
copy_align (const struct copy_range *v, size_t n, uint64_t size, size_t *nout)
{
  struct copy_range *out = calloc (n ? 3 * n : 1, sizeof *out);
  size_t i;

  if (out == NULL)
    return NULL;
  *nout = 0;
  for (i = 0; i < n; i++) {
    uint64_t off = v[i].offset, end = off + v[i].length;
    uint64_t a = ALIGN_UP (off), b = end == size ? size : ALIGN_DOWN (end);

    if (v[i].kind == COPY_DATA || a >= b) {
      align_emit (out, nout, COPY_DATA, ALIGN_DOWN (off),
                  MIN (ALIGN_UP (end), size));
      continue;
    }
    /* A zero range keeps its whole blocks; its partial blocks are
     * read as data. */
    align_emit (out, nout, COPY_DATA, ALIGN_DOWN (off), a);
    align_emit (out, nout, COPY_ZERO, a, b);
    align_emit (out, nout, COPY_DATA, b, MIN (ALIGN_UP (end), size));
  }
  return out;
}

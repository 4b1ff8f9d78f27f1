/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * copy.h: the copy engine of snapvolctl backup: copy a list of ranges
 * of an NBD export to a file or to another NBD export, over several
 * connections at once.
 *
 * The engine knows nothing of snapshots, diffs, manifests or holds:
 * its caller says where to read (an NBD URI), where to write (a file
 * descriptor or an NBD URI) and which ranges (from NBD block status
 * for a full copy, from snapshot.diff for an incremental one, from the
 * coordinator later), and gets back counters and, if it asks, a
 * SHA-256 digest of every 4 KiB block it wrote.
 *
 * Contract:
 * - Ranges are sorted by offset and do not overlap.  A COPY_DATA
 *   range is read from the source and written; a block (4 KiB) of it
 *   that reads as zeroes is zeroed on the destination instead (a hole
 *   punched in a file, NBD_CMD_WRITE_ZEROES on an export), so holes
 *   stay holes.  A COPY_ZERO range is not read: it is zeroed on the
 *   destination, or left alone if the caller says the destination
 *   already reads as zeroes there (dst_zeroed).
 * - Memory: COPY_CHUNK bytes per request (less if the source's
 *   maximum block size is smaller), COPY_REQUESTS requests in flight
 *   per connection, and up to COPY_SMALL_REQUESTS more of at most
 *   COPY_SMALL_CHUNK bytes each when the chunks are that small (an
 *   incremental backup's blocks): at most connections * (8 MiB +
 *   896 KiB) of buffers, whatever the size of the export.
 * - Threads: one per connection, each with its own source handle (and
 *   destination handle), driving libnbd's asynchronous API; every
 *   signal is blocked in them.  copy_run's calling thread calls TICK
 *   every tick_ms and sees the workers end.
 * - Writes to a file go through the page cache; a run of at least
 *   COPY_WRITEBACK_MIN bytes has its writeback started at once, and a
 *   few runs later is waited for and dropped from the cache (see
 *   copy.c); shorter runs have their writeback started a few at a
 *   time; so the file's pages are mostly on the disk already when the
 *   caller syncs.
 * - Order: chunks are handed out in ascending offset order, so every
 *   byte below copy_stats.resume is on the destination (written, not
 *   synced: the caller syncs before it records it).  A copy started
 *   again with start = resume finishes the job.
 */

#ifndef SNAPVOL_COPY_H
#define SNAPVOL_COPY_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COPY_BLOCK    4096              /* zero detection and digests */
#define COPY_CHUNK    (1024 * 1024)     /* bytes per read request */
#define COPY_REQUESTS 8                 /* requests in flight per connection */
#define COPY_SMALL_CHUNK (16 * 1024)    /* and, of at most this many bytes, */
#define COPY_SMALL_REQUESTS 56          /*   this many more */
#define COPY_WRITEBACK_MIN (64 * 1024)  /* smallest write written behind */
#define COPY_MAX_CONNECTIONS 16
#define COPY_DIGEST   32                /* SHA-256 */

enum copy_kind { COPY_DATA = 1, COPY_ZERO = 2 };

struct copy_range {
  uint64_t offset, length;
  enum copy_kind kind;
};

/* Counters, read by TICK while the copy runs and complete at the end. */
struct copy_stats {
  uint64_t total;               /* bytes of the ranges from start on */
  uint64_t done;                /* of which finished */
  uint64_t bytes_read;          /* read from the source */
  uint64_t bytes_written;       /* written to the destination as data */
  uint64_t bytes_zeroed;        /* zeroed, punched, or already zero */
  uint64_t resume;              /* every range byte below is done */
  bool started;                 /* connected: writing may have begun */
};

struct copy_params {
  const char *src_uri;          /* the source export */
  const char *dst_uri;          /* the destination export, or NULL: */
  int dst_fd;                   /* the destination file */
  bool dst_zeroed;              /* DST reads as zeroes where not written */
  uint64_t size;                /* bytes of the image: the source's size */
  const struct copy_range *ranges;
  size_t nranges;
  uint64_t start;               /* skip everything below (a resume) */
  unsigned connections;         /* 1..COPY_MAX_CONNECTIONS */
  /* If not NULL, the digest of block I (COPY_DIGEST bytes) goes to
   * sums + I * COPY_DIGEST for every block the copy covers. */
  unsigned char *sums;
  /* Called from copy_run's thread every TICK_MS; returning -1 stops
   * the copy (with the error the function set through copy_fail's
   * message buffer).  May be NULL. */
  int (*tick) (const struct copy_stats *st, void *opaque);
  void *opaque;
  unsigned tick_ms;
  /* Set (by a signal handler) to stop the copy early. */
  volatile sig_atomic_t *stop;
  /* For an nbds:// source or destination: libnbd's TLS certificates
   * directory (nbd_set_tls_certificates), or NULL for its default. */
  const char *tls_certificates;
};

/* Copy P's ranges.  Connects every connection first: a source or a
 * destination that cannot be reached, a read-only destination or one
 * smaller than P->size fail before anything is written.  Returns 0
 * when every range is copied (an NBD destination flushed), or -1 with
 * one line naming what failed and where in ERR (a stop asked by P->STOP
 * or TICK is a failure too: "interrupted").  *ST is filled in either
 * way.  Blocks. */
extern int copy_run (const struct copy_params *p, struct copy_stats *st,
                     char *err, size_t errlen)
  __attribute__((nonnull (1, 2, 3)));

/* The allocation map of the export at URI (of SIZE bytes), from NBD
 * block status (base:allocation): COPY_ZERO where the server says the
 * range reads as zeroes, COPY_DATA elsewhere (everything if the server
 * has no block status).  TLS_CERTIFICATES as in struct copy_params
 * (may be NULL).  *RANGES is malloc'd, sorted, merged.  0, or -1 with
 * ERR filled in. */
extern int copy_map (const char *uri, const char *tls_certificates,
                     uint64_t size, struct copy_range **ranges, size_t *n,
                     char *err, size_t errlen)
  __attribute__((nonnull (1, 4, 5, 6)));

/* RANGES (N of them, sorted, disjoint, within SIZE) made of whole
 * blocks: a data range grows to the blocks it touches, a zero range
 * keeps its whole blocks and gives its partial ones to data;
 * neighbours of one kind merge.  The copy needs this to digest and
 * zero whole blocks.  A new array of *NOUT ranges (free it), or NULL
 * with errno ENOMEM. */
extern struct copy_range *copy_align (const struct copy_range *ranges,
                                      size_t n, uint64_t size, size_t *nout)
  __attribute__((nonnull));

#endif /* SNAPVOL_COPY_H */

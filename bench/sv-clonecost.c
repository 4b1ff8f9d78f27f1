/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * sv-clonecost.c: the cost of writable clones, measured in process
 * through the engine API (server/pool.h): the time pool_volume_clone
 * takes on a fully written volume, a flatten's throughput, and 4 KiB
 * random read latency through a clone against the same reads of a
 * plain volume.
 *
 * Usage: sv-clonecost --dir DIR [--size BYTES] [--clones N]
 *                     [--data-size BYTES] [--reads N] [--no-data]
 *
 * Part 1 (clone creation): in a new pool DIR/map, writes every byte of
 * a volume of BYTES (default 64 GiB) in 1 MiB writes, takes a snapshot
 * and times N clones of it (default 20), each a new volume, in turns
 * with N creations of empty volumes of the same size; the data
 * file's bytes are dropped (nodata.h): a clone reads no data when it
 * is made, only the map and the files it writes are real.  It also
 * counts the syncs (fdatasync, directory fsync) each call asks for,
 * a figure the disk's load does not change.
 * Part 2 (reads and flatten, with real data): in a new pool DIR/data,
 * fills a volume of --data-size (default 1 GiB) with incompressible
 * bytes, snapshots and clones it, reads the whole clone and origin
 * once (untimed: the page cache holds both), then times N 4 KiB reads
 * at random aligned offsets of the clone (all reading through) and of
 * the origin's live volume, alternating, and last times a flatten of
 * the clone (pool_volume_flatten and its wait).  --no-data skips part
 * 2 (scripts/bench's clone case).  Prints one JSON object.
 */

#include <config.h>

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchutil.h"
#include "nodata.h"
#include "pool.h"

#define CHUNK (1024u * 1024u)
#define READ_SIZE 4096u

static void
usage (void)
{
  fprintf (stderr, "usage: sv-clonecost --dir DIR [--size BYTES]"
           " [--clones N] [--data-size BYTES] [--reads N] [--no-data]\n");
  exit (2);
}

/* Write every byte of NAME (SIZE bytes) in 1 MiB writes, random bytes
 * when RANDOM; seconds. */
static double
fill (struct sv_pool *pool, const char *name, uint64_t size, int random)
{
  struct sv_view *v = view_open (pool, name);
  uint64_t off, seed = 1, t0 = bu_now_ns ();
  uint64_t *buf = malloc (CHUNK);
  size_t i;

  if (v == NULL || buf == NULL)
    bu_die ("view_open: %s: %s", name, sv_errmsg ());
  memset (buf, 0x5a, CHUNK);
  for (off = 0; off < size; off += CHUNK) {
    if (random)
      for (i = 0; i < CHUNK / 8; i++)
        buf[i] = bu_rand (&seed);
    if (view_pwrite (v, buf, CHUNK, off, 0) == -1)
      bu_die ("view_pwrite: %" PRIu64 ": %s", off, sv_errmsg ());
  }
  if (view_flush (v) == -1)
    bu_die ("view_flush: %s", sv_errmsg ());
  view_close (v);
  free (buf);
  return (double) (bu_now_ns () - t0) / 1e9;
}

static void
snapshot (struct sv_pool *pool, const char *name, char id[SV_UUID_STRLEN + 1])
{
  const char *vols[] = { name };
  char set[SV_UUID_STRLEN + 1];
  struct sv_snap_result res;

  if (pool_snapshot_create (pool, vols, 1, NULL, NULL, set, &res) == -1)
    bu_die ("pool_snapshot_create: %s", sv_errmsg ());
  memcpy (id, res.id, SV_UUID_STRLEN + 1);
}

static struct sv_pool *
open_pool (const char *dir, const struct sv_io *io)
{
  struct sv_pool_options opts = { .io = io };
  struct sv_pool *pool = pool_open (dir, &opts, 1);

  if (pool == NULL)
    bu_die ("pool_open: %s: %s", dir, sv_errmsg ());
  return pool;
}

/* Part 1. */
static void
clone_creation (const char *dir, uint64_t size, uint64_t n)
{
  struct sv_pool *pool = open_pool (dir, bu_nodata_io ());
  struct bu_samples t = { 0 }, e = { 0 };
  char id[SV_UUID_STRLEN + 1], origin[128], name[32];
  double fill_s;
  uint64_t i, tsyncs = 0, esyncs = 0;

  if (pool_volume_create (pool, "o", size, 0) == -1)
    bu_die ("pool_volume_create: %s", sv_errmsg ());
  fill_s = fill (pool, "o", size, 0);
  snapshot (pool, "o", id);
  snprintf (origin, sizeof origin, "o@%s", id);
  /* In turns with creations of empty volumes of the same size: the
   * files and syncs are the same, so the ratio shows what the clone
   * adds, whatever the disk does that minute. */
  for (i = 0; i < n; i++) {
    uint64_t t0, s0;

    snprintf (name, sizeof name, "c%" PRIu64, i);
    s0 = bu_nodata_syncs ();
    t0 = bu_now_ns ();
    if (pool_volume_clone (pool, origin, name) == -1)
      bu_die ("pool_volume_clone: %s", sv_errmsg ());
    bu_samples_add (&t, (double) (bu_now_ns () - t0) / 1e6);
    tsyncs += bu_nodata_syncs () - s0;
    snprintf (name, sizeof name, "e%" PRIu64, i);
    s0 = bu_nodata_syncs ();
    t0 = bu_now_ns ();
    if (pool_volume_create (pool, name, size, 0) == -1)
      bu_die ("pool_volume_create: %s", sv_errmsg ());
    bu_samples_add (&e, (double) (bu_now_ns () - t0) / 1e6);
    esyncs += bu_nodata_syncs () - s0;
  }
  printf ("\"size\": %" PRIu64 ", \"fill_s\": %.1f, \"clone_syncs\": %.1f,"
          " \"create_syncs\": %.1f, ", size, fill_s, (double) tsyncs / n,
          (double) esyncs / n);
  bu_print_dist (stdout, "clone_ms", &t, 1);
  printf (", ");
  bu_print_dist (stdout, "create_ms", &e, 1);
  printf (", ");
  bu_samples_free (&t);
  bu_samples_free (&e);
  if (pool_close (pool) == -1)
    bu_die ("pool_close: %s", sv_errmsg ());
}

/* Median and 99th percentile of N 4 KiB reads of EXPORT at random
 * offsets (the same offsets for every export: SEED). */
static void
time_reads (struct sv_view *v, uint64_t size, uint64_t n,
            struct bu_samples *s)
{
  char buf[READ_SIZE];
  uint64_t seed = 7, i;

  for (i = 0; i < n; i++) {
    uint64_t off = bu_rand (&seed) % (size / READ_SIZE) * READ_SIZE;
    uint64_t t0 = bu_now_ns ();

    if (view_pread (v, buf, READ_SIZE, off) == -1)
      bu_die ("view_pread: %s", sv_errmsg ());
    bu_samples_add (s, (double) (bu_now_ns () - t0) / 1e3);
  }
}

static void
warm (struct sv_view *v, uint64_t size)
{
  char *buf = malloc (CHUNK);
  uint64_t off;

  if (buf == NULL)
    bu_die ("malloc: %m");
  for (off = 0; off < size; off += CHUNK)
    if (view_pread (v, buf, CHUNK, off) == -1)
      bu_die ("view_pread: %s", sv_errmsg ());
  free (buf);
}

/* Part 2. */
static void
reads_and_flatten (const char *dir, uint64_t size, uint64_t n)
{
  struct sv_pool *pool = open_pool (dir, NULL);
  struct bu_samples rc = { 0 }, ro = { 0 };
  struct sv_view *c, *o;
  char id[SV_UUID_STRLEN + 1], origin[128];
  uint64_t t0, k;
  double flat_s;

  if (pool_volume_create (pool, "o", size, 0) == -1)
    bu_die ("pool_volume_create: %s", sv_errmsg ());
  fill (pool, "o", size, 1);
  snapshot (pool, "o", id);
  snprintf (origin, sizeof origin, "o@%s", id);
  if (pool_volume_clone (pool, origin, "c") == -1)
    bu_die ("pool_volume_clone: %s", sv_errmsg ());
  c = view_open (pool, "c");
  o = view_open (pool, "o");
  if (c == NULL || o == NULL)
    bu_die ("view_open: %s", sv_errmsg ());
  warm (c, size);
  warm (o, size);
  /* In turns of 1,000, so that a slow moment falls on both. */
  for (k = 0; k < n; k += 1000) {
    time_reads (c, size, 1000, &rc);
    time_reads (o, size, 1000, &ro);
  }
  view_close (c);
  view_close (o);

  t0 = bu_now_ns ();
  if (pool_volume_flatten (pool, "c") == -1 ||
      pool_volume_flatten_wait (pool, "c") == -1)
    bu_die ("flatten: %s", sv_errmsg ());
  flat_s = (double) (bu_now_ns () - t0) / 1e9;

  printf ("\"data_size\": %" PRIu64 ", ", size);
  bu_print_dist (stdout, "clone_read_us", &rc, 1);
  printf (", ");
  bu_print_dist (stdout, "plain_read_us", &ro, 1);
  printf (", \"flatten_s\": %.2f, \"flatten_mib_s\": %.0f", flat_s,
          (double) size / (1 << 20) / flat_s);
  bu_samples_free (&rc);
  bu_samples_free (&ro);
  if (pool_close (pool) == -1)
    bu_die ("pool_close: %s", sv_errmsg ());
}

int
main (int argc, char *argv[])
{
  static const struct option longopts[] = {
    { "dir", required_argument, NULL, 'd' },
    { "size", required_argument, NULL, 's' },
    { "clones", required_argument, NULL, 'n' },
    { "data-size", required_argument, NULL, 'D' },
    { "reads", required_argument, NULL, 'r' },
    { "no-data", no_argument, NULL, 'N' },
    { NULL, 0, NULL, 0 },
  };
  const char *dir = NULL;
  int data = 1;
  uint64_t size = 64ull << 30, n = 20, dsize = 1ull << 30, reads = 20000;
  char path[4096];
  int c;

  while ((c = getopt_long (argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case 'd': dir = optarg; break;
    case 's': size = bu_parse_u64 ("--size", optarg); break;
    case 'n': n = bu_parse_u64 ("--clones", optarg); break;
    case 'D': dsize = bu_parse_u64 ("--data-size", optarg); break;
    case 'r': reads = bu_parse_u64 ("--reads", optarg); break;
    case 'N': data = 0; break;
    default: usage ();
    }
  }
  if (dir == NULL || optind != argc || size % CHUNK || dsize % CHUNK ||
      n == 0 || reads == 0)
    usage ();
  printf ("{");
  snprintf (path, sizeof path, "%s/map", dir);
  clone_creation (path, size, n);
  if (data) {
    snprintf (path, sizeof path, "%s/data", dir);
    reads_and_flatten (path, dsize, reads);
    printf (", ");
  }
  printf ("\"clones\": %" PRIu64 "}\n", n);
  return 0;
}

/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * sv-delcost.c: what a snapshot's deletion costs, measured in process
 * through the engine API (server/pool.h): deleting one snapshot with
 * many others present against deleting one alone, the same exclusive
 * size; and the latency of the live volume's 4 KiB random writes
 * while the reclaim of a large snapshot runs, against the same writes
 * without one.
 *
 * Usage: sv-delcost --dir DIR [--size BYTES] [--snaps N] [--rounds R]
 *                   [--exclusive BYTES] [--reclaim-size BYTES]
 *                   [--writes N]
 *
 * Part 1 (deletion cost), data bytes dropped (nodata.h: the map, the
 * journal and their syncs are real): a volume of BYTES (default
 * 16 GiB, 64 KiB clusters) written in full.  "One": R times, take a
 * snapshot, overwrite --exclusive bytes (default 64 MiB) of a region
 * of its own, and time its deletion (the snapshot alone read the
 * region's old data).  "Many": in a new volume written the same way,
 * R snapshots each followed by the overwrite of a region of its own,
 * then N - R more (default 10,000 in all), each after one 64 KiB
 * write at a random place, so that versions newer than the first
 * snapshots lie in every table of the map; then the R oldest are
 * deleted, oldest first, each timed: each alone reads one region's
 * old data when it goes.
 * Part 2 (write latency during a reclaim), the same storage: a volume
 * of twice --reclaim-size (default 4 GiB) written in full, a snapshot,
 * the first half overwritten (the snapshot alone holds it), a second
 * snapshot, kept (so that writes copy on write before and after the
 * first one's deletion alike); then 4 KiB
 * writes at random places of the second half, one every 100 us, each
 * timed: --writes of them (default 20,000) alone, in the third
 * quarter, then, in the fourth (copies on write in both), from the
 * moment the snapshot's deletion begins until its background reclaim
 * ended (volume info's reclaim_running).
 * Prints one JSON object.
 */

#include <config.h>

#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "benchutil.h"
#include "nodata.h"
#include "pool.h"

#define CS (64u * 1024u)
#define CHUNK (1024u * 1024u)

static void
usage (void)
{
  fprintf (stderr, "usage: sv-delcost --dir DIR [--size BYTES] [--snaps N]"
           " [--rounds R] [--exclusive BYTES] [--reclaim-size BYTES]"
           " [--writes N]\n");
  exit (2);
}

static struct sv_pool *
open_pool (const char *dir)
{
  struct sv_pool_options opts = { .io = bu_nodata_io (),
                                  .prealloc = SV_PREALLOC_NONE };
  struct sv_pool *pool = pool_open (dir, &opts, 1);

  if (pool == NULL)
    bu_die ("pool_open: %s: %s", dir, sv_errmsg ());
  return pool;
}

static void
write_range (struct sv_view *v, uint64_t off, uint64_t len, uint32_t chunk)
{
  static char buf[CHUNK];
  uint64_t o;

  memset (buf, 0x5a, sizeof buf);
  for (o = off; o < off + len; o += chunk)
    if (view_pwrite (v, buf, chunk, o, 0) == -1)
      bu_die ("view_pwrite: %" PRIu64 ": %s", o, sv_errmsg ());
}

static struct sv_view *
new_volume (struct sv_pool *pool, const char *name, uint64_t size)
{
  struct sv_view *v;

  if (pool_volume_create (pool, name, size, CS) == -1)
    bu_die ("pool_volume_create: %s", sv_errmsg ());
  v = view_open (pool, name);
  if (v == NULL)
    bu_die ("view_open: %s: %s", name, sv_errmsg ());
  write_range (v, 0, size, CHUNK);
  if (view_flush (v) == -1)
    bu_die ("view_flush: %s", sv_errmsg ());
  return v;
}

static void
snapshot (struct sv_pool *pool, const char *name, char id[SV_UUID_STRLEN + 1])
{
  const char *names[1] = { name };
  struct sv_snap_result res;
  char set[SV_UUID_STRLEN + 1];

  if (pool_snapshot_create (pool, names, 1, NULL, NULL, set, &res) == -1)
    bu_die ("pool_snapshot_create: %s", sv_errmsg ());
  memcpy (id, res.id, SV_UUID_STRLEN + 1);
}

/* Seconds pool_snapshot_delete takes. */
static double
timed_delete (struct sv_pool *pool, const char *id)
{
  uint64_t t0 = bu_now_ns ();

  if (pool_snapshot_delete (pool, id, NULL) == -1)
    bu_die ("pool_snapshot_delete: %s", sv_errmsg ());
  return (double) (bu_now_ns () - t0) / 1e9;
}

static void
part_cost (const char *dir, uint64_t size, uint64_t nsnaps, uint64_t rounds,
           uint64_t excl)
{
  struct bu_samples one = { empty_vector }, many = { empty_vector };
  char (*ids)[SV_UUID_STRLEN + 1];
  struct sv_pool *pool = open_pool (dir);
  struct sv_view *v;
  uint64_t r, k, seed = 7, nclusters = size / CS, t0;

  ids = calloc (nsnaps, sizeof *ids);
  if (ids == NULL || rounds * excl > size || rounds > nsnaps)
    bu_die ("bad sizes");

  v = new_volume (pool, "one", size);
  for (r = 0; r < rounds; r++) {
    snapshot (pool, "one", ids[0]);
    write_range (v, r * excl, excl, CHUNK);
    bu_samples_add (&one, timed_delete (pool, ids[0]));
  }
  view_close (v);

  v = new_volume (pool, "many", size);
  t0 = bu_now_ns ();
  for (k = 0; k < nsnaps; k++) {
    snapshot (pool, "many", ids[k]);
    if (k < rounds)
      write_range (v, k * excl, excl, CHUNK);
    else
      write_range (v, (bu_rand (&seed) % nclusters) * CS, CS, CS);
  }
  if (view_flush (v) == -1)
    bu_die ("view_flush: %s", sv_errmsg ());
  fprintf (stderr, "sv-delcost: %" PRIu64 " snapshots taken in %.1f s\n",
           nsnaps, (double) (bu_now_ns () - t0) / 1e9);
  for (r = 0; r < rounds; r++)
    bu_samples_add (&many, timed_delete (pool, ids[r]));
  view_close (v);
  if (pool_close (pool) == -1)
    bu_die ("pool_close: %s", sv_errmsg ());

  printf ("\"delete\": {\"snaps\": %" PRIu64 ", \"exclusive_bytes\": %"
          PRIu64 ", ", nsnaps, excl);
  bu_print_dist (stdout, "one", &one, 1e3);
  printf (", ");
  bu_print_dist (stdout, "many", &many, 1e3);
  printf (", \"ratio\": %.2f}", bu_percentile (&many, 50) /
          bu_percentile (&one, 50));
  bu_samples_free (&one);
  bu_samples_free (&many);
  free (ids);
}

#ifdef SV_RECLAIM_STEP_DEFAULT
/* Part 2's writer. */
struct writer {
  struct sv_view *v;
  uint64_t base, span, max;
  struct bu_samples lat;
  int stop;                     /* atomic */
};

#define PACE_NS 100000u

static void *
writer_run (void *arg)
{
  struct writer *w = arg;
  static char buf[4096];
  uint64_t seed = 11, n, start = bu_now_ns ();

  memset (buf, 0xa5, sizeof buf);
  for (n = 0; n < w->max && !__atomic_load_n (&w->stop, __ATOMIC_ACQUIRE);
       n++) {
    uint64_t off = w->base + (bu_rand (&seed) % (w->span / 4096)) * 4096;
    uint64_t t0;

    bu_sleep_until (start + n * PACE_NS);
    t0 = bu_now_ns ();
    if (view_pwrite (w->v, buf, sizeof buf, off, 0) == -1)
      bu_die ("view_pwrite: %s", sv_errmsg ());
    bu_samples_add (&w->lat, (double) (bu_now_ns () - t0) / 1e9);
  }
  return NULL;
}

static int
reclaim_running (struct sv_pool *pool)
{
  struct sv_volume_info *vi;
  size_t n;
  int r;

  if (pool_volume_list (pool, "lat", &vi, &n) == -1 || n != 1)
    bu_die ("pool_volume_list: %s", sv_errmsg ());
  r = vi[0].reclaim_running;
  free (vi);
  return r;
}

static void
part_latency (const char *dir, uint64_t rsize, uint64_t writes)
{
  struct sv_pool *pool = open_pool (dir);
  struct writer base = { 0 }, during = { 0 };
  char id[SV_UUID_STRLEN + 1], keep[SV_UUID_STRLEN + 1];
  struct sv_view *v;
  pthread_t t;
  uint64_t t0;
  double del, total;

  v = new_volume (pool, "lat", 2 * rsize);
  snapshot (pool, "lat", id);
  write_range (v, 0, rsize, CHUNK);
  snapshot (pool, "lat", keep);

  base = (struct writer) { v, rsize, rsize / 2, writes, { empty_vector },
                           0 };
  writer_run (&base);

  during = (struct writer) { v, rsize + rsize / 2, rsize / 2, UINT64_MAX,
                             { empty_vector }, 0 };
  if (pthread_create (&t, NULL, writer_run, &during) != 0)
    bu_die ("pthread_create: %m");
  t0 = bu_now_ns ();
  del = timed_delete (pool, id);
  while (reclaim_running (pool)) {
    struct timespec ts = { 0, 1000 * 1000 };
    nanosleep (&ts, NULL);
  }
  total = (double) (bu_now_ns () - t0) / 1e9;
  __atomic_store_n (&during.stop, 1, __ATOMIC_RELEASE);
  pthread_join (t, NULL);
  view_close (v);
  if (pool_close (pool) == -1)
    bu_die ("pool_close: %s", sv_errmsg ());

  printf (", \"reclaim\": {\"bytes\": %" PRIu64 ", \"delete_s\": %.4f,"
          " \"reclaim_s\": %.3f, ", rsize, del, total);
  bu_print_dist (stdout, "write_alone", &base.lat, 1e6);
  printf (", ");
  bu_print_dist (stdout, "write_during", &during.lat, 1e6);
  printf (", \"p99_ratio\": %.2f}", bu_percentile (&during.lat, 99) /
          bu_percentile (&base.lat, 99));
  bu_samples_free (&base.lat);
  bu_samples_free (&during.lat);
}
#endif

int
main (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "dir", required_argument, NULL, 'd' },
    { "size", required_argument, NULL, 's' },
    { "snaps", required_argument, NULL, 'n' },
    { "rounds", required_argument, NULL, 'r' },
    { "exclusive", required_argument, NULL, 'e' },
    { "reclaim-size", required_argument, NULL, 'R' },
    { "writes", required_argument, NULL, 'w' },
    { NULL, 0, NULL, 0 },
  };
  const char *dir = NULL;
  uint64_t size = 16ull << 30, nsnaps = 10000, rounds = 5;
  uint64_t excl = 64ull << 20, rsize = 4ull << 30, writes = 20000;
  char sub[4096];
  int c;

  while ((c = getopt_long (argc, argv, "", longopts, NULL)) != -1)
    switch (c) {
    case 'd': dir = optarg; break;
    case 's': size = bu_parse_u64 ("--size", optarg); break;
    case 'n': nsnaps = bu_parse_u64 ("--snaps", optarg); break;
    case 'r': rounds = bu_parse_u64 ("--rounds", optarg); break;
    case 'e': excl = bu_parse_u64 ("--exclusive", optarg); break;
    case 'R': rsize = bu_parse_u64 ("--reclaim-size", optarg); break;
    case 'w': writes = bu_parse_u64 ("--writes", optarg); break;
    default: usage ();
    }
  if (dir == NULL || optind != argc || size % CHUNK || excl % CHUNK ||
      rsize % CHUNK || rounds == 0 || excl == 0 || rsize == 0)
    usage ();
  printf ("{");
  snprintf (sub, sizeof sub, "%s/delcost", dir);
  part_cost (sub, size, nsnaps, rounds, excl);
#ifdef SV_RECLAIM_STEP_DEFAULT
  snprintf (sub, sizeof sub, "%s/dellat", dir);
  part_latency (sub, rsize, writes);
#endif
  printf ("}\n");
  return 0;
}

/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * sv-diffcost.c: the time of a whole paged snapshot diff
 * (pool_snapshot_diff) and the memory one page holds, measured in
 * process through the engine API (server/pool.h).
 *
 * Usage: sv-diffcost --dir DIR [--clusters N] [--writes W]
 *                    [--max-ranges M] [--runs R]
 *
 * Creates one volume of N 4 KiB clusters (default 1,048,576: 4 GiB) in
 * a new pool in DIR and writes every cluster once, 4 KiB at a time in
 * random order ("random fill": the map holds a run per cluster or so,
 * the worst shape), takes snapshot A, writes W random 4 KiB clusters
 * (default 10,000), takes snapshot B, and then times R whole diffs of
 * A..B in pages of M ranges (default 4096, snapshot.diff's default),
 * each page building the JSON array the control method answers with
 * (jansson objects, encoded compactly).  The data file's bytes are
 * dropped (nodata.h): the diff reads only the map.  Prints one JSON
 * object: the fill and snapshot times, the ranges and pages, the
 * diff's time (median, max), A..live the same way, and the heap a
 * page of M ranges holds (its JSON) and its encoded size.
 */

#include <config.h>

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "benchutil.h"
#include "nodata.h"
#include "pool.h"

#define CLUSTER 4096u
#define FLUSH_EVERY 8192u

struct page {
  json_t *ranges;
  uint64_t ranges_total;
};

static int
add_range (uint64_t off, uint64_t len, enum sv_diff_kind kind, void *opaque)
{
  struct page *pg = opaque;
  json_t *r = json_pack ("{s:I, s:I, s:s}", "offset", (json_int_t) off,
                         "length", (json_int_t) len,
                         "kind", kind == SV_DIFF_ZERO ? "zero" : "data");

  if (r == NULL || json_array_append_new (pg->ranges, r) == -1)
    bu_die ("json: out of memory");
  pg->ranges_total++;
  return 0;
}

/* One whole diff FROM..TO in pages of MAX ranges; the largest page's
 * heap and encoded size into *HEAP and *BYTES. */
static double
whole_diff (struct sv_pool *pool, const char *from, const char *to,
            size_t max, uint64_t *nranges, uint64_t *npages, uint64_t *heap,
            uint64_t *bytes)
{
  uint64_t start = 0, next, t0 = bu_now_ns ();
  struct page pg = { 0 };

  *npages = 0;
  do {
    uint64_t h0 = bu_heap_bytes (), h1;
    char *text;

    pg.ranges = json_array ();
    if (pg.ranges == NULL)
      bu_die ("json: out of memory");
    if (pool_snapshot_diff (pool, "d", from, to, start, max, add_range, &pg,
                            &next) == -1)
      bu_die ("pool_snapshot_diff: %s", sv_errmsg ());
    h1 = bu_heap_bytes ();
    text = json_dumps (pg.ranges, JSON_COMPACT);
    if (text == NULL)
      bu_die ("json_dumps: out of memory");
    if (h1 - h0 > *heap && h1 > h0)
      *heap = h1 - h0;
    if (strlen (text) > *bytes)
      *bytes = strlen (text);
    free (text);
    json_decref (pg.ranges);
    start = next;
    (*npages)++;
  } while (next != UINT64_MAX);
  *nranges = pg.ranges_total;
  return (double) (bu_now_ns () - t0) / 1e6;
}

static void
usage (void)
{
  fprintf (stderr, "usage: sv-diffcost --dir DIR [--clusters N] [--writes W]"
           " [--max-ranges M] [--runs R]\n");
  exit (2);
}

static void
write_or_die (struct sv_view *v, const char *buf, uint64_t off)
{
  if (view_pwrite (v, buf, CLUSTER, off, 0) == -1)
    bu_die ("view_pwrite: %" PRIu64 ": %s", off, sv_errmsg ());
}

static void
snapshot (struct sv_pool *pool, char id[SV_UUID_STRLEN + 1])
{
  const char *vols[1] = { "d" };
  char set[SV_UUID_STRLEN + 1];
  struct sv_snap_result res;

  if (pool_snapshot_create (pool, vols, 1, NULL, NULL, set, &res) == -1)
    bu_die ("pool_snapshot_create: %s", sv_errmsg ());
  memcpy (id, res.id, SV_UUID_STRLEN + 1);
}

int
main (int argc, char *argv[])
{
  static const struct option longopts[] = {
    { "dir", required_argument, NULL, 'd' },
    { "clusters", required_argument, NULL, 'n' },
    { "writes", required_argument, NULL, 'w' },
    { "max-ranges", required_argument, NULL, 'm' },
    { "runs", required_argument, NULL, 'r' },
    { NULL, 0, NULL, 0 },
  };
  static char buf[CLUSTER];
  const char *dir = NULL;
  uint64_t n = 1048576, w = 10000, max = 4096, runs = 5, seed = 11, i;
  uint64_t *perm, t0, t1, t2, nranges = 0, npages = 0, heap = 0, bytes = 0;
  uint64_t lranges = 0, lpages = 0;
  struct bu_samples ab = { 0 }, al = { 0 };
  struct sv_pool_options opts = { 0 };
  char a[SV_UUID_STRLEN + 1], b[SV_UUID_STRLEN + 1];
  struct sv_pool *pool;
  struct sv_view *v;
  int c;

  while ((c = getopt_long (argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case 'd': dir = optarg; break;
    case 'n': n = bu_parse_u64 ("--clusters", optarg); break;
    case 'w': w = bu_parse_u64 ("--writes", optarg); break;
    case 'm': max = bu_parse_u64 ("--max-ranges", optarg); break;
    case 'r': runs = bu_parse_u64 ("--runs", optarg); break;
    default: usage ();
    }
  }
  if (dir == NULL || n == 0 || max == 0 || runs == 0 || optind != argc)
    usage ();

  memset (buf, 0x5a, sizeof buf);
  opts.default_cluster_size = CLUSTER;
  opts.io = bu_nodata_io ();
  opts.prealloc = SV_PREALLOC_NONE;
  pool = pool_open (dir, &opts, 1);
  if (pool == NULL)
    bu_die ("pool_open: %s: %s", dir, sv_errmsg ());
  if (pool_volume_create (pool, "d", n * CLUSTER, CLUSTER) == -1)
    bu_die ("pool_volume_create: d: %s", sv_errmsg ());
  v = view_open (pool, "d");
  if (v == NULL)
    bu_die ("view_open: d: %s", sv_errmsg ());

  /* Every cluster once, in random order (Fisher-Yates). */
  perm = malloc (n * sizeof *perm);
  if (perm == NULL)
    bu_die ("malloc: %" PRIu64 " clusters: %m", n);
  for (i = 0; i < n; i++)
    perm[i] = i;
  for (i = n - 1; i > 0; i--) {
    uint64_t j = bu_rand (&seed) % (i + 1), t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  t0 = bu_now_ns ();
  for (i = 0; i < n; i++) {
    write_or_die (v, buf, perm[i] * CLUSTER);
    if ((i + 1) % FLUSH_EVERY == 0 && view_flush (v) == -1)
      bu_die ("view_flush: %s", sv_errmsg ());
  }
  free (perm);
  snapshot (pool, a);
  t1 = bu_now_ns ();
  for (i = 0; i < w; i++)
    write_or_die (v, buf, (bu_rand (&seed) % n) * CLUSTER);
  snapshot (pool, b);
  /* The live volume moves on after B: A..live sees those too. */
  for (i = 0; i < w / 10; i++)
    write_or_die (v, buf, (bu_rand (&seed) % n) * CLUSTER);
  if (view_flush (v) == -1)
    bu_die ("view_flush: %s", sv_errmsg ());
  t2 = bu_now_ns ();

  for (i = 0; i < runs; i++) {
    bu_samples_add (&ab, whole_diff (pool, a, b, max, &nranges, &npages,
                                     &heap, &bytes));
    bu_samples_add (&al, whole_diff (pool, a, NULL, max, &lranges, &lpages,
                                     &heap, &bytes));
  }

  printf ("{\"clusters\": %" PRIu64 ", \"writes\": %" PRIu64
          ", \"max_ranges\": %" PRIu64 ", \"fill_s\": %.1f"
          ", \"writes_s\": %.2f, \"ranges\": %" PRIu64 ", \"pages\": %"
          PRIu64 ", \"live_ranges\": %" PRIu64 ", ",
          n, w, max, (double) (t1 - t0) / 1e9, (double) (t2 - t1) / 1e9,
          nranges, npages, lranges);
  bu_print_dist (stdout, "diff_ms", &ab, 1);
  printf (", ");
  bu_print_dist (stdout, "live_diff_ms", &al, 1);
  printf (", \"page_heap_bytes\": %" PRIu64 ", \"page_json_bytes\": %"
          PRIu64 "}\n", heap, bytes);
  bu_samples_free (&ab);
  bu_samples_free (&al);
  view_close (v);
  if (pool_close (pool) == -1)
    bu_die ("pool_close: %s", sv_errmsg ());
  return 0;
}

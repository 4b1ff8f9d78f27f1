/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * sv-mapmem.c: the memory the engine holds per allocated cluster (the
 * extent map and what goes with it) and the metadata it writes to disk,
 * measured in process through the engine API (server/pool.h).
 *
 * Usage: sv-mapmem --dir DIR --pattern random|sequential --clusters N
 *                  --size BYTES [--cluster-size BYTES]
 *
 * Creates one volume of BYTES in a new pool in DIR and allocates N of
 * its clusters: with "random", one 4 KiB write into each of N distinct
 * clusters picked at random over the whole volume; with "sequential",
 * 1 MiB writes over the first N clusters.  Prints one JSON object: the
 * heap (mallinfo2) and resident-memory growth per allocated cluster,
 * and the bytes of checkpoint and journal on disk per cluster after a
 * clean close.
 *
 * The writes go through a storage layer (struct sv_io, see
 * server/sio.h) that passes everything to the POSIX one except the
 * data file's reads, writes, syncs and reservations, which it drops:
 * data bytes do not change the map, and dropping them lets a run cover
 * a terabyte of clusters with no disk.  Journal and checkpoint I/O is
 * real.
 */

#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "benchutil.h"
#include "nodata.h"
#include "pool.h"

#define FLUSH_EVERY 8192u
#define SEQ_CHUNK (1024u * 1024u)
#define RAND_WRITE 4096u

/* Bytes of checkpoint and journal files in the volume directory. */
static uint64_t
metadata_bytes (const char *voldir)
{
  DIR *d = opendir (voldir);
  struct dirent *e;
  uint64_t total = 0;
  struct stat st;

  if (d == NULL)
    bu_die ("opendir: %s: %m", voldir);
  while ((e = readdir (d)) != NULL) {
    if (strcmp (e->d_name, "checkpoint") != 0 &&
        strncmp (e->d_name, "journal.", 8) != 0)
      continue;
    if (fstatat (dirfd (d), e->d_name, &st, 0) == -1)
      bu_die ("stat: %s/%s: %m", voldir, e->d_name);
    total += (uint64_t) st.st_size;
  }
  closedir (d);
  return total;
}

static void
write_or_die (struct sv_view *v, const void *buf, uint32_t n, uint64_t off)
{
  if (view_pwrite (v, buf, n, off, 0) == -1)
    bu_die ("view_pwrite: offset %" PRIu64 ": %s", off, sv_errmsg ());
}

static void
usage (void)
{
  fprintf (stderr,
           "Usage: %s --dir DIR --pattern random|sequential --clusters N\n"
           "          --size BYTES [--cluster-size BYTES]\n",
           program_invocation_short_name);
  exit (2);
}

int
main (int argc, char *argv[])
{
  static const struct option longopts[] = {
    { "dir", required_argument, NULL, 'd' },
    { "pattern", required_argument, NULL, 'p' },
    { "clusters", required_argument, NULL, 'n' },
    { "size", required_argument, NULL, 's' },
    { "cluster-size", required_argument, NULL, 'c' },
    { NULL, 0, NULL, 0 },
  };
  static char buf[SEQ_CHUNK];
  const char *dir = NULL, *pattern = NULL;
  uint64_t n = 0, size = 0, cs = SV_CLUSTER_DEFAULT, nclusters, i;
  uint64_t heap0, rss0, heap1, rss1, meta, t0, t1, seed = 7;
  uint8_t *used = NULL;
  struct sv_pool_options opts = { 0 };
  struct sv_pool *pool;
  struct sv_view *v;
  struct sv_volume_info *info;
  size_t ninfo;
  char voldir[4096];
  int is_random, c;

  while ((c = getopt_long (argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case 'd': dir = optarg; break;
    case 'p': pattern = optarg; break;
    case 'n': n = bu_parse_u64 ("--clusters", optarg); break;
    case 's': size = bu_parse_u64 ("--size", optarg); break;
    case 'c': cs = bu_parse_u64 ("--cluster-size", optarg); break;
    default: usage ();
    }
  }
  if (dir == NULL || pattern == NULL || n == 0 || size == 0 || optind != argc)
    usage ();
  if (strcmp (pattern, "random") == 0)
    is_random = 1;
  else if (strcmp (pattern, "sequential") == 0)
    is_random = 0;
  else
    bu_die ("--pattern: '%s': expected random or sequential", pattern);
  if (cs < SV_CLUSTER_MIN || cs > SV_CLUSTER_MAX || (cs & (cs - 1)) != 0)
    bu_die ("--cluster-size: %" PRIu64 " is not a power of two in %u..%u",
            cs, SV_CLUSTER_MIN, SV_CLUSTER_MAX);
  nclusters = size / cs;
  if (n > nclusters || (is_random && n > nclusters / 2))
    bu_die ("--clusters: %" PRIu64 " is too many for %" PRIu64
            " clusters (random: at most half)", n, nclusters);

  memset (buf, 0x5a, sizeof buf);
  if (is_random && (used = calloc ((nclusters + 7) / 8, 1)) == NULL)
    bu_die ("calloc: %" PRIu64 " bits: %m", nclusters);
  opts.default_cluster_size = (uint32_t) cs;
  opts.io = bu_nodata_io ();
  pool = pool_open (dir, &opts, 1);
  if (pool == NULL)
    bu_die ("pool_open: %s: %s", dir, sv_errmsg ());
  if (pool_volume_create (pool, "m", size, (uint32_t) cs) == -1)
    bu_die ("pool_volume_create: m: %s", sv_errmsg ());
  v = view_open (pool, "m");
  if (v == NULL)
    bu_die ("view_open: m: %s", sv_errmsg ());
  if (view_flush (v) == -1)
    bu_die ("view_flush: %s", sv_errmsg ());

  heap0 = bu_heap_bytes ();
  rss0 = bu_rss_bytes ();
  t0 = bu_now_ns ();
  if (is_random) {
    for (i = 0; i < n; i++) {
      uint64_t vci, sub;
      do
        vci = bu_rand (&seed) % nclusters;
      while (used[vci / 8] & (1u << (vci % 8)));
      used[vci / 8] |= 1u << (vci % 8);
      sub = bu_rand (&seed) % (cs / RAND_WRITE);
      write_or_die (v, buf, RAND_WRITE, vci * cs + sub * RAND_WRITE);
      if ((i + 1) % FLUSH_EVERY == 0 && view_flush (v) == -1)
        bu_die ("view_flush: %s", sv_errmsg ());
    }
  }
  else {
    uint64_t end = n * cs, off, k = 0;
    for (off = 0; off < end; off += SEQ_CHUNK, k++) {
      uint32_t len = end - off < SEQ_CHUNK ? (uint32_t) (end - off) : SEQ_CHUNK;
      write_or_die (v, buf, len, off);
      if ((k + 1) % (FLUSH_EVERY / 16) == 0 && view_flush (v) == -1)
        bu_die ("view_flush: %s", sv_errmsg ());
    }
  }
  if (view_flush (v) == -1)
    bu_die ("view_flush: %s", sv_errmsg ());
  t1 = bu_now_ns ();
  heap1 = bu_heap_bytes ();
  rss1 = bu_rss_bytes ();

  if (pool_volume_list (pool, "m", &info, &ninfo) == -1 || ninfo != 1)
    bu_die ("pool_volume_list: m: %s", sv_errmsg ());
  view_close (v);
  if (pool_close (pool) == -1)
    bu_die ("pool_close: %s", sv_errmsg ());
  snprintf (voldir, sizeof voldir, "%s/volumes/m", dir);
  meta = metadata_bytes (voldir);

  printf ("{\"pattern\": \"%s\", \"clusters\": %" PRIu64
          ", \"cluster_size\": %" PRIu64 ", \"volume_size\": %" PRIu64
          ", \"allocated_bytes\": %" PRIu64 ", \"write_s\": %.3f"
          ", \"heap_bytes\": %" PRIu64 ", \"rss_bytes\": %" PRIu64
          ", \"heap_per_cluster\": %.2f, \"rss_per_cluster\": %.2f"
          ", \"metadata_bytes\": %" PRIu64 ", \"metadata_per_cluster\": %.2f}\n",
          pattern, n, cs, size, info[0].allocated_bytes, (double) (t1 - t0) / 1e9,
          heap1 - heap0, rss1 > rss0 ? rss1 - rss0 : 0,
          (double) (heap1 - heap0) / (double) n,
          (double) (rss1 > rss0 ? rss1 - rss0 : 0) / (double) n,
          meta, (double) meta / (double) n);
  free (info);
  free (used);
  return 0;
}

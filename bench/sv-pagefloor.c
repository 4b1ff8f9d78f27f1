/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * sv-pagefloor.c: what a buffered 4 KiB write costs the filesystem
 * under the pool when it lands in a page that is not in the page cache
 * yet, against overwriting a cached page: the floor under the first
 * writes after a snapshot, which go to new clusters, against the
 * steady state, which overwrites in place.
 *
 * Usage: sv-pagefloor --dir DIR [--rounds N] [--writes N]
 *
 * In a scratch file in DIR, one thread, each round: N 4 KiB pwrites one
 * per 64 KiB (the layout of first writes: one subcluster in each new
 * cluster) into a hole past the end of the file; the same into a range
 * reserved first with fallocate and inside the file's size (mode 0),
 * as snapvol's data file is (sv_pool_options.prealloc); and the
 * reserved writes again, now overwrites of cached pages.  Prints the per-write mean of
 * each kind per round as distributions over the rounds (JSON, us) and
 * the medians' ratios; the scratch file is removed.
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchutil.h"

#define STRIDE (64 * 1024)
#define WSIZE 4096

static double
write_pass (int fd, const char *buf, uint64_t base, uint64_t n,
            const char *path)
{
  uint64_t i, t0 = bu_now_ns ();

  for (i = 0; i < n; i++)
    if (pwrite (fd, buf, WSIZE, (off_t) (base + i * STRIDE)) != WSIZE)
      bu_die ("pwrite: %s: %m", path);
  return (double) (bu_now_ns () - t0) / (double) n;
}

static void
usage (void)
{
  fprintf (stderr, "Usage: %s --dir DIR [--rounds N] [--writes N]\n",
           program_invocation_short_name);
  exit (2);
}

int
main (int argc, char *argv[])
{
  static const struct option longopts[] = {
    { "dir", required_argument, NULL, 'd' },
    { "rounds", required_argument, NULL, 'r' },
    { "writes", required_argument, NULL, 'w' },
    { NULL, 0, NULL, 0 },
  };
  const char *dir = NULL;
  uint64_t rounds = 5, n = 8192, r, base = 0;
  struct bu_samples hole = { 0 }, reserved = { 0 }, over = { 0 };
  static char buf[WSIZE];
  char path[4096];
  int fd, c;

  while ((c = getopt_long (argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case 'd': dir = optarg; break;
    case 'r': rounds = bu_parse_u64 ("--rounds", optarg); break;
    case 'w': n = bu_parse_u64 ("--writes", optarg); break;
    default: usage ();
    }
  }
  if (dir == NULL || rounds == 0 || n == 0 || optind != argc)
    usage ();

  snprintf (path, sizeof path, "%s/pagefloor.XXXXXX", dir);
  fd = mkstemp (path);
  if (fd == -1)
    bu_die ("mkstemp: %s: %m", path);
  memset (buf, 0x5a, sizeof buf);
  for (r = 0; r < rounds; r++) {
    uint64_t span = n * STRIDE;

    bu_samples_add (&hole, write_pass (fd, buf, base, n, path) / 1e3);
    base += span;
    if (fallocate (fd, 0, (off_t) base, (off_t) span) == -1)
      bu_die ("fallocate: %s: %m (the filesystem cannot reserve)", path);
    bu_samples_add (&reserved, write_pass (fd, buf, base, n, path) / 1e3);
    bu_samples_add (&over, write_pass (fd, buf, base, n, path) / 1e3);
    base += span;
  }
  close (fd);
  unlink (path);

  printf ("{\"writes_per_round\": %" PRIu64 ", ", n);
  bu_print_dist (stdout, "hole_us", &hole, 1);
  fputs (", ", stdout);
  bu_print_dist (stdout, "reserved_us", &reserved, 1);
  fputs (", ", stdout);
  bu_print_dist (stdout, "overwrite_us", &over, 1);
  printf (", \"overwrite_over_hole\": %.3f, \"overwrite_over_reserved\": %.3f}\n",
          bu_percentile (&over, 50) / bu_percentile (&hole, 50),
          bu_percentile (&over, 50) / bu_percentile (&reserved, 50));
  bu_samples_free (&hole);
  bu_samples_free (&reserved);
  bu_samples_free (&over);
  return 0;
}

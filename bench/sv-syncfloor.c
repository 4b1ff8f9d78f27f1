/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * sv-syncfloor.c: how long the filesystem under the pool takes to make
 * a small append durable, the floor under any durable snapshot.
 *
 * Usage: sv-syncfloor --dir DIR [--samples N]
 *
 * In a scratch file in DIR, measures N times: fdatasync of a file with
 * nothing dirty (what syncing the data file costs when no write came
 * since the last flush) and a 64-byte append followed by fdatasync (a
 * journal record made durable; the file grows, so the filesystem must
 * commit its metadata too).  A snapshot's flush does one of each, so
 * their sum is the least a durable snapshot can take here.  Prints one
 * JSON object; the scratch file is removed.
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

static void
usage (void)
{
  fprintf (stderr, "Usage: %s --dir DIR [--samples N]\n",
           program_invocation_short_name);
  exit (2);
}

int
main (int argc, char *argv[])
{
  static const struct option longopts[] = {
    { "dir", required_argument, NULL, 'd' },
    { "samples", required_argument, NULL, 'n' },
    { NULL, 0, NULL, 0 },
  };
  const char *dir = NULL;
  uint64_t n = 200, i, t0, t1, t2;
  char path[4096], rec[64];
  struct bu_samples clean = { 0 }, append = { 0 }, both = { 0 };
  off_t off = 0;
  int fd, c;

  while ((c = getopt_long (argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case 'd': dir = optarg; break;
    case 'n': n = bu_parse_u64 ("--samples", optarg); break;
    default: usage ();
    }
  }
  if (dir == NULL || n == 0 || optind != argc)
    usage ();

  snprintf (path, sizeof path, "%s/syncfloor.XXXXXX", dir);
  fd = mkstemp (path);
  if (fd == -1)
    bu_die ("mkstemp: %s: %m", path);
  memset (rec, 0x33, sizeof rec);
  if (fdatasync (fd) == -1)
    bu_die ("fdatasync: %s: %m", path);
  for (i = 0; i < n; i++) {
    t0 = bu_now_ns ();
    if (fdatasync (fd) == -1)
      bu_die ("fdatasync: %s: %m", path);
    t1 = bu_now_ns ();
    if (pwrite (fd, rec, sizeof rec, off) != (ssize_t) sizeof rec)
      bu_die ("pwrite: %s: %m", path);
    if (fdatasync (fd) == -1)
      bu_die ("fdatasync: %s: %m", path);
    t2 = bu_now_ns ();
    off += sizeof rec;
    bu_samples_add (&clean, (double) (t1 - t0));
    bu_samples_add (&append, (double) (t2 - t1));
    bu_samples_add (&both, (double) (t2 - t0));
  }
  close (fd);
  unlink (path);

  printf ("{");
  bu_print_dist (stdout, "clean_fdatasync_ms", &clean, 1e-6);
  fputs (", ", stdout);
  bu_print_dist (stdout, "append_fdatasync_ms", &append, 1e-6);
  fputs (", ", stdout);
  bu_print_dist (stdout, "both_ms", &both, 1e-6);
  fputs ("}\n", stdout);
  bu_samples_free (&clean);
  bu_samples_free (&append);
  bu_samples_free (&both);
  return 0;
}

/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * sv-snapcost.c: the cost of taking a snapshot, measured in process
 * through the engine API (server/pool.h): the time pool_snapshot_create
 * takes, how long the write gate stays closed (the write hold), and the
 * longest write a concurrent writer sees meanwhile.
 *
 * Usage: sv-snapcost --dir DIR [--size BYTES] [--fill] [--volumes N]
 *                    [--existing N] [--samples N] [--rate WRITES/S]
 *                    [--raw FILE]
 *
 * Creates N volumes of BYTES in a new pool in DIR (with --fill, writes
 * every byte of them first), starts a writer thread issuing 4 KiB
 * writes at random offsets of the volumes at RATE per second, takes
 * --existing snapshot sets that stay, then takes --samples sets of all
 * the volumes, one at a time, deleting each once measured (so the
 * number of snapshots stays --existing + 1) and flushing the volumes
 * (untimed) 2 ms before the next.  Prints one JSON object; with --raw,
 * also appends one line per sample to FILE: the call, the write hold
 * and the writer's longest write, in nanoseconds (scripts/bench merges
 * the samples of several runs taken in turn with other cases).
 *
 * Design notes: timing the write hold
 * -----------------------------------
 * The engine has no timing hook on its write gate.  This program is
 * linked with -Wl,--wrap=gate_hold,--wrap=gate_release, so pool.c's
 * calls reach the wrappers below, which timestamp them and call the
 * real functions.  The hold of a set starts when the first gate_hold
 * of the snapshot call begins (new writes are kept out from there, and
 * writes in flight drain inside it) and ends when the last gate of the
 * set is released (phase 3 of pool.c's pin protocol).  Only calls made
 * by the measuring thread while a sample is open count, so the gate
 * holds of checkpoints and deletions are left out.
 */

#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchutil.h"
#include "pool.h"

#define WRITE_SIZE 4096u
#define FILL_CHUNK (1024u * 1024u)
#define MAX_VOLUMES 1024

struct gate;
extern void __real_gate_hold (struct gate *g);
extern void __real_gate_release (struct gate *g);
extern void __wrap_gate_hold (struct gate *g);
extern void __wrap_gate_release (struct gate *g);

/* The sample being measured, per thread (see the design notes). */
static __thread struct {
  int active;
  size_t nvolumes, released;
  uint64_t hold_start, hold_end;
} rec;

void
__wrap_gate_hold (struct gate *g)
{
  if (rec.active && rec.hold_start == 0)
    rec.hold_start = bu_now_ns ();
  __real_gate_hold (g);
}

void
__wrap_gate_release (struct gate *g)
{
  __real_gate_release (g);
  if (rec.active && ++rec.released == rec.nvolumes) {
    rec.hold_end = bu_now_ns ();
    rec.active = 0;
  }
}

struct writer {
  struct sv_view **views;
  size_t nviews;
  uint64_t size;
  uint64_t rate;
  pthread_t thread;
  int stop;                     /* atomic */
  uint64_t max_ns;              /* atomic: longest write since reset */
  uint64_t nwrites;             /* atomic */
};

static void *
writer_run (void *arg)
{
  struct writer *w = arg;
  static char buf[WRITE_SIZE];
  uint64_t seed = 0x9e3779b97f4a7c15u, k, period = 1000000000u / w->rate;
  uint64_t deadline = bu_now_ns ();

  memset (buf, 0xa5, sizeof buf);
  for (k = 0; !__atomic_load_n (&w->stop, __ATOMIC_RELAXED); k++) {
    struct sv_view *v = w->views[k % w->nviews];
    uint64_t off = bu_rand (&seed) % (w->size / WRITE_SIZE) * WRITE_SIZE;
    uint64_t t0 = bu_now_ns (), t, cur;

    if (view_pwrite (v, buf, WRITE_SIZE, off, 0) == -1)
      bu_die ("view_pwrite: %s", sv_errmsg ());
    t = bu_now_ns () - t0;
    cur = __atomic_load_n (&w->max_ns, __ATOMIC_RELAXED);
    while (t > cur &&
           !__atomic_compare_exchange_n (&w->max_ns, &cur, t, 0,
                                         __ATOMIC_RELAXED, __ATOMIC_RELAXED))
      ;
    __atomic_add_fetch (&w->nwrites, 1, __ATOMIC_RELAXED);

    /* A steady rate; after a stall, resume it rather than catch up in
     * a burst. */
    deadline += period;
    t = bu_now_ns ();
    if (deadline + 10000000u < t)
      deadline = t;
    bu_sleep_until (deadline);
  }
  return NULL;
}

/* Take one snapshot set of NAMES[0..N-1]; with KEEP == 0, delete it
 * again.  Fills the durations of the call (ns), of the write hold (ns)
 * and the longest write seen meanwhile (ns) when the pointers are not
 * NULL. */
static void
snapshot_once (struct sv_pool *pool, const char *const *names, size_t n,
               struct sv_snap_result *res, struct writer *w, int keep,
               uint64_t *call_ns, uint64_t *hold_ns, uint64_t *stall_ns)
{
  char set_id[SV_UUID_STRLEN + 1];
  uint64_t t0, t1;

  if (w)
    __atomic_store_n (&w->max_ns, 0, __ATOMIC_RELAXED);
  rec.active = 1;
  rec.nvolumes = n;
  rec.released = 0;
  rec.hold_start = rec.hold_end = 0;
  t0 = bu_now_ns ();
  if (pool_snapshot_create (pool, names, n, "bench", NULL, set_id, res) == -1)
    bu_die ("pool_snapshot_create: %s", sv_errmsg ());
  t1 = bu_now_ns ();
  rec.active = 0;
  if (rec.hold_end == 0)
    bu_die ("the write gate was not released %zu times: was the program "
            "linked with --wrap=gate_hold,--wrap=gate_release?", n);
  if (call_ns)
    *call_ns = t1 - t0;
  if (hold_ns)
    *hold_ns = rec.hold_end - rec.hold_start;
  if (stall_ns)
    *stall_ns = w ? __atomic_load_n (&w->max_ns, __ATOMIC_RELAXED) : 0;
  if (!keep && pool_snapshot_delete (pool, set_id, NULL) == -1)
    bu_die ("pool_snapshot_delete: %s: %s", set_id, sv_errmsg ());
}

static void
fill_volume (struct sv_view *v, uint64_t size)
{
  static char buf[FILL_CHUNK];
  uint64_t seed = 42, off, i;

  for (i = 0; i < sizeof buf / 8; i++) {
    uint64_t x = bu_rand (&seed);
    memcpy (buf + i * 8, &x, 8);
  }
  for (off = 0; off < size; off += FILL_CHUNK) {
    uint32_t n = size - off < FILL_CHUNK ? (uint32_t) (size - off) : FILL_CHUNK;
    if (view_pwrite (v, buf, n, off, 0) == -1)
      bu_die ("view_pwrite: %s", sv_errmsg ());
  }
  if (view_flush (v) == -1)
    bu_die ("view_flush: %s", sv_errmsg ());
}

static void
usage (void)
{
  fprintf (stderr,
           "Usage: %s --dir DIR [--size BYTES] [--fill] [--volumes N]\n"
           "          [--existing N] [--samples N] [--rate WRITES/S]\n"
           "          [--raw FILE]\n",
           program_invocation_short_name);
  exit (2);
}

int
main (int argc, char *argv[])
{
  static const struct option longopts[] = {
    { "dir", required_argument, NULL, 'd' },
    { "size", required_argument, NULL, 's' },
    { "fill", no_argument, NULL, 'f' },
    { "volumes", required_argument, NULL, 'v' },
    { "existing", required_argument, NULL, 'e' },
    { "samples", required_argument, NULL, 'n' },
    { "rate", required_argument, NULL, 'r' },
    { "raw", required_argument, NULL, 'w' },
    { NULL, 0, NULL, 0 },
  };
  const char *dir = NULL, *rawpath = NULL;
  FILE *raw = NULL;
  uint64_t size = 1ull << 30, nvol = 1, existing = 0, nsamples = 100;
  uint64_t rate = 5000, i, j, call, hold, stall, t_setup;
  int fill = 0, c;
  char (*namebuf)[16];
  const char **names;
  struct sv_snap_result *res;
  struct sv_pool *pool;
  struct writer w = { 0 };
  struct bu_samples s_call = { 0 }, s_hold = { 0 }, s_stall = { 0 };

  while ((c = getopt_long (argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
    case 'd': dir = optarg; break;
    case 's': size = bu_parse_u64 ("--size", optarg); break;
    case 'f': fill = 1; break;
    case 'v': nvol = bu_parse_u64 ("--volumes", optarg); break;
    case 'e': existing = bu_parse_u64 ("--existing", optarg); break;
    case 'n': nsamples = bu_parse_u64 ("--samples", optarg); break;
    case 'r': rate = bu_parse_u64 ("--rate", optarg); break;
    case 'w': rawpath = optarg; break;
    default: usage ();
    }
  }
  if (dir == NULL || optind != argc)
    usage ();
  if (nvol < 1 || nvol > MAX_VOLUMES)
    bu_die ("--volumes: %" PRIu64 " is not in 1..%d", nvol, MAX_VOLUMES);
  if (size < WRITE_SIZE || size % WRITE_SIZE != 0)
    bu_die ("--size: %" PRIu64 " is not a positive multiple of %u",
            size, WRITE_SIZE);
  if (nsamples < 1)
    bu_die ("--samples: at least 1");

  if (rawpath && (raw = fopen (rawpath, "a")) == NULL)
    bu_die ("--raw: %s: %m", rawpath);

  namebuf = calloc (nvol, sizeof *namebuf);
  names = calloc (nvol, sizeof *names);
  res = calloc (nvol, sizeof *res);
  w.views = calloc (nvol, sizeof *w.views);
  if (namebuf == NULL || names == NULL || res == NULL || w.views == NULL)
    bu_die ("calloc: %" PRIu64 " volumes: %m", nvol);

  t_setup = bu_now_ns ();
  pool = pool_open (dir, NULL, 1);
  if (pool == NULL)
    bu_die ("pool_open: %s: %s", dir, sv_errmsg ());
  for (i = 0; i < nvol; i++) {
    snprintf (namebuf[i], sizeof namebuf[i], "b%04" PRIu64, i);
    names[i] = namebuf[i];
    if (pool_volume_create (pool, names[i], size, 0) == -1)
      bu_die ("pool_volume_create: %s: %s", names[i], sv_errmsg ());
    w.views[i] = view_open (pool, names[i]);
    if (w.views[i] == NULL)
      bu_die ("view_open: %s: %s", names[i], sv_errmsg ());
    if (fill)
      fill_volume (w.views[i], size);
  }
  w.nviews = nvol;
  w.size = size;
  w.rate = rate;
  if (rate > 0 && pthread_create (&w.thread, NULL, writer_run, &w) != 0)
    bu_die ("pthread_create: writer");

  for (i = 0; i < existing; i++)
    snapshot_once (pool, names, nvol, res, NULL, 1, NULL, NULL, NULL);
  t_setup = bu_now_ns () - t_setup;

  for (i = 0; i < nsamples; i++) {
    snapshot_once (pool, names, nvol, res, rate ? &w : NULL, 0,
                   &call, &hold, &stall);
    bu_samples_add (&s_call, (double) call);
    bu_samples_add (&s_hold, (double) hold);
    if (rate)
      bu_samples_add (&s_stall, (double) stall);
    if (raw)
      fprintf (raw, "%" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
               call, hold, rate ? stall : 0);
    /* Settle the deletion, untimed: its flush released the space it
     * freed (hole punches), and this flush commits those punches, which
     * would otherwise land in the next sample's data sync.  Then let
     * the writer dirty data for 2 ms, so that each snapshot makes the
     * writes of the last 2 ms durable, as a snapshot taken between a
     * client's flushes does. */
    for (j = 0; j < nvol; j++)
      if (view_flush (w.views[j]) == -1)
        bu_die ("view_flush: %s", sv_errmsg ());
    bu_sleep_until (bu_now_ns () + 2000000u);
  }

  if (rate) {
    __atomic_store_n (&w.stop, 1, __ATOMIC_RELAXED);
    pthread_join (w.thread, NULL);
  }
  for (i = 0; i < nvol; i++)
    view_close (w.views[i]);
  if (pool_close (pool) == -1)
    bu_die ("pool_close: %s", sv_errmsg ());
  if (raw && fclose (raw) == EOF)
    bu_die ("--raw: %s: %m", rawpath);

  printf ("{\"volumes\": %" PRIu64 ", \"size\": %" PRIu64 ", \"fill\": %s, "
          "\"snapshots_present\": %" PRIu64 ", \"writer_rate\": %" PRIu64
          ", \"writes\": %" PRIu64 ", \"setup_s\": %.3f, ",
          nvol, size, fill ? "true" : "false", existing + 1, rate,
          w.nwrites, (double) t_setup / 1e9);
  bu_print_dist (stdout, "snapshot_ms", &s_call, 1e-6);
  fputs (", ", stdout);
  bu_print_dist (stdout, "hold_us", &s_hold, 1e-3);
  fputs (", ", stdout);
  bu_print_dist (stdout, "writer_stall_us", &s_stall, 1e-3);
  fputs ("}\n", stdout);

  bu_samples_free (&s_call);
  bu_samples_free (&s_hold);
  bu_samples_free (&s_stall);
  free (namebuf);
  free (names);
  free (res);
  free (w.views);
  return 0;
}

/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * test-powerloss.c: randomized power-loss tests of the engine, run over
 * the crash-simulating storage layer (crashsim.h).
 *
 * Each iteration builds a pool in a fresh crashsim and runs a seeded
 * workload through pool.h on four volumes of different geometries:
 * writes of sectors tagged with their volume, position and version,
 * FUA writes, write-zeroes (trimming or not, fast or not), trims,
 * flushes, snapshots of one volume and sets over several (directly or
 * with hold and commit), snapshot deletions by id and by set, clean
 * close and reopen, with a journal small enough that checkpoints
 * happen often.  At file syncs the crash hook sometimes runs a few
 * writes, zeroes and trims before the engine continues: writes from
 * another connection in the middle of a flush, checkpoint, pin or
 * deletion, in an order the seed fixes.  Half the iterations reclaim
 * their deletions in small background steps, so that a reclaim thread
 * runs beside the workload and takes crash points of its own (see
 * crash_hook).  A model follows every sector: what a read returns now
 * and the values it may hold after a crash.
 *
 * Chosen state-changing I/O operations are crash points: there the
 * disk state a power loss could leave is taken (crashsim_crash), and
 * once the call in progress returns the engine is opened on it and
 * checked:
 *   1. a sector whose last write was acknowledged before a flush that
 *      returned (or by a FUA write, or before a snapshot creation that
 *      returned) reads exactly that write;
 *   2. every other sector reads one of the values written to it since
 *      (or zeroes from a zero or trim), never a value of another
 *      sector, volume, snapshot, freed cluster or a torn mix;
 *   3. every snapshot whose creation returned is listed and reads
 *      exactly the volume's content at its pin; one being created or
 *      deleted at the crash is absent or exact; no other appears;
 *   4. space accounting matches the map: referenced bytes of the volume
 *      and of each snapshot equal the data found by view_extents,
 *      nothing is held that no view reads, a second open reports the
 *      same numbers and contents, and once every snapshot is deleted
 *      (and the pool reopened) allocated == referenced.
 * Some crash images are first recovered with a second power loss in the
 * middle of the recovery (or of the close after it); the state then
 * recovered must equal the one recovered without it.  One image in
 * eight is what kill -9 leaves (everything the process wrote, the
 * unsynced part still unsynced): a power loss during or after its
 * recovery must then still satisfy the four invariants, and once
 * pool_open has returned, recover the same state.  Some are given to
 * the offline checker (check.h), before and after recovery, and to its
 * repair.  After each check the recovered pool takes new writes, and
 * they survive a reopen; now and then the workload goes on on the
 * recovered pool.  docs/reliability.md has the details and the numbers.
 *
 * The journal sweep: one crash image in SWEEP_EVERY, before its
 * recovery, has the journal files of every volume damaged one byte at a
 * time (SNAPVOL_POWERLOSS_FLIPS positions per image, default
 * DEFAULT_FLIPS, 0: no sweep; a quarter in the header and mark sectors,
 * the rest in the records), each flip in its own copy.  The pool must
 * refuse to open (EILSEQ or EPROTONOSUPPORT, naming the damaged file) or
 * open and pass checks 1-4.  Two cases are counted apart, with the
 * checks of content (what sectors and snapshots read, which snapshots
 * are missing or back) left out and the others kept: in a power-loss
 * image, a flip in the last commit past a mark the power loss dropped
 * (the journal's known limit, journal.h); and a flip in records that
 * the recovery of an adopted image replayed past the newest durable
 * mark of their file, while no mark in the image covers them.  Any
 * other pool that opens and fails a check is a silent loss: the run
 * fails.  The sweep's time comes on top of the time budget.  See
 * sweep_flip.
 *
 * Reproduce: every failure prints the seed, the iteration and the crash
 * operation (and for the sweep the file, offset and bytes flipped);
 * SNAPVOL_POWERLOSS_SEED=S SNAPVOL_POWERLOSS_ITERATION=I
 * SNAPVOL_POWERLOSS_CRASH_OP=N runs exactly that crash, and its sweep
 * (in an iteration that reclaims in the background, only as far as the
 * scheduler interleaves the reclaim thread the same way), and
 * SNAPVOL_POWERLOSS_TRACE=1 prints the calls.  The run length is
 * set by SNAPVOL_POWERLOSS_ITERATIONS and SNAPVOL_POWERLOSS_SECONDS (a
 * time budget); the long run is `make crash-soak`.
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "check.h"
#include "crashsim.h"
#include "ondisk.h"
#include "pool.h"
#include "unit-helpers.h"

#define POOL "/pool"
#define SECT 512u
#define NVOL 4
#define MAXCAND 12                /* values a sector may hold after a crash */
#define MAXSNAP 48                /* snapshots in the model, all volumes */
#define SNAPS_PER_VOL 5
/* Copies on write that fill whole clusters (sv_pool_options.fill_depth)
 * within the few snapshots a volume keeps here, so that crashes land in
 * them too. */
#define PL_FILL_DEPTH 4
#define ADOPT_EVERY 24            /* one crash point in ADOPT_EVERY ... */
#define INJECT_EVERY 3            /* ... and one sync in INJECT_EVERY */
#define THREAD_CRASH_EVERY 3      /* a reclaim thread's operations */
#define CHECKER_EVERY 8           /* crash points also given to check_pool */
#define MAX_WRITE_SECTORS 320     /* 160 KiB: crosses clusters */

#define DEFAULT_ITERATIONS 60
#define DEFAULT_SECONDS 36
/* The journal sweep: one crash point in SWEEP_EVERY has its journal
 * files damaged, one byte at a time, at DEFAULT_FLIPS positions. */
#define SWEEP_EVERY 8
#define DEFAULT_FLIPS 16
#define SWEEP_MAXFILES 32
#define SWEEP_REPORTS 5           /* failures printed in full */

/* Four geometries: 16 subclusters per cluster, 4, 1 (and a size that
 * ends inside a subcluster, over three tables of the extent map, so
 * that a deletion's reclaim skips the tables not written since the
 * snapshot), 64. */
static const struct volspec {
  const char *name;
  uint64_t size;
  uint32_t cluster;
} specs[NVOL] = {
  { "pa", 1024 * KiB, 64 * KiB },
  { "pb", 512 * KiB, 16 * KiB },
  { "pc", 4096 * KiB + 1536, 4 * KiB },
  { "pd", 1024 * KiB, 256 * KiB },
};
#define VOL_MAX_SIZE (4096 * KiB + 1536)

/* Sector contents.  Value 0 is zeroes; value V > 0 is the sector
 * written by call V of the iteration: a header naming the version,
 * volume and sector, then a pattern of all three, so that any other
 * bytes are recognised. */

#define BAD UINT32_MAX

/* Word I of the pattern after the header of sector S of volume VOL
 * written by call V. */
static inline uint64_t
sector_word (uint64_t key, unsigned i)
{
  return ut_mix64 (key + i);
}

static uint64_t
sector_key (unsigned vol, uint64_t s, uint32_t v)
{
  return ut_mix64 ((uint64_t) v << 32 ^ s << 8 ^ vol) << 8;
}

static void
fill_sector (uint8_t *p, unsigned vol, uint64_t s, uint32_t v)
{
  uint64_t key = sector_key (vol, s, v), w;
  unsigned i;

  if (v == 0) {
    memset (p, 0, SECT);
    return;
  }
  memset (p, 0, 16);
  memcpy (p, &v, 4);
  memcpy (p + 4, "PLS\x01", 4);
  p[8] = (uint8_t) vol;
  memcpy (p + 12, &(uint32_t) { (uint32_t) s }, 4);
  for (i = 0; i < (SECT - 16) / 8; i++) {
    w = sector_word (key, i);
    memcpy (p + 16 + 8 * i, &w, 8);
  }
}

/* The value sector S of volume VOL holds, or BAD, with a description
 * of what it holds instead in WHY. */
static uint32_t
decode_sector (const uint8_t *p, unsigned vol, uint64_t s, char *why,
               size_t len)
{
  uint64_t key, w;
  uint32_t v, ws;
  size_t i;

  static const uint8_t zeroes[SECT];

  memcpy (&v, p, 4);
  if (v == 0) {
    if (memcmp (p, zeroes, SECT) == 0)
      return 0;
    for (i = 0; i < SECT && p[i] == 0; i++)
      ;
    snprintf (why, len, "garbage (non-zero byte at %zu after a zero tag)", i);
    return BAD;
  }
  memcpy (&ws, p + 12, 4);
  if (memcmp (p + 4, "PLS\x01", 4) != 0 || p[9] || p[10] || p[11]) {
    snprintf (why, len, "garbage (no sector tag)");
    return BAD;
  }
  if (p[8] != vol || ws != s) {
    snprintf (why, len, "version %" PRIu32 " of volume %s sector %" PRIu32
              " (misplaced)", v, p[8] < NVOL ? specs[p[8]].name : "?", ws);
    return BAD;
  }
  key = sector_key (vol, s, v);
  for (i = 0; i < (SECT - 16) / 8; i++) {
    memcpy (&w, p + 16 + 8 * i, 8);
    if (w != sector_word (key, i)) {
      snprintf (why, len, "version %" PRIu32 " torn inside the sector"
                " (bytes %zu-%zu differ)", v, 16 + 8 * i, 23 + 8 * i);
      return BAD;
    }
  }
  return v;
}

/* The model. */

struct sector {
  uint32_t cur;                 /* what a read returns now */
  uint8_t n;
  uint32_t cand[MAXCAND];       /* may hold after a crash, oldest first */
  uint32_t dropped;             /* candidates dropped from the front: the
                                 * position of cand[i] is dropped + i */
};

enum vstate { V_ABSENT, V_CREATING, V_PRESENT };

struct mvol {
  const struct volspec *spec;
  unsigned idx;
  uint32_t ss;                  /* subcluster size */
  uint64_t nsect;
  enum vstate state;
  struct sector *s;
  uint32_t *cut;                /* per sector: the position a flush keeps */
  struct sv_view *view;         /* live view in the running pool */
};

enum sstate { S_CREATING, S_OK, S_DELETING };

/* A snapshot's hold (tag PL_TAG, expiry PL_EXPIRES): none, held, or a
 * hold or release in progress (after a crash: either). */
enum hstate { H_NONE, H_HELD, H_HOLDING, H_RELEASING };
#define PL_TAG "pl:backup@1"
#define PL_EXPIRES 0x123456789abull   /* far ahead: never expires here */

struct msnap {
  unsigned vol;
  enum sstate state;
  char id[SV_UUID_STRLEN + 1];  /* empty while creating */
  char set[SV_UUID_STRLEN + 1];
  uint32_t *val;                /* the pinned content, exactly */
  enum hstate hold;
};

/* A crash image waiting for the call in progress to return. */
struct pending {
  struct crashsim *img;
  uint64_t op;                  /* global operation number */
  enum crashsim_mode mode;
  int check;                    /* run the checks (not only adoption) */
  int adopt;                    /* may become the main pool */
  int sweep;                    /* damage its journal files (sweep_image) */
  struct crashsim *truth;       /* for a swept power-loss image: what the
                                 * process had written (kill -9 copy) */
  char what[160];
};

/* The data effect of the call in progress (a write, zero or trim),
 * complete once its data I/O is: applied before any write injected
 * during its flush. */
struct outer {
  int active;
  unsigned k;
  uint64_t s0, n;
  uint32_t v;
  int zero, trim;
  uint64_t off, eff_end;
};

struct stats {
  uint64_t iterations, calls, ops, points, nested, nested_hit;
  uint64_t injected, adoptions;
  uint64_t checker_runs, checker_findings;
  uint64_t nested_kill, nested_kill_hit, nested_kill_lost;
  uint64_t modes[3];
  uint64_t writes_kept, writes_dropped, writes_torn, names_dropped;
  uint64_t snaps_created, snaps_deleted, checkpoints, reopens;
  /* Sets committed as a group (one syncfs for all their journals), and
   * crash points taken at such a syncfs. */
  uint64_t group_sets, syncfs_points;
  /* Iterations with background reclaims, their deletions that left
   * work to a reclaim thread, and the crash points taken on one. */
  uint64_t bg_iterations, bg_deletions, thread_points;
  uint64_t pool_lost, vols_lost, snaps_lost_creating, snaps_back_deleting;
  /* Snapshot holds: calls, deletions refused, and crash images taken
   * while a hold or release was in progress that recovered it done. */
  uint64_t holds, releases, held_refused, hold_done_at_crash;
  /* The journal sweep. */
  uint64_t sweep_images, sweep_images_kill, flips, flips_hdr, flips_refused;
  uint64_t flips_intact, flips_past_mark, flips_past_mark_differ;
  uint64_t flips_unmarked, flips_unmarked_differ, flips_silent;
  double sweep_seconds;
};

struct run {
  uint64_t seed, iter, iter_seed;
  uint64_t rng;                 /* the workload */
  uint64_t crash_rng;           /* which operations are crash points */
  uint64_t crash_every;         /* mean operations between crash points */
  uint64_t only_op;             /* 0, or the one crash point to take */
  uint64_t inject_rng;          /* writes injected during syncs */
  uint64_t op_base;             /* operations of the crashsims before CS */
  struct crashsim *cs;
  struct sv_pool *pool;
  uint64_t ckpt_bytes;
  unsigned group_sync_min;      /* sv_pool_options.group_sync_min */
  unsigned reclaim_step;        /* sv_pool_options.reclaim_step: 0, or
                                 * small enough (with one step inline)
                                 * that deletions go on in the
                                 * background */
  pthread_t main_thread;        /* the workload's */
  /* The hook runs on a reclaim thread too: MU guards the crash draws,
   * the pending images and the hook's counters. */
  pthread_mutex_t mu;
  int pool_present;             /* pool_open (create) returned */
  struct mvol v[NVOL];
  struct msnap snaps[MAXSNAP];
  size_t nsnaps;
  uint32_t call;                /* the call in progress; its version */
  char desc[200];               /* what it does */
  int views_open, injecting;
  unsigned force_crash;         /* operations left that are crash points */
  int deleting;                 /* the call in progress deletes snapshots */
  int trace;                    /* SNAPVOL_POWERLOSS_TRACE: print calls */
  int checker;                  /* SNAPVOL_POWERLOSS_CHECKER=0: no check_pool */
  uint64_t flips;               /* SNAPVOL_POWERLOSS_FLIPS: per swept image */
  struct outer outer;
  struct pending *pend;
  size_t npend, cappend;
  struct pending adopt;         /* an image to continue on (img NULL: none) */
  char deleted[64][SV_UUID_STRLEN + 1];     /* ids whose deletion returned */
  unsigned ndeleted;
  struct stats *st;
  uint8_t *buf;                 /* I/O buffer, a whole volume */
  /* Journal records the recovery of the adopted image replayed past
   * its file's mark (see sweep_flip): offsets up to UPTO of PATH. */
  struct {
    char path[256];
    uint64_t upto;
  } unmarked[SWEEP_MAXFILES];
  size_t nunmarked;
  /* Every snapshot made in the iteration (adoptions forget those
   * deleted before): what a relaxed check allows to come back. */
  struct made {
    unsigned vol;
    char id[SV_UUID_STRLEN + 1];
    char set[SV_UUID_STRLEN + 1];
  } *made;
  size_t nmade, capmade;
};

/* What a recovered pool holds. */
struct state {
  int present[NVOL];
  uint32_t *live[NVOL];
  struct sv_volume_info vi[NVOL];
  size_t nsnaps;
  struct {
    unsigned vol;
    char id[SV_UUID_STRLEN + 1];
    uint32_t *val;
    struct sv_snapshot_info si;   /* si.holds not kept: see the next two */
    size_t nholds;
    int hold_ok;                  /* each hold is PL_TAG, PL_EXPIRES */
  } snap[MAXSNAP];
};

static void
state_free (struct state *s)
{
  size_t i;

  for (i = 0; i < NVOL; i++)
    free (s->live[i]);
  for (i = 0; i < s->nsnaps; i++)
    free (s->snap[i].val);
  memset (s, 0, sizeof *s);
}

static void *
xcalloc (size_t n, size_t size)
{
  void *p = calloc (n ? n : 1, size ? size : 1);

  assert_non_null (p);
  return p;
}

static const char *
mode_name (enum crashsim_mode m)
{
  return m == CRASHSIM_RANDOM ? "random" : m == CRASHSIM_SYNCED_ONLY
    ? "synced-only" : "kill -9 (keep-all)";
}

/* Failure reports. */

struct ctx {
  struct run *r;
  const struct pending *p;
  struct crashsim *pristine;    /* the image as taken, for a post-mortem */
  uint64_t nested_op;           /* a second crash during recovery, or 0 */
  const char *phase;
  /* The journal sweep: a failed check jumps to SOFT with its message
   * in SOFT_MSG instead of failing the test; RELAXED leaves out the
   * checks of content (see sweep_flip). */
  jmp_buf *soft;
  char *soft_msg;
  size_t soft_len;
  int relaxed;
};

static void
print_ctx (const struct ctx *c, const char *what, const char *msg)
{
  const struct run *r = c->r;

  print_error ("%s: %s\n", what, msg);
  print_error ("  seed %" PRIu64 ", iteration %" PRIu64 ", call %" PRIu32
               " (%s)\n", r->seed, r->iter, r->call, r->desc);
  if (c->p) {
    print_error ("  crash after operation %" PRIu64 " (%s), %s image\n",
                 c->p->op, c->p->what, mode_name (c->p->mode));
    if (c->nested_op)
      print_error ("  then a second crash after operation %" PRIu64
                   " of the recovery\n", c->nested_op);
    print_error ("  phase: %s\n", c->phase);
  }
}

static void
print_rerun (const struct ctx *c)
{
  const struct run *r = c->r;

  if (r->reclaim_step)
    print_error ("  (this iteration reclaims in the background: its reclaim"
                 " threads' operations interleave with the calls as the"
                 " scheduler decides, so a rerun may number them"
                 " differently)\n");
  if (c->p)
    print_error ("  rerun: SNAPVOL_POWERLOSS_SEED=%" PRIu64
                 " SNAPVOL_POWERLOSS_ITERATION=%" PRIu64
                 " SNAPVOL_POWERLOSS_CRASH_OP=%" PRIu64 " ./test-powerloss\n",
                 r->seed, r->iter, c->p->op);
  else
    print_error ("  rerun: SNAPVOL_POWERLOSS_SEED=%" PRIu64
                 " SNAPVOL_POWERLOSS_ITERATION=%" PRIu64 " ./test-powerloss\n",
                 r->seed, r->iter);
}

static void fail_ctx (const struct ctx *c, const char *fmt, ...)
  __attribute__((format (printf, 2, 3), noreturn));

static void
fail_ctx (const struct ctx *c, const char *fmt, ...)
{
  const struct run *r = c->r;
  const char *tmp = getenv ("TMPDIR");
  char msg[2048], dir[4096];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  if (c->soft) {
    snprintf (c->soft_msg, c->soft_len, "%s", msg);
    longjmp (*c->soft, 1);
  }
  print_ctx (c, "power-loss failure", msg);
  if (c->p) {
    if (c->pristine) {
      unsigned n;
      /* A name of its own: an earlier run may have left the same. */
      for (n = 1; n < 100; n++) {
        snprintf (dir, sizeof dir, "%s/snapvol-powerloss-%" PRIu64 "-%"
                  PRIu64 "-%" PRIu64 "%s%.0u", tmp && *tmp ? tmp : "/tmp",
                  r->seed, r->iter, c->p->op, n > 1 ? "." : "", n > 1 ? n : 0);
        if (crashsim_export (c->pristine, dir) == 0) {
          print_error ("  the crash image (before recovery) is in %s\n",
                       dir);
          break;
        }
        if (errno != EEXIST)
          break;
      }
    }
  }
  print_rerun (c);
  fail ();
  abort ();                     /* not reached */
}

#define CHECK(c, cond, ...) \
  do { if (!(cond)) fail_ctx ((c), __VA_ARGS__); } while (0)

/* Sector candidates. */

/* V is being written: it may be read after a crash from now on.
 * Returns its position. */
static uint32_t
cand_push (struct sector *s, uint32_t v)
{
  if (s->cand[s->n - 1] != v) {
    assert_true (s->n < MAXCAND);
    s->cand[s->n++] = v;
  }
  return s->dropped + s->n - 1;
}

/* The position of the latest value (at the start of a flush: what it
 * makes durable). */
static uint32_t
cand_last (const struct sector *s)
{
  return s->dropped + s->n - 1;
}

/* The value at position POS is durable: nothing older may come back. */
static void
cand_cut (struct sector *s, uint32_t pos)
{
  uint32_t k = pos > s->dropped ? pos - s->dropped : 0;

  if (k == 0)
    return;
  assert_true (k < s->n);
  memmove (s->cand, s->cand + k, (s->n - k) * sizeof s->cand[0]);
  s->n -= k;
  s->dropped += k;
}

static int
cand_has (const struct sector *s, uint32_t v)
{
  unsigned i;

  for (i = 0; i < s->n; i++)
    if (s->cand[i] == v)
      return 1;
  return 0;
}

static void
format_cands (char *out, size_t len, const struct sector *s)
{
  size_t o = 0;
  unsigned i;

  out[0] = '\0';
  for (i = 0; i < s->n && o + 16 < len; i++)
    o += snprintf (out + o, len - o, " %" PRIu32, s->cand[i]);
}

/* Flushing volume MV begins: note what it will make durable. */
static void
cut_begin (struct mvol *mv)
{
  uint64_t s;

  for (s = 0; s < mv->nsect; s++)
    mv->cut[s] = cand_last (&mv->s[s]);
}

/* The flush returned. */
static void
cut_end (struct mvol *mv)
{
  uint64_t s;

  for (s = 0; s < mv->nsect; s++)
    cand_cut (&mv->s[s], mv->cut[s]);
}

/* Crash points. */

static void inject (struct run *r, const char *what);

/* Is operation OP (global GOP) a crash point?  If so take its image
 * into the pending list.  ON_MAIN: the workload's thread made it, not
 * a background reclaim's.  r->mu held. */
static void
take_point (struct run *r, struct crashsim *cs, uint64_t gop,
            const char *what, int on_main)
{
  struct crashsim_stats cst;
  struct pending *p;
  uint64_t seed;
  int draw, adopt;

  r->st->ops++;
  if (strstr (what, "rename") && strstr (what, "checkpoint.new"))
    r->st->checkpoints++;
  /* The same draws whether or not one crash point was asked for, so
   * that SNAPVOL_POWERLOSS_CRASH_OP repeats the run that failed,
   * adoptions included. */
  draw = ut_rand_below (&r->crash_rng, r->crash_every) == 0;
  seed = ut_seed_derive (r->iter_seed ^ 0x1a2b3c4d5e6f7081ull, gop);
  adopt = draw && (seed >> 32) % ADOPT_EVERY == 0;
  /* A reclaim thread's operations are few: one in THREAD_CRASH_EVERY
   * is a crash point. */
  if (!on_main && ut_rand_below (&r->crash_rng, THREAD_CRASH_EVERY) == 0)
    draw = 1;
  /* The operations right after an injection are the interesting ones:
   * always crash points. */
  if (r->force_crash > 0) {
    r->force_crash--;
    draw = 1;
  }
  if (!(r->only_op ? gop == r->only_op || adopt : draw))
    return;
  if (r->npend == r->cappend) {
    r->cappend = r->cappend ? r->cappend * 2 : 16;
    r->pend = realloc (r->pend, r->cappend * sizeof *r->pend);
    if (r->pend == NULL)
      abort ();                 /* not on the workload's thread: no cmocka */
  }
  p = &r->pend[r->npend++];
  p->op = gop;
  p->check = !r->only_op || gop == r->only_op;
  p->adopt = adopt;
  /* Mostly random images; the two extremes now and then. */
  p->mode = seed % 8 == 0 ? CRASHSIM_SYNCED_ONLY
    : seed % 8 == 1 ? CRASHSIM_KEEP_ALL : CRASHSIM_RANDOM;
  snprintf (p->what, sizeof p->what, "%s%s",
            on_main ? "" : "on a reclaim thread: ", what);
  p->img = crashsim_crash (cs, seed, p->mode, &cst);
  /* Which images the journal sweep damages, and for a power-loss
   * one the marks the process had written: an exact copy. */
  p->sweep = p->check && r->flips > 0 && (seed >> 16) % SWEEP_EVERY == 0;
  p->truth = p->sweep && p->mode != CRASHSIM_KEEP_ALL
    ? crashsim_crash (cs, 0, CRASHSIM_KEEP_ALL, NULL) : NULL;
  if (!p->check)
    return;
  r->st->modes[p->mode]++;
  r->st->writes_kept += cst.writes_kept;
  r->st->writes_dropped += cst.writes_dropped;
  r->st->writes_torn += cst.writes_torn;
  r->st->names_dropped += cst.names_dropped;
  if (strcmp (what, "syncfs") == 0)
    r->st->syncfs_points++;
  if (!on_main)
    r->st->thread_points++;
}

/* Called after every state-changing operation of the main pool, on
 * whichever thread made it: the workload's, or a deletion's background
 * reclaim.  It may take a crash image there; an image is taken and
 * queued under r->mu, so it is checked by the first settle that
 * follows, against the model of the call in progress then (the
 * reclaim changes no content the model follows, and the model only
 * narrows what a crash may leave once a call has returned, after its
 * settle: an image taken later shows that call's effect too).  At a
 * file sync of the workload's thread (where the engine holds no stripe
 * lock) the hook may also run a few writes, zeroes and trims before
 * the sync's caller continues: to the engine they are writes from
 * another connection arriving in the middle of a flush, a checkpoint,
 * a snapshot creation or deletion, in an order the seed fixes.  A
 * reclaim thread's operations never inject: the model is the
 * workload's alone. */
static void
crash_hook (void *opaque, struct crashsim *cs, uint64_t op, const char *what)
{
  struct run *r = opaque;
  int on_main = pthread_equal (pthread_self (), r->main_thread);

  pthread_mutex_lock (&r->mu);
  take_point (r, cs, r->op_base + op, what, on_main);
  pthread_mutex_unlock (&r->mu);
  if (on_main &&
      (strncmp (what, "sync ", 5) == 0 || strcmp (what, "syncfs") == 0) &&
      r->views_open && !r->injecting &&
      ut_rand_below (&r->inject_rng, INJECT_EVERY) == 0) {
    inject (r, what);
    pthread_mutex_lock (&r->mu);
    r->force_crash = 3;
    pthread_mutex_unlock (&r->mu);
  }
}

/* The options of every pool of R's iteration (the main pool, and one
 * opened on a crash image) on IO. */
static struct sv_pool_options
run_options (const struct run *r, const struct sv_io *io)
{
  return (struct sv_pool_options) {
    .io = io, .checkpoint_bytes = r->ckpt_bytes,
    .flush_threads = 1,         /* crash points count calls: keep their order */
    .group_sync_min = r->group_sync_min, .fill_depth = PL_FILL_DEPTH,
    .reclaim_step = r->reclaim_step,
    .reclaim_inline_steps = r->reclaim_step ? 1 : 0,
  };
}

/* Reading a recovered pool. */

static struct sv_pool *
open_image (const struct ctx *c, struct crashsim *img, int may_fail)
{
  struct sv_pool_options opts = run_options (c->r, crashsim_io (img));
  struct sv_pool *pool = pool_open (POOL, &opts, 0);

  if (pool == NULL && !may_fail)
    fail_ctx (c, "pool_open: %s", sv_errmsg ());
  return pool;
}

static void
close_pool (const struct ctx *c, struct sv_pool *pool)
{
  if (pool_close (pool) == -1)
    fail_ctx (c, "pool_close: %s", sv_errmsg ());
}

static void
read_view (const struct ctx *c, struct sv_pool *pool, unsigned vol,
           const char *id, uint8_t *buf)
{
  char export[SV_NAME_MAX + SV_UUID_STRLEN + 2];
  struct sv_view *view;

  if (id)
    snprintf (export, sizeof export, "%s@%s", specs[vol].name, id);
  else
    snprintf (export, sizeof export, "%s", specs[vol].name);
  view = view_open (pool, export);
  if (view == NULL)
    fail_ctx (c, "view_open %s: %s", export, sv_errmsg ());
  /* Closed before a failure: the journal sweep goes on after one. */
  if (view_size (view) != specs[vol].size) {
    uint64_t size = view_size (view);
    view_close (view);
    fail_ctx (c, "%s has size %" PRIu64 ", expected %" PRIu64, export,
              size, specs[vol].size);
  }
  if (view_pread (view, buf, specs[vol].size, 0) == -1) {
    char msg[512];
    snprintf (msg, sizeof msg, "%s", sv_errmsg ());
    view_close (view);
    fail_ctx (c, "view_pread %s: %s", export, msg);
  }
  view_close (view);
}

/* Decode a whole view into VAL; BAD sectors fail the test (unless
 * the checks are relaxed: they stay BAD). */
static void
decode_view (const struct ctx *c, unsigned vol, const char *what,
             const uint8_t *buf, uint32_t *val)
{
  uint64_t s, n = specs[vol].size / SECT;
  char why[160];

  for (s = 0; s < n; s++) {
    val[s] = decode_sector (buf + s * SECT, vol, s, why, sizeof why);
    if (val[s] == BAD && !c->relaxed)
      fail_ctx (c, "%s sector %" PRIu64 " reads %s", what, s, why);
  }
}

struct extscan {
  uint8_t *data;                /* per subcluster: 1 if data */
  uint32_t ss;
};

static int
ext_cb (void *opaque, uint64_t off, uint64_t len, uint32_t flags)
{
  struct extscan *x = opaque;
  uint64_t s;

  if (!(flags & SV_EXTENT_HOLE) && len > 0)
    for (s = off / x->ss; s <= (off + len - 1) / x->ss; s++)
      x->data[s] = 1;
  return 0;
}

/* The bytes of data (whole subclusters) view EXPORT reads, from
 * view_extents; sectors holding anything must lie in them. */
static uint64_t
extent_bytes (const struct ctx *c, struct sv_pool *pool, unsigned vol,
              const char *id, const uint32_t *val)
{
  const struct volspec *sp = &specs[vol];
  char export[SV_NAME_MAX + SV_UUID_STRLEN + 2];
  struct sv_view *view;
  struct extscan x;
  uint64_t nsub, s, bytes = 0;

  if (id)
    snprintf (export, sizeof export, "%s@%s", sp->name, id);
  else
    snprintf (export, sizeof export, "%s", sp->name);
  view = view_open (pool, export);
  if (view == NULL)
    fail_ctx (c, "view_open %s: %s", export, sv_errmsg ());
  view_block_size (view, &(uint32_t) { 0 }, &x.ss, &(uint32_t) { 0 });
  nsub = (sp->size + x.ss - 1) / x.ss;
  x.data = xcalloc (nsub, 1);
  /* Everything freed before a failure: the journal sweep goes on after
   * one. */
  if (view_extents (view, sp->size, 0, 0, ext_cb, &x) == -1) {
    char msg[512];
    snprintf (msg, sizeof msg, "%s", sv_errmsg ());
    view_close (view);
    free (x.data);
    fail_ctx (c, "view_extents %s: %s", export, msg);
  }
  view_close (view);
  for (s = 0; s < sp->size / SECT; s++)
    if (val[s] != 0 && !x.data[s * SECT / x.ss])
      break;
  if (s < sp->size / SECT) {
    free (x.data);
    fail_ctx (c, "%s sector %" PRIu64 " reads version %" PRIu32
              " but view_extents reports a hole there", export, s, val[s]);
  }
  for (s = 0; s < nsub; s++)
    bytes += x.data[s] ? x.ss : 0;
  free (x.data);
  return bytes;
}

static struct msnap *
model_snap_by_id (struct run *r, const char *id)
{
  size_t i;

  for (i = 0; i < r->nsnaps; i++)
    if (strcmp (r->snaps[i].id, id) == 0)
      return &r->snaps[i];
  return NULL;
}

static struct msnap *
model_snap_creating (struct run *r, unsigned vol, const char *set)
{
  size_t i;

  for (i = 0; i < r->nsnaps; i++)
    if (r->snaps[i].state == S_CREATING && r->snaps[i].vol == vol &&
        strcmp (r->snaps[i].set, set) == 0)
      return &r->snaps[i];
  return NULL;
}

static const struct made *
made_by_id (const struct run *r, const char *id)
{
  size_t i;

  for (i = 0; i < r->nmade; i++)
    if (strcmp (r->made[i].id, id) == 0)
      return &r->made[i];
  return NULL;
}

static void
note_made (struct run *r, unsigned vol, const char *id, const char *set)
{
  struct made *e;

  if (made_by_id (r, id))
    return;
  if (r->nmade == r->capmade) {
    r->capmade = r->capmade ? r->capmade * 2 : 64;
    r->made = realloc (r->made, r->capmade * sizeof *r->made);
    assert_non_null (r->made);
  }
  e = &r->made[r->nmade++];
  e->vol = vol;
  snprintf (e->id, sizeof e->id, "%s", id);
  snprintf (e->set, sizeof e->set, "%s", set);
}

static int
volume_index (const char *name)
{
  unsigned i;

  for (i = 0; i < NVOL; i++)
    if (strcmp (specs[i].name, name) == 0)
      return i;
  return -1;
}

/* Read everything POOL holds into OUT, with the accounting. */
static void
collect_state (const struct ctx *c, struct sv_pool *pool, struct state *out)
{
  struct sv_volume_info *vi = NULL;
  struct sv_snapshot_info *si = NULL;
  char name[2 * SV_NAME_MAX + SV_UUID_STRLEN + 32];
  size_t nv = 0, ns = 0, i, j;
  unsigned k;
  int vol;

  /* The lists are copied into OUT and freed before anything can fail
   * (the journal sweep goes on after a failure and frees OUT with
   * state_free). */
  memset (out, 0, sizeof *out);
  if (pool_volume_list (pool, NULL, &vi, &nv) == -1)
    fail_ctx (c, "pool_volume_list: %s", sv_errmsg ());
  for (i = 0; i < nv; i++) {
    if ((vol = volume_index (vi[i].name)) < 0) {
      snprintf (name, sizeof name, "%s", vi[i].name);
      free (vi);
      fail_ctx (c, "unknown volume %s after recovery", name);
    }
    out->present[vol] = 1;
    out->vi[vol] = vi[i];
  }
  free (vi);
  if (pool_snapshot_list (pool, NULL, &si, &ns) == -1)
    fail_ctx (c, "pool_snapshot_list: %s", sv_errmsg ());
  if (ns > MAXSNAP) {
    free (si);
    fail_ctx (c, "%zu snapshots after recovery, at most %d were made", ns,
              MAXSNAP);
  }
  for (i = 0; i < ns; i++) {
    if ((vol = volume_index (si[i].volume)) < 0 || !out->present[vol]) {
      snprintf (name, sizeof name, "%s of unknown volume %s", si[i].id,
                si[i].volume);
      free (si);
      fail_ctx (c, "snapshot %s", name);
    }
    out->snap[i].vol = vol;
    memcpy (out->snap[i].id, si[i].id, sizeof out->snap[i].id);
    out->snap[i].si = si[i];
    out->snap[i].si.holds = NULL;
    out->snap[i].nholds = si[i].nholds;
    out->snap[i].hold_ok = 1;
    for (j = 0; j < si[i].nholds; j++)
      out->snap[i].hold_ok &= strcmp (si[i].holds[j].tag, PL_TAG) == 0 &&
        si[i].holds[j].expires == PL_EXPIRES;
  }
  out->nsnaps = ns;
  free (si);

  for (k = 0; k < NVOL; k++)
    if (out->present[k]) {
      out->live[k] = xcalloc (specs[k].size / SECT, sizeof (uint32_t));
      read_view (c, pool, k, NULL, c->r->buf);
      decode_view (c, k, specs[k].name, c->r->buf, out->live[k]);
    }
  for (i = 0; i < ns; i++) {
    k = out->snap[i].vol;
    out->snap[i].val = xcalloc (specs[k].size / SECT, sizeof (uint32_t));
    read_view (c, pool, k, out->snap[i].id, c->r->buf);
    snprintf (name, sizeof name, "%s@%s", specs[k].name, out->snap[i].id);
    decode_view (c, k, name, c->r->buf, out->snap[i].val);
  }
}

/* Check a recovered state against the model at the crash.  Relaxed
 * (a journal sweep's flip in the last commit, past its lost mark: see
 * sweep_flip), only what the journal cannot take back: the volumes,
 * and that every snapshot listed was made and has its volume's set
 * and size. */
static void
check_against_model (const struct ctx *c, const struct state *st)
{
  struct run *r = c->r;
  char list[256];
  size_t i;
  unsigned k;
  uint64_t s;

  for (k = 0; k < NVOL; k++) {
    const struct mvol *mv = &r->v[k];
    if (!st->present[k]) {
      CHECK (c, mv->state != V_PRESENT, "volume %s is lost",
             mv->spec->name);
      if (mv->state == V_CREATING)
        r->st->vols_lost++;
      continue;
    }
    CHECK (c, mv->state != V_ABSENT, "volume %s exists but was never"
           " created", mv->spec->name);
    for (s = 0; s < mv->nsect; s++) {
      uint32_t got = st->live[k][s];
      if (mv->state == V_CREATING)
        CHECK (c, got == 0, "volume %s being created reads version %" PRIu32
               " in sector %" PRIu64, mv->spec->name, got, s);
      else if (!c->relaxed && !cand_has (&mv->s[s], got)) {
        format_cands (list, sizeof list, &mv->s[s]);
        fail_ctx (c, "volume %s sector %" PRIu64 " reads version %" PRIu32
                  "; it may only hold:%s (the first is durable)",
                  mv->spec->name, s, got, list);
      }
    }
  }

  for (i = 0; i < st->nsnaps; i++) {
    unsigned vol = st->snap[i].vol;
    struct msnap *m = model_snap_by_id (r, st->snap[i].id);
    if (m == NULL)
      m = model_snap_creating (r, vol, st->snap[i].si.set_id);
    CHECK (c, st->snap[i].hold_ok && st->snap[i].nholds <= 1,
           "snapshot %s of %s has %zu hold(s), %s", st->snap[i].id,
           specs[vol].name, st->snap[i].nholds, st->snap[i].hold_ok
           ? "at most one was taken" : "not the one taken (" PL_TAG ")");
    if (m != NULL && !c->relaxed)
      CHECK (c, m->hold == H_HOLDING || m->hold == H_RELEASING ||
             st->snap[i].nholds == (m->hold == H_HELD),
             "snapshot %s of %s has %zu hold(s) after recovery, but its"
             " hold %s", st->snap[i].id, specs[vol].name,
             st->snap[i].nholds, m->hold == H_HELD ? "returned"
             : "was released or never taken");
    if (m != NULL && !c->relaxed &&
        st->snap[i].nholds == (m->hold == H_HOLDING) &&
        (m->hold == H_HOLDING || m->hold == H_RELEASING))
      r->st->hold_done_at_crash++;
    if (m == NULL && c->relaxed) {
      const struct made *e = made_by_id (r, st->snap[i].id);
      CHECK (c, e != NULL, "snapshot %s of %s (set %s) was never made",
             st->snap[i].id, specs[vol].name, st->snap[i].si.set_id);
      CHECK (c, e->vol == vol && strcmp (e->set, st->snap[i].si.set_id) == 0,
             "snapshot %s is listed on volume %s in set %s, made on %s in"
             " set %s", st->snap[i].id, specs[vol].name,
             st->snap[i].si.set_id, specs[e->vol].name, e->set);
      CHECK (c, st->snap[i].si.size == specs[vol].size,
             "snapshot %s has size %" PRIu64, st->snap[i].id,
             st->snap[i].si.size);
      continue;
    }
    if (m == NULL) {
      unsigned d;
      for (d = 0; d < r->ndeleted && d < 64; d++)
        CHECK (c, strcmp (r->deleted[d], st->snap[i].id) != 0,
               "snapshot %s of %s is back after its deletion returned",
               st->snap[i].id, specs[vol].name);
    }
    CHECK (c, m != NULL, "snapshot %s of %s (set %s) was never created",
           st->snap[i].id, specs[vol].name, st->snap[i].si.set_id);
    CHECK (c, m->vol == vol && strcmp (m->set, st->snap[i].si.set_id) == 0,
           "snapshot %s is listed on volume %s in set %s, made on %s in"
           " set %s", st->snap[i].id, specs[vol].name,
           st->snap[i].si.set_id, specs[m->vol].name, m->set);
    CHECK (c, st->snap[i].si.size == specs[vol].size,
           "snapshot %s has size %" PRIu64, st->snap[i].id,
           st->snap[i].si.size);
    for (s = 0; s < specs[vol].size / SECT && !c->relaxed; s++)
      CHECK (c, st->snap[i].val[s] == m->val[s], "snapshot %s of %s sector %"
             PRIu64 " reads version %" PRIu32 ", pinned %" PRIu32,
             st->snap[i].id, specs[vol].name, s, st->snap[i].val[s],
             m->val[s]);
    if (m->state == S_DELETING)
      r->st->snaps_back_deleting++;
  }
  for (i = 0; i < r->nsnaps; i++) {
    const struct msnap *m = &r->snaps[i];
    size_t j;
    int found = 0;
    for (j = 0; j < st->nsnaps && !found; j++)
      found = st->snap[j].vol == m->vol &&
        (strcmp (st->snap[j].id, m->id) == 0 ||
         (m->state == S_CREATING &&
          strcmp (st->snap[j].si.set_id, m->set) == 0));
    if (!found) {
      CHECK (c, m->state != S_OK || c->relaxed, "snapshot %s of %s (set %s)"
             " is lost",
             m->id, specs[m->vol].name, m->set);
      if (m->state == S_CREATING)
        r->st->snaps_lost_creating++;
    }
  }
}

/* Invariant 4: what the accounting says against the map as views see
 * it. */
static void
check_accounting (const struct ctx *c, struct sv_pool *pool,
                  const struct state *st)
{
  size_t i;
  unsigned k;

  for (k = 0; k < NVOL; k++) {
    const struct sv_volume_info *vi = &st->vi[k];
    uint64_t data;
    if (!st->present[k])
      continue;
    data = extent_bytes (c, pool, k, NULL, st->live[k]);
    CHECK (c, vi->referenced_bytes == data, "volume %s: referenced_bytes %"
           PRIu64 " but view_extents finds %" PRIu64 " bytes of data",
           vi->name, vi->referenced_bytes, data);
    CHECK (c, vi->allocated_bytes == vi->referenced_bytes +
           vi->snapshot_bytes, "volume %s: allocated_bytes %" PRIu64
           " != referenced %" PRIu64 " + snapshot-only %" PRIu64
           ": data held that no view reads", vi->name, vi->allocated_bytes,
           vi->referenced_bytes, vi->snapshot_bytes);
  }
  for (i = 0; i < st->nsnaps; i++) {
    const struct sv_snapshot_info *si = &st->snap[i].si;
    uint64_t data = extent_bytes (c, pool, st->snap[i].vol, si->id,
                                  st->snap[i].val);
    CHECK (c, si->referenced_bytes == data, "snapshot %s of %s:"
           " referenced_bytes %" PRIu64 " but view_extents finds %" PRIu64
           " bytes of data", si->id, si->volume, si->referenced_bytes, data);
    CHECK (c, si->exclusive_bytes <= si->referenced_bytes,
           "snapshot %s: exclusive_bytes %" PRIu64 " > referenced %" PRIu64,
           si->id, si->exclusive_bytes, si->referenced_bytes);
  }
}

/* Two recovered states hold the same volumes, snapshots, bytes and
 * accounting. */
static void
compare_states (const struct ctx *c, const struct state *a,
                const struct state *b, const char *how)
{
  size_t i, j;
  unsigned k;

  for (k = 0; k < NVOL; k++) {
    CHECK (c, a->present[k] == b->present[k], "%s: volume %s is %s", how,
           specs[k].name, b->present[k] ? "back" : "gone");
    if (!a->present[k])
      continue;
    for (i = 0; i < specs[k].size / SECT; i++)
      CHECK (c, a->live[k][i] == b->live[k][i], "%s: volume %s sector %zu"
             " reads version %" PRIu32 ", before %" PRIu32, how,
             specs[k].name, i, b->live[k][i], a->live[k][i]);
#define SAME(f) \
    CHECK (c, a->vi[k].f == b->vi[k].f, "%s: volume %s " #f " is %" PRIu64 \
           ", before %" PRIu64, how, specs[k].name, \
           (uint64_t) b->vi[k].f, (uint64_t) a->vi[k].f)
    SAME (allocated_bytes);
    SAME (referenced_bytes);
    SAME (written_bytes);
    SAME (snapshot_bytes);
    SAME (nsnapshots);
#undef SAME
  }
  CHECK (c, a->nsnaps == b->nsnaps, "%s: %zu snapshots, before %zu", how,
         b->nsnaps, a->nsnaps);
  for (i = 0; i < a->nsnaps; i++) {
    for (j = 0; j < b->nsnaps; j++)
      if (strcmp (a->snap[i].id, b->snap[j].id) == 0)
        break;
    CHECK (c, j < b->nsnaps, "%s: snapshot %s is gone", how, a->snap[i].id);
    CHECK (c, memcmp (a->snap[i].val, b->snap[j].val,
                      specs[a->snap[i].vol].size / SECT * 4) == 0,
           "%s: snapshot %s reads differently", how, a->snap[i].id);
    CHECK (c, a->snap[i].nholds == b->snap[j].nholds, "%s: snapshot %s has"
           " %zu hold(s), before %zu", how, a->snap[i].id, b->snap[j].nholds,
           a->snap[i].nholds);
    CHECK (c, a->snap[i].si.referenced_bytes == b->snap[j].si.referenced_bytes
           && a->snap[i].si.exclusive_bytes == b->snap[j].si.exclusive_bytes
           && a->snap[i].si.written_bytes == b->snap[j].si.written_bytes
           && a->snap[i].si.generation == b->snap[j].si.generation,
           "%s: snapshot %s accounting changed (referenced %" PRIu64 "/%"
           PRIu64 ", exclusive %" PRIu64 "/%" PRIu64 ", written %" PRIu64
           "/%" PRIu64 ")", how, a->snap[i].id,
           a->snap[i].si.referenced_bytes, b->snap[j].si.referenced_bytes,
           a->snap[i].si.exclusive_bytes, b->snap[j].si.exclusive_bytes,
           a->snap[i].si.written_bytes, b->snap[j].si.written_bytes);
  }
}

/* Open IMG, check it against the model and its own accounting, close.
 * Returns 0 with *OUT filled, or -1 when the pool legitimately does
 * not open (its creation had not returned). */
static int
recover (const struct ctx *c, struct crashsim *img, struct state *out)
{
  struct sv_pool *pool = open_image (c, img, !c->r->pool_present);

  if (pool == NULL) {
    c->r->st->pool_lost++;
    return -1;
  }
  collect_state (c, pool, out);
  check_against_model (c, out);
  check_accounting (c, pool, out);
  close_pool (c, pool);
  return 0;
}

/* After a recovery: a reopen changes nothing; new writes and the
 * deletion of every snapshot work, are durable and leave allocated ==
 * referenced. */
static void
after_recovery (const struct ctx *c, struct crashsim *img,
                const struct state *st, uint64_t rng)
{
  struct run *r = c->r;
  struct sv_pool *pool;
  struct state again;
  size_t i;
  unsigned k, w;
  uint32_t *expect[NVOL];

  pool = open_image (c, img, 0);
  collect_state (c, pool, &again);
  compare_states (c, st, &again, "second open");
  state_free (&again);

  /* A few writes (versions past any call of the run), then delete
   * every snapshot. */
  for (k = 0; k < NVOL; k++) {
    struct sv_view *view;
    expect[k] = NULL;
    if (!st->present[k])
      continue;
    expect[k] = xcalloc (specs[k].size / SECT, sizeof (uint32_t));
    memcpy (expect[k], st->live[k], specs[k].size / SECT * 4);
    view = view_open (pool, specs[k].name);
    if (view == NULL)
      fail_ctx (c, "view_open %s: %s", specs[k].name, sv_errmsg ());
    for (w = 0; w < 3; w++) {
      uint64_t nsect = specs[k].size / SECT;
      uint64_t s0 = ut_rand_below (&rng, nsect), n, s;
      uint32_t v = 0x80000000u + w;
      n = 1 + ut_rand_below (&rng, 40);
      if (s0 + n > nsect)
        n = nsect - s0;
      for (s = 0; s < n; s++) {
        fill_sector (r->buf + s * SECT, k, s0 + s, v);
        expect[k][s0 + s] = v;
      }
      if (view_pwrite (view, r->buf, n * SECT, s0 * SECT, 0) == -1)
        fail_ctx (c, "view_pwrite after recovery: %s", sv_errmsg ());
    }
    if (view_flush (view) == -1)
      fail_ctx (c, "view_flush after recovery: %s", sv_errmsg ());
    view_close (view);
  }
  for (i = 0; i < st->nsnaps; i++)
    if ((st->snap[i].nholds > 0 &&
         pool_snapshot_release (pool, st->snap[i].id, PL_TAG) != 1) ||
        pool_snapshot_delete (pool, st->snap[i].id, NULL) == -1)
      fail_ctx (c, "pool_snapshot_delete %s after recovery: %s",
                st->snap[i].id, sv_errmsg ());
  for (k = 0; k < NVOL; k++) {
    struct sv_volume_info *all = NULL;
    size_t n = 0;
    if (!st->present[k])
      continue;
    if (pool_volume_list (pool, specs[k].name, &all, &n) == -1 || n != 1)
      fail_ctx (c, "pool_volume_list %s: %s", specs[k].name, sv_errmsg ());
    CHECK (c, all[0].allocated_bytes >= all[0].referenced_bytes,
           "volume %s: allocated %" PRIu64 " < referenced %" PRIu64,
           specs[k].name, all[0].allocated_bytes, all[0].referenced_bytes);
    free (all);
  }
  close_pool (c, pool);

  /* Reopened (which reclaims: an overwrite in place can leave older
   * data that no view reads until then), every snapshot gone:
   * allocated == referenced == the data view_extents reports. */
  pool = open_image (c, img, 0);
  collect_state (c, pool, &again);
  for (k = 0; k < NVOL; k++) {
    const struct sv_volume_info *vi = &again.vi[k];
    uint64_t data;
    if (!st->present[k])
      continue;
    for (i = 0; i < specs[k].size / SECT; i++)
      CHECK (c, again.live[k][i] == expect[k][i], "volume %s sector %zu"
             " reads version %" PRIu32 " after writes, a flush and a"
             " reopen; expected %" PRIu32, specs[k].name, i,
             again.live[k][i], expect[k][i]);
    free (expect[k]);
    data = extent_bytes (c, pool, k, NULL, again.live[k]);
    CHECK (c, vi->nsnapshots == 0 && vi->snapshot_bytes == 0 &&
           vi->allocated_bytes == vi->referenced_bytes &&
           vi->referenced_bytes == data, "volume %s without snapshots:"
           " allocated %" PRIu64 ", referenced %" PRIu64 ", snapshot-only %"
           PRIu64 ", data in extents %" PRIu64, specs[k].name,
           vi->allocated_bytes, vi->referenced_bytes, vi->snapshot_bytes,
           data);
  }
  CHECK (c, again.nsnaps == 0, "%zu snapshots back after deleting all",
         again.nsnaps);
  state_free (&again);
  close_pool (c, pool);
}

/* The offline checker (check.h) on a crash image written out to a host
 * directory.  Every finding must be one REPAIRABLE allows (all
 * repairable ones, or none); returns how many there were. */
static size_t
checker_scan (const struct ctx *c, const struct check_list *l,
              const char *when, const char *where, int repairable)
{
  size_t i;

  for (i = 0; i < l->n; i++) {
    const struct check_item *it = &l->v[i];
    CHECK (c, repairable && it->repairable, "check_pool %s, %s: %s%s: %s",
           when, where, it->repairable ? "" : "unrepairable ", it->kind,
           it->message);
  }
  return l->n;
}

static size_t
checker_report (const struct ctx *c, const struct check_report *rep,
                const char *when, int repairable)
{
  size_t i, n;

  n = checker_scan (c, &rep->problems, when, "pool", repairable);
  for (i = 0; i < rep->nvolumes; i++)
    n += checker_scan (c, &rep->volumes[i].problems, when,
                       rep->volumes[i].name, repairable);
  return n;
}

/* Write IMG out below a fresh host directory; returns the pool's path
 * (malloc'd) and the directory in *TOP.  On tmpfs when there is one:
 * the checker's repair syncs. */
static char *
export_image (const struct ctx *c, struct crashsim *img, char **top)
{
  char *pool;

  if (access ("/dev/shm", W_OK) == 0) {
    *top = strdup ("/dev/shm/snapvol-powerloss-XXXXXX");
    assert_non_null (*top);
    assert_non_null (mkdtemp (*top));
  }
  else
    *top = ut_mkdtemp ();
  assert_true (asprintf (&pool, "%s/fs%s", *top, POOL) > 0);
  {
    char *fs;
    assert_true (asprintf (&fs, "%s/fs", *top) > 0);
    if (crashsim_export (img, fs) == -1)
      fail_ctx (c, "crashsim_export %s: %s", fs, strerror (errno));
    free (fs);
  }
  return pool;
}

/* A raw crash image: the checker finds nothing it cannot repair; its
 * repair leaves a clean pool that still satisfies the model. */
static void
checker_on_crash_image (const struct ctx *c, struct crashsim *img)
{
  struct sv_pool_options opts = { .checkpoint_bytes = c->r->ckpt_bytes };
  struct check_report *rep;
  struct sv_pool *pool;
  struct state st;
  char *top, *dir;

  if (!c->r->pool_present)
    return;
  dir = export_image (c, img, &top);
  rep = check_pool (dir, 0);
  if (rep == NULL)
    fail_ctx (c, "check_pool %s: %s", dir, sv_errmsg ());
  c->r->st->checker_runs++;
  c->r->st->checker_findings += checker_report (c, rep, "of a crash image",
                                                1);
  check_report_free (rep);
  rep = check_pool (dir, CHECK_REPAIR);
  if (rep == NULL)
    fail_ctx (c, "check_pool --repair %s: %s", dir, sv_errmsg ());
  checker_report (c, rep, "after its repair", 0);
  CHECK (c, rep->clean, "check_pool --repair %s: not clean", dir);
  check_report_free (rep);
  pool = pool_open (dir, &opts, 0);
  if (pool == NULL)
    fail_ctx (c, "pool_open after check_pool --repair: %s", sv_errmsg ());
  collect_state (c, pool, &st);
  check_against_model (c, &st);
  check_accounting (c, pool, &st);
  state_free (&st);
  if (pool_close (pool) == -1)
    fail_ctx (c, "pool_close after check_pool --repair: %s", sv_errmsg ());
  ut_rmtree (top);
  free (top);
  free (dir);
}

/* A recovered pool, closed cleanly: the checker finds nothing at all
 * (recovery punched what no version maps, the close's checkpoint
 * removed every journal file it covers). */
static void
checker_after_recovery (const struct ctx *c, struct crashsim *img)
{
  struct check_report *rep;
  char *top, *dir;

  dir = export_image (c, img, &top);
  rep = check_pool (dir, 0);
  if (rep == NULL)
    fail_ctx (c, "check_pool %s: %s", dir, sv_errmsg ());
  c->r->st->checker_runs++;
  checker_report (c, rep, "after recovery and a clean close", 0);
  CHECK (c, rep->clean, "check_pool %s after recovery and a clean close:"
         " not clean", dir);
  check_report_free (rep);
  ut_rmtree (top);
  free (top);
  free (dir);
}

/* A second crash during the recovery of IMG: take an image after
 * operation AT of the recovery (or of the close after it). */
struct nested {
  uint64_t at, seed;
  struct crashsim *img;
};

static void
nested_hook (void *opaque, struct crashsim *cs, uint64_t op, const char *what)
{
  struct nested *n = opaque;

  if (op == n->at && n->img == NULL)
    n->img = crashsim_crash (cs, n->seed, CRASHSIM_RANDOM, NULL);
}

/* Do two recovered states read the same?  (For counting only.) */
static int
same_content (const struct state *a, const struct state *b)
{
  size_t i;
  unsigned k;

  if (a->nsnaps != b->nsnaps)
    return 0;
  for (k = 0; k < NVOL; k++) {
    if (a->present[k] != b->present[k])
      return 0;
    if (a->present[k] &&
        memcmp (a->live[k], b->live[k], specs[k].size / SECT * 4) != 0)
      return 0;
  }
  for (i = 0; i < a->nsnaps; i++)
    if (strcmp (a->snap[i].id, b->snap[i].id) != 0)
      return 0;
  return 1;
}

/* The journal sweep.  A swept crash image has its journal files (every
 * volume's, as the crash left them, before any recovery) damaged one
 * byte at a time, each flip in its own exact copy of the image: in the
 * records (offset SV_BLOCK on) and in the header and mark sectors.
 * Then pool_open must either refuse, with EILSEQ (or EPROTONOSUPPORT)
 * and a message naming the damaged file, or open a pool that passes
 * the checks of recover (invariants 1-4).  A pool that opens and fails
 * them lost acknowledged data silently.
 *
 * Two cases are counted apart; their checks leave out content (what
 * sectors and snapshots read, which snapshots are missing or back) and
 * keep the rest (the volumes; every snapshot listed was made, in its
 * set, with its size; the space accounting):
 *   - the journal's known limit (journal.h, "Torn tail or corruption"):
 *     a power loss may drop the mark written after the last commit
 *     returned, so a record damaged in that commit, at or after the
 *     mark the image holds but before the one the process wrote, is
 *     taken for a torn tail and cut.  In a kill -9 image every mark the
 *     process wrote is there: never this case;
 *   - records that the recovery of an adopted image replayed past the
 *     newest durable mark of their file (their commit's fdatasync had
 *     returned, its mark was not written or did not survive): the
 *     workload went on from them, and the model holds them as durable,
 *     but recovery makes no mark for them durable (the pool writes one
 *     at a later commit, and only the commit after that syncs it), so
 *     until then a record damaged there is taken for a torn tail too.
 *     Power loss or kill -9 alike.
 * A snapshot that a relaxed check finds listed must have been made in
 * the iteration (adoptions included), on its volume, in its set. */

/* A journal file of a crash image. */
struct jfile {
  char path[256];
  uint64_t size;
  uint64_t end;                 /* its newest valid mark's offset */
  uint64_t true_end;            /* the same in what the process wrote */
};

/* The size of journal file PATH of IMG and the offset its newest valid
 * mark gives (SV_BLOCK without one), decoded as replay does: a slot
 * that fails its checksum or names another salt is no mark.  -1 if the
 * file cannot be opened. */
static int
journal_file_mark (struct crashsim *img, const char *path, uint64_t *size,
                   uint64_t *end)
{
  const struct sv_io *io = crashsim_io (img);
  uint8_t hdr[SV_BLOCK];
  uint64_t count = 0;
  uint32_t salt;
  unsigned k;
  int h = io->ops->open (io->opaque, path, O_RDONLY, 0);

  if (h == -1)
    return -1;
  memset (hdr, 0, sizeof hdr);
  assert_true (io->ops->pread (io->opaque, h, hdr, SV_BLOCK, 0) >= 0);
  assert_int_equal (io->ops->size (io->opaque, h, size), 0);
  io->ops->close (io->opaque, h);
  salt = get_le32 (hdr + JH_OFF_SALT);
  *end = SV_BLOCK;
  for (k = 0; k < 2; k++) {
    const uint8_t *m = hdr + JM_OFF_SLOT0 + k * JM_LEN;
    if (ondisk_check (m, JM_LEN, &ondisk_mark, JM_OFF_SLOT0 + k * JM_LEN,
                      path) == 0 &&
        get_le32 (m + JM_OFF_SALT) == salt &&
        get_le64 (m + JM_OFF_COUNT) > count) {
      count = get_le64 (m + JM_OFF_COUNT);
      *end = get_le64 (m + JM_OFF_END);
    }
  }
  return 0;
}

/* The journal files of every volume directory of IMG into F (at most
 * SWEEP_MAXFILES); returns how many.  TRUTH, if not NULL, is the same
 * moment as the process saw it, for true_end (a file it no longer has
 * gets the image's). */
static size_t
list_journal_files (struct crashsim *img, struct crashsim *truth,
                    struct jfile *f)
{
  const struct sv_io *io = crashsim_io (img);
  char **vols = NULL, **names = NULL;
  size_t nv = 0, nn, i, k, n = 0;
  uint64_t tsize;

  if (io->ops->listdir (io->opaque, POOL "/volumes", &vols, &nv) == -1)
    return 0;
  for (i = 0; i < nv; i++) {
    char dir[128];
    snprintf (dir, sizeof dir, POOL "/volumes/%s", vols[i]);
    free (vols[i]);
    nn = 0;
    if (io->ops->listdir (io->opaque, dir, &names, &nn) == -1)
      continue;
    for (k = 0; k < nn; k++) {
      if (strncmp (names[k], "journal.", 8) == 0 && n < SWEEP_MAXFILES) {
        snprintf (f[n].path, sizeof f[n].path, "%s/%s", dir, names[k]);
        if (journal_file_mark (img, f[n].path, &f[n].size, &f[n].end) == 0) {
          if (truth == NULL ||
              journal_file_mark (truth, f[n].path, &tsize,
                                 &f[n].true_end) == -1)
            f[n].true_end = f[n].end;
          n++;
        }
      }
      free (names[k]);
    }
    free (names);
  }
  free (vols);
  return n;
}

/* The adopted image IMG, just recovered: note the records its recovery
 * replayed past the newest mark of their file.  They are the state the
 * workload goes on from, yet no mark says so until the volume's next
 * commit writes one. */
static void
note_unmarked (struct run *r, struct crashsim *img)
{
  /* What is durable: the pool may have written a mark since without
   * syncing it (its next commit does). */
  struct crashsim *durable = crashsim_crash (img, 0, CRASHSIM_SYNCED_ONLY,
                                             NULL);
  struct jfile *f = xcalloc (SWEEP_MAXFILES, sizeof *f);
  size_t n = list_journal_files (durable, NULL, f), i;

  r->nunmarked = 0;
  for (i = 0; i < n; i++)
    if (f[i].size > f[i].end) {
      memcpy (r->unmarked[r->nunmarked].path, f[i].path, sizeof f[i].path);
      r->unmarked[r->nunmarked++].upto = f[i].size;
    }
  free (f);
  crashsim_free (durable);
}

/* Is byte OFF of journal file F in records that a recovery of an
 * adopted image replayed and no mark in the image covers? */
static int
in_unmarked (const struct run *r, const struct jfile *f, uint64_t off)
{
  size_t i;

  if (off < SV_BLOCK || off < f->end)
    return 0;
  for (i = 0; i < r->nunmarked; i++)
    if (strcmp (r->unmarked[i].path, f->path) == 0)
      return off < r->unmarked[i].upto;
  return 0;
}

/* What a flip's checks need across a failed check (longjmp). */
struct sweep_try {
  jmp_buf jb;
  struct sv_pool *pool;
  struct state st;
  char msg[2048];
};

/* Run the checks of recover on T's pool, RELAXED or not; 0 if they
 * pass, -1 with the failure in T->msg. */
static int
sweep_checks (struct ctx *c, struct sweep_try *t, int relaxed)
{
  struct stats saved = *c->r->st;

  c->soft = &t->jb;
  c->soft_msg = t->msg;
  c->soft_len = sizeof t->msg;
  c->relaxed = relaxed;
  memset (&t->st, 0, sizeof t->st);
  if (setjmp (t->jb) != 0) {
    state_free (&t->st);
    c->soft = NULL;
    *c->r->st = saved;
    return -1;
  }
  collect_state (c, t->pool, &t->st);
  check_against_model (c, &t->st);
  check_accounting (c, t->pool, &t->st);
  state_free (&t->st);
  c->soft = NULL;
  /* The model's counters are the recovery's, not the sweep's. */
  *c->r->st = saved;
  return 0;
}

/* Flip byte OFF of journal file F by MASK in a copy of P's image, open
 * the pool on it and check. */
static void
sweep_flip (struct run *r, struct pending *p, const struct jfile *f,
            uint64_t off, uint8_t mask, uint64_t nflip)
{
  struct crashsim *copy = crashsim_crash (p->img, 0, CRASHSIM_KEEP_ALL, NULL);
  const struct sv_io *io = crashsim_io (copy);
  struct sv_pool_options opts = run_options (r, io);
  struct ctx c = { .r = r, .p = p };
  struct sweep_try *t = xcalloc (1, sizeof *t);
  int kill = p->mode == CRASHSIM_KEEP_ALL;
  int unmarked = in_unmarked (r, f, off);
  int past_mark = !kill && !unmarked && off >= SV_BLOCK && off >= f->end &&
    off < f->true_end;
  char where[640], first[sizeof t->msg];
  uint8_t was;
  int h, e, differ;

  h = io->ops->open (io->opaque, f->path, O_RDWR, 0);
  assert_true (h >= 0);
  assert_int_equal (io->ops->pread (io->opaque, h, &was, 1, off), 1);
  assert_int_equal (io->ops->pwrite (io->opaque, h,
                                     &(uint8_t) { was ^ mask }, 1, off), 1);
  io->ops->close (io->opaque, h);
  snprintf (where, sizeof where, "journal sweep, flip %" PRIu64 ": byte %"
            PRIu64 " of %s (%" PRIu64 " bytes) from 0x%02x to 0x%02x; its"
            " newest mark ends at %" PRIu64 " in the image, at %" PRIu64
            " as written%s", nflip, off, f->path, f->size, was,
            (uint8_t) (was ^ mask), f->end, f->true_end,
            past_mark ? " (in the last commit, past its lost mark)"
            : unmarked ? " (replayed by the recovery of the adopted image,"
            " no mark since)" : "");
  c.phase = where;
  r->st->flips++;
  r->st->flips_hdr += off < SV_BLOCK;

  t->pool = pool_open (POOL, &opts, 0);
  if (t->pool == NULL) {
    e = errno;
    CHECK (&c, (e == EILSEQ || e == EPROTONOSUPPORT) &&
           strstr (sv_errmsg (), f->path) != NULL, "pool_open refuses the"
           " damaged journal with %s, not EILSEQ naming %s: %s",
           strerror (e), f->path, sv_errmsg ());
    r->st->flips_refused++;
    goto out;
  }
  if (sweep_checks (&c, t, 0) == 0)
    differ = 0;
  else if (past_mark) {
    /* The content may differ; the rest must hold.  (Records that a
     * recovery replayed are marked by it: no exception for them.) */
    snprintf (first, sizeof first, "%s", t->msg);
    if (sweep_checks (&c, t, 1) == -1)
      goto silent;
    if (r->trace)
      fprintf (stderr, "%s: %s\n", where, first);
    differ = 1;
  }
  else
    goto silent;
  r->st->flips_intact += !past_mark;
  r->st->flips_past_mark += past_mark;
  r->st->flips_past_mark_differ += past_mark && differ;
  r->st->flips_unmarked += unmarked;
  r->st->flips_unmarked_differ += unmarked && differ;
  close_pool (&c, t->pool);
  goto out;

 silent:
  if (r->st->flips_silent++ < SWEEP_REPORTS) {
    print_ctx (&c, "power-loss journal sweep: the damaged pool opens and"
               " fails a check", t->msg);
    print_rerun (&c);
  }
  pool_close (t->pool);

 out:
  free (t);
  crashsim_free (copy);
}

/* Damage P's journal files at r->flips positions drawn from the seed:
 * one in four in the header and mark sectors, the others in the
 * records, uniformly over all files. */
static void
sweep_image (struct run *r, struct pending *p)
{
  static const uint64_t hdr = JM_OFF_SLOT0 + 2 * JM_LEN;
  uint64_t rng = ut_seed_derive (r->iter_seed ^ 0xf11bb17e5eed5eedull, p->op);
  struct jfile *f = xcalloc (SWEEP_MAXFILES, sizeof *f);
  uint64_t rec = 0, i, off, k;
  struct timespec t0, t1;
  size_t n, j;

  clock_gettime (CLOCK_MONOTONIC, &t0);
  n = list_journal_files (p->img, p->truth ? p->truth : p->img, f);
  for (j = 0; j < n; j++)
    rec += f[j].size > SV_BLOCK ? f[j].size - SV_BLOCK : 0;
  if (n > 0) {
    r->st->sweep_images++;
    r->st->sweep_images_kill += p->mode == CRASHSIM_KEEP_ALL;
  }
  for (i = 0; i < r->flips && n > 0; i++) {
    uint8_t mask = 1 + ut_rand_below (&rng, 255);
    if (rec == 0 || ut_rand_below (&rng, 4) == 0) {
      k = ut_rand_below (&rng, n * hdr);
      j = k / hdr;
      off = k % hdr;
      if (f[j].size == 0)
        continue;
      off %= f[j].size < hdr ? f[j].size : hdr;
    }
    else {
      k = ut_rand_below (&rng, rec);
      for (j = 0; f[j].size <= SV_BLOCK || k >= f[j].size - SV_BLOCK; j++)
        k -= f[j].size > SV_BLOCK ? f[j].size - SV_BLOCK : 0;
      off = SV_BLOCK + k;
    }
    sweep_flip (r, p, &f[j], off, mask, i + 1);
  }
  free (f);
  clock_gettime (CLOCK_MONOTONIC, &t1);
  r->st->sweep_seconds += (t1.tv_sec - t0.tv_sec) +
    (t1.tv_nsec - t0.tv_nsec) / 1e9;
}

/* Check the crash image of P: recover it (sometimes with a second crash
 * during the recovery or the close after it), run the checker on it now
 * and then, and use the recovered pool.
 *
 * A kill -9 image (CRASHSIM_KEEP_ALL) holds the killed process's
 * unsynced changes still unsynced: the second crash is then a power loss
 * after the restart, and may drop what the first recovery read.  Until
 * pool_open returns, the state it recovers may thus be older than the
 * one recovered without the second crash: it must satisfy the model (the
 * four invariants), and nothing more.  Once pool_open has returned,
 * recovery has made its state durable: a crash then (during the close)
 * must recover the same state. */
static void
check_image (struct run *r, struct pending *p)
{
  uint64_t rng = ut_seed_derive (r->iter_seed ^ 0x5eed0f2ecd0e1234ull, p->op);
  struct ctx c = { .r = r, .p = p, .phase = "recovery" };
  struct state st, st2;
  int kill = p->mode == CRASHSIM_KEEP_ALL;
  int nested = ut_rand_below (&rng, kill ? 2 : 4) == 0;
  int checker = ut_rand_below (&rng, CHECKER_EVERY) == 0 && r->checker;

  c.pristine = crashsim_crash (p->img, 0, CRASHSIM_KEEP_ALL, NULL);
  r->st->points++;
  if (p->sweep && r->pool_present)
    sweep_image (r, p);
  if (checker) {
    c.phase = "offline checker on the crash image";
    checker_on_crash_image (&c, c.pristine);
    c.phase = "recovery";
  }
  if (!nested) {
    if (recover (&c, p->img, &st) == 0) {
      if (checker) {
        c.phase = "offline checker after recovery";
        checker_after_recovery (&c, p->img);
      }
      c.phase = "after recovery";
      after_recovery (&c, p->img, &st, rng);
      state_free (&st);
    }
  }
  else {
    struct crashsim *copy = crashsim_crash (p->img, 0, CRASHSIM_KEEP_ALL,
                                            NULL);
    struct nested n = { .seed = ut_rand (&rng) };
    struct sv_pool *pool;
    uint64_t opened;
    int ok = recover (&c, copy, &st);

    /* The second crash lands anywhere in the recovery and the close
     * after it: the copy took as many operations. */
    n.at = 1 + ut_rand_below (&rng, crashsim_ops (copy) + 1);
    crashsim_free (copy);
    r->st->nested++;
    r->st->nested_kill += kill;
    if (ok == 0) {
      c.phase = "recovery interrupted by a second crash";
      c.nested_op = n.at;
      crashsim_set_hook (p->img, nested_hook, &n);
      pool = open_image (&c, p->img, 0);
      opened = crashsim_ops (p->img);
      close_pool (&c, pool);
      crashsim_set_hook (p->img, NULL, NULL);
      if (n.img) {
        r->st->nested_hit++;
        r->st->nested_kill_hit += kill;
        c.phase = "recovery after a crash during recovery";
        if (recover (&c, n.img, &st2) == -1) {
          /* Only a pool whose creation had not returned may be lost,
           * and only by a power loss before the first recovery made
           * the pool's names durable. */
          if (!kill || n.at > opened)
            fail_ctx (&c, "the pool no longer opens");
          r->st->nested_kill_lost++;
        }
        else {
          if (!kill || n.at > opened)
            compare_states (&c, &st, &st2, "recovered after a second"
                            " crash");
          else if (!same_content (&st, &st2))
            r->st->nested_kill_lost++;
          c.phase = "after recovery";
          after_recovery (&c, n.img, &st2, rng);
          state_free (&st2);
        }
        crashsim_free (n.img);
      }
      state_free (&st);
    }
  }
  crashsim_free (c.pristine);
}

/* Take the pending images out of R (under r->mu: a reclaim thread may
 * be adding one); *N of them. */
static struct pending *
take_pending (struct run *r, size_t *n)
{
  struct pending *pend;

  pthread_mutex_lock (&r->mu);
  pend = r->pend;
  *n = r->npend;
  r->pend = NULL;
  r->npend = r->cappend = 0;
  pthread_mutex_unlock (&r->mu);
  return pend;
}

static void
free_pending (struct pending *p)
{
  crashsim_free (p->img);
  if (p->truth)
    crashsim_free (p->truth);
}

/* Free the pending images unchecked. */
static void
drop_pending (struct run *r)
{
  struct pending *pend;
  size_t i, n;

  pend = take_pending (r, &n);
  for (i = 0; i < n; i++)
    free_pending (&pend[i]);
  free (pend);
}

/* Run the crash checks for the images taken during the call that just
 * returned (or since the last settle: see crash_hook), with the model as
 * it stood during the call; keep the first image marked for adoption. */
static void
settle (struct run *r)
{
  struct pending *pend;
  size_t i, n;

  pend = take_pending (r, &n);
  for (i = 0; i < n; i++) {
    struct pending *p = &pend[i];
    if (p->adopt && r->adopt.img == NULL) {
      r->adopt = *p;
      r->adopt.img = crashsim_crash (p->img, 0, CRASHSIM_KEEP_ALL, NULL);
      r->adopt.sweep = 0;
      r->adopt.truth = NULL;
    }
    if (p->check)
      check_image (r, p);
    free_pending (p);
  }
  free (pend);
}

/* The workload. */

static void begin_call (struct run *r, const char *fmt, ...)
  __attribute__((format (printf, 2, 3)));

/* Start call number r->call + 1; returns it (the version it writes). */
static void
begin_call (struct run *r, const char *fmt, ...)
{
  va_list ap;

  r->call++;
  r->st->calls++;
  va_start (ap, fmt);
  vsnprintf (r->desc, sizeof r->desc, fmt, ap);
  va_end (ap);
  if (r->trace)
    fprintf (stderr, "call %" PRIu32 " (after operation %" PRIu64 "): %s\n",
             r->call, r->op_base + crashsim_ops (r->cs), r->desc);
}

static void
call_failed (struct run *r, const char *what)
{
  struct ctx c = { .r = r, .phase = r->injecting ? "injected call"
                   : "workload" };

  fail_ctx (&c, "%s: %s", what, sv_errmsg ());
}

static void
open_views (struct run *r)
{
  unsigned k;

  for (k = 0; k < NVOL; k++)
    if (r->v[k].state == V_PRESENT) {
      r->v[k].view = view_open (r->pool, specs[k].name);
      if (r->v[k].view == NULL)
        call_failed (r, "view_open");
    }
  r->views_open = 1;
}

static void
close_views (struct run *r)
{
  unsigned k;

  r->views_open = 0;
  for (k = 0; k < NVOL; k++) {
    view_close (r->v[k].view);
    r->v[k].view = NULL;
  }
}

static struct sv_pool *
open_main (struct run *r, int create)
{
  struct sv_pool_options opts = run_options (r, crashsim_io (r->cs));

  return pool_open (POOL, &opts, create);
}

/* Would writing sectors [S0, S0+N) of volume K overflow a candidate
 * list? */
static int
needs_flush (const struct mvol *mv, uint64_t s0, uint64_t n)
{
  uint64_t s;

  for (s = s0; s < s0 + n; s++)
    if (mv->s[s].n >= MAXCAND - 1)
      return 1;
  return 0;
}

/* Does a zero (or, TRIM, a trim) of [OFF, EFF_END) change sector S?
 * A trim changes whole subclusters only. */
static int
zero_hits (const struct mvol *mv, uint64_t s, uint64_t off, uint64_t eff_end,
           int trim)
{
  uint64_t a = s * SECT / mv->ss * mv->ss, b = a + mv->ss;

  return !trim || (a >= off && b <= eff_end);
}

/* The call in progress has written its data: reads return it now. */
static void
outer_apply (struct run *r)
{
  struct outer *o = &r->outer;
  struct mvol *mv = &r->v[o->k];
  uint64_t s;

  if (!o->active)
    return;
  o->active = 0;
  for (s = o->s0; s < o->s0 + o->n; s++)
    if (!o->zero || zero_hits (mv, s, o->off, o->eff_end, o->trim))
      mv->s[s].cur = o->v;
}

static void
do_flush (struct run *r, unsigned k)
{
  begin_call (r, "flush %s", specs[k].name);
  cut_begin (&r->v[k]);
  if (view_flush (r->v[k].view) == -1)
    call_failed (r, "view_flush");
  settle (r);
  cut_end (&r->v[k]);
}

static void
do_write (struct run *r, unsigned k, uint64_t s0, uint64_t n, int fua)
{
  struct mvol *mv = &r->v[k];
  uint32_t v;
  uint64_t s;

  begin_call (r, "%swrite %s sectors [%" PRIu64 ", +%" PRIu64 ")%s",
              r->injecting ? "injected " : "", specs[k].name, s0, n,
              fua ? " fua" : "");
  v = r->call;
  for (s = 0; s < n; s++) {
    uint32_t pos;
    fill_sector (r->buf + s * SECT, k, s0 + s, v);
    pos = cand_push (&mv->s[s0 + s], v);
    /* Only a FUA call (never an injected one) uses its cut, so that an
     * injected call leaves the flush's in progress alone. */
    if (fua)
      mv->cut[s0 + s] = pos;
  }
  r->outer = (struct outer) { .active = 1, .k = k, .s0 = s0, .n = n,
                              .v = v };
  if (view_pwrite (mv->view, r->buf, n * SECT, s0 * SECT, fua) == -1)
    call_failed (r, "view_pwrite");
  outer_apply (r);
  if (r->injecting)
    return;
  settle (r);
  if (fua)
    for (s = s0; s < s0 + n; s++)
      cand_cut (&mv->s[s], mv->cut[s]);
}

/* Zero or trim sectors [S0, S0+N).  A trim (and the engine's zero)
 * changes whole subclusters in the map; a trim leaves the partial ones
 * at the edges alone, a zero writes them.  The last subcluster of a
 * volume that ends inside it counts as whole for a range reaching the
 * end. */
static void
do_zero (struct run *r, unsigned k, uint64_t s0, uint64_t n, int trim,
         int may_trim, int fast, int fua)
{
  struct mvol *mv = &r->v[k];
  uint64_t off = s0 * SECT, end = (s0 + n) * SECT, s;
  uint64_t eff_end = end == mv->spec->size
    ? (end + mv->ss - 1) / mv->ss * mv->ss : end;
  int unaligned = off % mv->ss != 0 ||
    (end % mv->ss != 0 && end != mv->spec->size);
  int r_;

  begin_call (r, "%s%s %s sectors [%" PRIu64 ", +%" PRIu64 ")%s%s%s",
              r->injecting ? "injected " : "", trim ? "trim" : "zero",
              specs[k].name, s0, n, may_trim ? " may_trim" : "",
              fast ? " fast" : "", fua ? " fua" : "");
  if (!trim && fast && unaligned) {
    errno = 0;
    r_ = view_zero (mv->view, n * SECT, off, may_trim, fast, fua);
    if (r_ != -1 || errno != ENOTSUP)
      call_failed (r, "view_zero (fast, unaligned: expected ENOTSUP)");
    if (!r->injecting)
      settle (r);
    return;
  }
  for (s = s0; s < s0 + n; s++)
    if (zero_hits (mv, s, off, eff_end, trim)) {
      uint32_t pos = cand_push (&mv->s[s], 0);
      if (fua)
        mv->cut[s] = pos;
    }
  r->outer = (struct outer) { .active = 1, .k = k, .s0 = s0, .n = n,
                              .v = 0, .zero = 1, .trim = trim, .off = off,
                              .eff_end = eff_end };
  r_ = trim ? view_trim (mv->view, n * SECT, off, fua)
    : view_zero (mv->view, n * SECT, off, may_trim, fast, fua);
  if (r_ == -1)
    call_failed (r, trim ? "view_trim" : "view_zero");
  outer_apply (r);
  if (r->injecting)
    return;
  settle (r);
  if (fua)
    for (s = s0; s < s0 + n; s++)
      if (zero_hits (mv, s, off, eff_end, trim))
        cand_cut (&mv->s[s], mv->cut[s]);
}

/* A few writes, zeroes and trims (never FUA: a flush cannot start
 * inside another), in the middle of the call in progress. */
static void
inject (struct run *r, const char *what)
{
  char desc[sizeof r->desc];
  unsigned i, n = 1 + ut_rand_below (&r->inject_rng, 3), here = NVOL, k;

  /* Half of them go to the volume whose file is being synced; during a
   * deletion, three in four, as writes: the window between a deletion
   * and its durability is where copy-on-write must still protect the
   * snapshot. */
  for (k = 0; k < NVOL; k++) {
    char dir[SV_NAME_MAX + 16];
    snprintf (dir, sizeof dir, "/volumes/%s/", specs[k].name);
    if (strstr (what, dir))
      here = k;
  }

  memcpy (desc, r->desc, sizeof desc);
  r->injecting = 1;
  outer_apply (r);
  for (i = 0; i < n; i++) {
    unsigned pick = ut_rand_below (&r->inject_rng,
                                   r->deleting ? 4 * NVOL : 2 * NVOL);
    struct mvol *mv;
    uint64_t s0;
    k = pick < NVOL || here == NVOL ? pick % NVOL : here;
    mv = &r->v[k];
    s0 = ut_rand_below (&r->inject_rng, mv->nsect);
    uint64_t len = 1 + ut_rand_below (&r->inject_rng, 24);
    unsigned kind = ut_rand_below (&r->inject_rng, r->deleting ? 2 : 4);
    if (kind >= 2) {
      uint64_t spss = mv->ss / SECT;
      s0 = s0 / spss * spss;
      len = (len + spss - 1) / spss * spss;
    }
    if (s0 + len > mv->nsect)
      len = mv->nsect - s0;
    if (needs_flush (mv, s0, len))
      continue;
    if (kind <= 1)
      do_write (r, k, s0, len, 0);
    else
      do_zero (r, k, s0, len, kind == 3, 0, 0, 0);
    r->st->injected++;
  }
  r->injecting = 0;
  memcpy (r->desc, desc, sizeof desc);
}

static void
make_uuid (uint64_t *rng, char out[SV_UUID_STRLEN + 1])
{
  uint64_t a = ut_rand (rng), b = ut_rand (rng);

  snprintf (out, SV_UUID_STRLEN + 1, "%08" PRIx32 "-%04" PRIx32 "-4%03" PRIx32
            "-8%03" PRIx32 "-%012" PRIx64, (uint32_t) a,
            (uint32_t) (a >> 32) & 0xffff, (uint32_t) (a >> 48) & 0xfff,
            (uint32_t) b & 0xfff, (b >> 12) & (uint64_t) 0xffffffffffff);
}

static size_t
snaps_of (const struct run *r, unsigned k)
{
  size_t i, n = 0;

  for (i = 0; i < r->nsnaps; i++)
    n += r->snaps[i].vol == k;
  return n;
}

/* Snapshot the volumes KS[0..N) as one set, with pool_snapshot_create
 * or (HOLD) pool_hold and pool_hold_commit.  The pin comes before any
 * I/O of the call, so the snapshots hold what reads returned when the
 * call began; writes injected during its flushes come after the pin. */
static void
do_snapshot (struct run *r, const unsigned *ks, size_t n, int hold)
{
  const char *names[NVOL];
  struct sv_snap_result res[NVOL];
  char set[SV_UUID_STRLEN + 1], out[SV_UUID_STRLEN + 1], label[32];
  size_t i;
  int rc;

  make_uuid (&r->rng, set);
  snprintf (label, sizeof label, "call %" PRIu32, r->call + 1);
  begin_call (r, "%s of %zu volume(s) %s%s%s%s%s, set %s",
              hold ? "hold+commit" : "snapshot", n, specs[ks[0]].name,
              n > 1 ? "," : "", n > 1 ? specs[ks[1]].name : "",
              n > 2 ? "," : "", n > 2 ? specs[ks[2]].name : "", set);
  for (i = 0; i < n; i++) {
    struct msnap *m;
    struct mvol *mv = &r->v[ks[i]];
    uint64_t s;
    assert_true (r->nsnaps < MAXSNAP);
    m = &r->snaps[r->nsnaps++];
    memset (m, 0, sizeof *m);
    m->vol = ks[i];
    m->state = S_CREATING;
    memcpy (m->set, set, sizeof m->set);
    m->val = xcalloc (mv->nsect, sizeof (uint32_t));
    for (s = 0; s < mv->nsect; s++)
      m->val[s] = mv->s[s].cur;
    cut_begin (mv);
    names[i] = specs[ks[i]].name;
  }
  if (hold) {
    struct sv_hold *h = pool_hold (r->pool, names, n, 1000);
    if (h == NULL)
      call_failed (r, "pool_hold");
    rc = pool_hold_commit (r->pool, h, set, label, res);
    memcpy (out, set, sizeof out);
  }
  else
    rc = pool_snapshot_create (r->pool, names, n,
                               ut_rand_below (&r->rng, 2) ? label : NULL,
                               set, out, res);
  if (rc == -1)
    call_failed (r, hold ? "pool_hold_commit" : "pool_snapshot_create");
  if (strcmp (out, set) != 0)
    call_failed (r, "pool_snapshot_create (set id changed)");
  settle (r);
  for (i = 0; i < n; i++) {
    struct msnap *m = model_snap_creating (r, ks[i], set);
    assert_non_null (m);
    if (strcmp (res[i].volume, names[i]) != 0)
      call_failed (r, "pool_snapshot_create (results out of order)");
    memcpy (m->id, res[i].id, sizeof m->id);
    m->state = S_OK;
    note_made (r, ks[i], m->id, m->set);
    cut_end (&r->v[ks[i]]);
  }
  r->st->snaps_created += n;
  r->st->group_sets += n >= r->group_sync_min;
}

static void
drop_model_snap (struct run *r, size_t i)
{
  free (r->snaps[i].val);
  memmove (&r->snaps[i], &r->snaps[i + 1],
           (r->nsnaps - i - 1) * sizeof r->snaps[0]);
  r->nsnaps--;
}

/* Count a deletion that left its reclaim to a background thread. */
static void
note_background (struct run *r)
{
  struct sv_volume_info *vi;
  size_t i, n;

  if (r->reclaim_step == 0)
    return;
  if (pool_volume_list (r->pool, NULL, &vi, &n) == -1)
    call_failed (r, "pool_volume_list");
  for (i = 0; i < n && !vi[i].reclaim_running; i++)
    ;
  r->st->bg_deletions += i < n;
  free (vi);
}

/* Delete snapshot I of the model, or its whole set (BY_SET). */
static void
do_delete (struct run *r, size_t idx, int by_set)
{
  char id[SV_UUID_STRLEN + 1];
  size_t i, expect = 0, got = 0;

  memcpy (id, by_set ? r->snaps[idx].set : r->snaps[idx].id, sizeof id);
  begin_call (r, "delete %s %s", by_set ? "set" : "snapshot", id);
  for (i = 0; i < r->nsnaps; i++)
    if ((strcmp (r->snaps[i].id, id) == 0 ||
         (by_set && strcmp (r->snaps[i].set, id) == 0)) &&
        r->snaps[i].hold == H_HELD) {
      /* Held: refused, nothing deleted. */
      errno = 0;
      if (pool_snapshot_delete (r->pool, id, &got) != -1 || errno != EBUSY ||
          got != 0 || strstr (sv_errmsg (), "is held (tags: " PL_TAG ")")
          == NULL)
        call_failed (r, "pool_snapshot_delete of a held snapshot");
      settle (r);
      r->st->held_refused++;
      return;
    }
  for (i = 0; i < r->nsnaps; i++)
    if (strcmp (r->snaps[i].id, id) == 0 ||
        (by_set && strcmp (r->snaps[i].set, id) == 0)) {
      r->snaps[i].state = S_DELETING;
      expect++;
    }
  r->deleting = 1;
  if (pool_snapshot_delete (r->pool, id, &got) == -1)
    call_failed (r, "pool_snapshot_delete");
  r->deleting = 0;
  if (got != expect)
    call_failed (r, "pool_snapshot_delete (wrong number deleted)");
  note_background (r);
  settle (r);
  for (i = 0; i < r->nsnaps; )
    if (r->snaps[i].state == S_DELETING) {
      memcpy (r->deleted[r->ndeleted++ % 64], r->snaps[i].id,
              SV_UUID_STRLEN + 1);
      drop_model_snap (r, i);
    }
    else
      i++;
  r->st->snaps_deleted += expect;
}

/* Hold snapshot IDX of the model, or its whole set (BY_SET), if none
 * of them is held; else release its hold.  Returns once durable: the
 * hold (or release) is then in every recovered state. */
static void
do_hold_or_release (struct run *r, size_t idx, int by_set)
{
  char id[SV_UUID_STRLEN + 1];
  int release = r->snaps[idx].hold == H_HELD;
  enum hstate during = release ? H_RELEASING : H_HOLDING;
  size_t i, expect = 0;
  int got;

  /* A set partly held is held snapshot by snapshot (a set's hold
   * would fail EEXIST). */
  for (i = 0; i < r->nsnaps && by_set && !release; i++)
    if (strcmp (r->snaps[i].set, r->snaps[idx].set) == 0 &&
        r->snaps[i].hold != H_NONE)
      by_set = 0;
  memcpy (id, by_set ? r->snaps[idx].set : r->snaps[idx].id, sizeof id);
  for (i = 0; i < r->nsnaps; i++)
    if ((strcmp (r->snaps[i].id, id) == 0 ||
         (by_set && strcmp (r->snaps[i].set, id) == 0)) &&
        r->snaps[i].hold == (release ? H_HELD : H_NONE))
      expect++;
  begin_call (r, "%s %s %s", release ? "release" : "hold",
              by_set ? "set" : "snapshot", id);
  for (i = 0; i < r->nsnaps; i++)
    if ((strcmp (r->snaps[i].id, id) == 0 ||
         (by_set && strcmp (r->snaps[i].set, id) == 0)) &&
        r->snaps[i].hold == (release ? H_HELD : H_NONE))
      r->snaps[i].hold = during;
  got = release ? pool_snapshot_release (r->pool, id, PL_TAG)
    : pool_snapshot_hold (r->pool, id, PL_TAG, PL_EXPIRES);
  if (got == -1)
    call_failed (r, release ? "pool_snapshot_release" : "pool_snapshot_hold");
  if ((size_t) got != expect)
    call_failed (r, "pool_snapshot_hold (wrong number of snapshots)");
  settle (r);
  for (i = 0; i < r->nsnaps; i++)
    if (r->snaps[i].hold == during)
      r->snaps[i].hold = release ? H_NONE : H_HELD;
  if (release)
    r->st->releases++;
  else
    r->st->holds++;
}

static void
do_reopen (struct run *r)
{
  unsigned k;

  begin_call (r, "close the pool");
  close_views (r);
  for (k = 0; k < NVOL; k++)
    if (r->v[k].state == V_PRESENT)
      cut_begin (&r->v[k]);
  if (pool_close (r->pool) == -1)
    call_failed (r, "pool_close");
  r->pool = NULL;
  settle (r);
  for (k = 0; k < NVOL; k++)
    if (r->v[k].state == V_PRESENT)
      cut_end (&r->v[k]);
  begin_call (r, "open the pool");
  r->pool = open_main (r, 0);
  if (r->pool == NULL)
    call_failed (r, "pool_open");
  settle (r);
  open_views (r);
  r->st->reopens++;
}

/* Continue the workload on a recovered crash image, as a server does
 * after a power loss: the model becomes what the recovered pool holds.
 * Images in which the pool or a volume does not exist are passed over. */
static void
do_adopt (struct run *r)
{
  struct ctx c = { .r = r, .p = &r->adopt, .phase = "adoption" };
  struct crashsim *img = r->adopt.img;
  struct sv_pool *pool;
  struct state st;
  unsigned k;
  size_t i;
  uint64_t s;

  r->adopt.img = NULL;
  begin_call (r, "continue on the image of operation %" PRIu64,
              r->adopt.op);
  pool = open_image (&c, img, 1);
  if (pool == NULL) {
    crashsim_free (img);
    return;
  }
  collect_state (&c, pool, &st);
  for (k = 0; k < NVOL && st.present[k]; k++)
    ;
  if (k < NVOL) {
    state_free (&st);
    close_pool (&c, pool);
    crashsim_free (img);
    return;
  }

  note_unmarked (r, img);
  crashsim_set_hook (r->cs, NULL, NULL);
  close_views (r);
  if (pool_close (r->pool) == -1)
    call_failed (r, "pool_close");
  /* What a reclaim thread already in the hook when it was removed
   * queued: the model it would be checked against is about to be the
   * adopted pool's. */
  drop_pending (r);
  r->op_base += crashsim_ops (r->cs);
  crashsim_free (r->cs);
  r->cs = img;
  r->pool = pool;
  r->pool_present = 1;
  for (k = 0; k < NVOL; k++) {
    struct mvol *mv = &r->v[k];
    mv->state = V_PRESENT;
    for (s = 0; s < mv->nsect; s++) {
      mv->s[s].cur = mv->s[s].cand[0] = st.live[k][s];
      mv->s[s].n = 1;
    }
  }
  while (r->nsnaps > 0)
    drop_model_snap (r, 0);
  for (i = 0; i < st.nsnaps; i++) {
    struct msnap *m = &r->snaps[r->nsnaps++];
    memset (m, 0, sizeof *m);
    m->vol = st.snap[i].vol;
    m->state = S_OK;
    memcpy (m->id, st.snap[i].id, sizeof m->id);
    memcpy (m->set, st.snap[i].si.set_id, sizeof m->set);
    m->hold = st.snap[i].nholds ? H_HELD : H_NONE;
    note_made (r, m->vol, m->id, m->set);
    m->val = st.snap[i].val;
    st.snap[i].val = NULL;
  }
  state_free (&st);
  r->ndeleted = 0;
  open_views (r);
  crashsim_set_hook (r->cs, crash_hook, r);
  r->st->adoptions++;
}

/* Read checks while running: the live volume reads what the model says,
 * a snapshot what it pinned. */
static void
do_read_check (struct run *r, unsigned k)
{
  struct mvol *mv = &r->v[k];
  uint64_t s0 = ut_rand_below (&r->rng, mv->nsect), n, s;
  char why[160];

  n = 1 + ut_rand_below (&r->rng, MAX_WRITE_SECTORS);
  if (s0 + n > mv->nsect)
    n = mv->nsect - s0;
  begin_call (r, "read %s sectors [%" PRIu64 ", +%" PRIu64 ")",
              specs[k].name, s0, n);
  if (view_pread (mv->view, r->buf, n * SECT, s0 * SECT) == -1)
    call_failed (r, "view_pread");
  for (s = 0; s < n; s++) {
    uint32_t got = decode_sector (r->buf + s * SECT, k, s0 + s, why,
                                  sizeof why);
    if (got != mv->s[s0 + s].cur) {
      struct ctx c = { .r = r, .phase = "workload read" };
      if (got == BAD)
        fail_ctx (&c, "%s sector %" PRIu64 " reads %s", specs[k].name,
                  s0 + s, why);
      fail_ctx (&c, "%s sector %" PRIu64 " reads version %" PRIu32
                ", last written %" PRIu32, specs[k].name, s0 + s, got,
                mv->s[s0 + s].cur);
    }
  }
}

static void
do_snap_read_check (struct run *r, size_t i)
{
  struct msnap *m = &r->snaps[i];
  struct ctx c = { .r = r, .phase = "workload snapshot read" };
  uint32_t *val = xcalloc (specs[m->vol].size / SECT, sizeof *val);
  char what[128];
  uint64_t s;

  begin_call (r, "read snapshot %s of %s", m->id, specs[m->vol].name);
  read_view (&c, r->pool, m->vol, m->id, r->buf);
  snprintf (what, sizeof what, "%s@%s", specs[m->vol].name, m->id);
  decode_view (&c, m->vol, what, r->buf, val);
  for (s = 0; s < specs[m->vol].size / SECT; s++)
    CHECK (&c, val[s] == m->val[s], "snapshot %s sector %" PRIu64
           " reads version %" PRIu32 ", pinned %" PRIu32, what, s, val[s],
           m->val[s]);
  free (val);
}

static void
pick_volumes (struct run *r, unsigned *ks, size_t n)
{
  size_t i, j;

  for (i = 0; i < n; i++) {
    for (;;) {
      ks[i] = ut_rand_below (&r->rng, NVOL);
      for (j = 0; j < i && ks[j] != ks[i]; j++)
        ;
      if (j == i)
        break;
    }
  }
}

static void
random_call (struct run *r)
{
  unsigned k, op;
  struct mvol *mv;
  uint64_t s0, n;

  if (r->adopt.img)
    do_adopt (r);
  k = ut_rand_below (&r->rng, NVOL);
  mv = &r->v[k];
  op = ut_rand_below (&r->rng, 100);
  s0 = ut_rand_below (&r->rng, mv->nsect);

  /* Mostly short writes, some across clusters; aligned to subclusters
   * now and then so that zeroes and trims hit whole ones. */
  n = ut_rand_below (&r->rng, 4) == 0
    ? 1 + ut_rand_below (&r->rng, MAX_WRITE_SECTORS)
    : 1 + ut_rand_below (&r->rng, 24);
  if (ut_rand_below (&r->rng, 3) == 0) {
    uint64_t spss = mv->ss / SECT;
    s0 = s0 / spss * spss;
    n = (n + spss - 1) / spss * spss;
  }
  if (s0 + n > mv->nsect)
    n = mv->nsect - s0;

  if (op < 60 && needs_flush (mv, s0, n)) {
    do_flush (r, k);
    return;
  }
  if (op < 42)
    do_write (r, k, s0, n, ut_rand_below (&r->rng, 8) == 0);
  else if (op < 50)
    do_zero (r, k, s0, n, 0, ut_rand_below (&r->rng, 2),
             ut_rand_below (&r->rng, 4) == 0, ut_rand_below (&r->rng, 8) == 0);
  else if (op < 58)
    do_zero (r, k, s0, n, 1, 0, 0, ut_rand_below (&r->rng, 8) == 0);
  else if (op < 70)
    do_flush (r, k);
  else if (op < 80) {
    unsigned ks[NVOL];
    unsigned w = ut_rand_below (&r->rng, 10);
    size_t nk = w < 6 ? 1 : w < 9 ? 2 : 3, i;
    pick_volumes (r, ks, nk);
    for (i = 0; i < nk; i++)
      if (snaps_of (r, ks[i]) >= SNAPS_PER_VOL)
        break;
    if (i < nk || r->nsnaps + nk > MAXSNAP) {
      /* Full: delete one of that volume's instead. */
      size_t j;
      for (j = 0; j < r->nsnaps && r->snaps[j].vol != ks[i < nk ? i : 0]; j++)
        ;
      do_delete (r, j < r->nsnaps ? j : 0, 0);
    }
    else
      do_snapshot (r, ks, nk, ut_rand_below (&r->rng, 4) == 0);
  }
  else if (op < 88) {
    if (r->nsnaps > 0 && ut_rand_below (&r->rng, 3) == 0)
      do_hold_or_release (r, ut_rand_below (&r->rng, r->nsnaps),
                          ut_rand_below (&r->rng, 3) == 0);
    else if (r->nsnaps > 0)
      do_delete (r, ut_rand_below (&r->rng, r->nsnaps),
                 ut_rand_below (&r->rng, 3) == 0);
  }
  else if (op < 94)
    do_read_check (r, k);
  else if (op < 98) {
    if (r->nsnaps > 0)
      do_snap_read_check (r, ut_rand_below (&r->rng, r->nsnaps));
  }
  else if (op < 99) {
    /* A hold given up: nothing changes. */
    const char *name = specs[k].name;
    struct sv_hold *h;
    begin_call (r, "hold and release %s", name);
    h = pool_hold (r->pool, &name, 1, 1000);
    if (h == NULL)
      call_failed (r, "pool_hold");
    pool_hold_release (r->pool, h);
  }
  else
    do_reopen (r);
}

static void
run_setup (struct run *r)
{
  const struct sv_io *io = crashsim_io (r->cs);
  unsigned k;

  /* The pool's directory exists durably beforehand, as an operator's
   * mkdir would leave it after a while (see
   * test_pool_creation_is_durable for the engine's own). */
  assert_int_equal (io->ops->mkdir (io->opaque, POOL, 0700), 0);
  assert_int_equal (io->ops->syncdir (io->opaque, "/"), 0);
  crashsim_set_hook (r->cs, crash_hook, r);

  begin_call (r, "create the pool");
  r->pool = open_main (r, 1);
  if (r->pool == NULL)
    call_failed (r, "pool_open (create)");
  settle (r);
  r->pool_present = 1;
  for (k = 0; k < NVOL; k++) {
    begin_call (r, "create volume %s", specs[k].name);
    r->v[k].state = V_CREATING;
    if (pool_volume_create (r->pool, specs[k].name, specs[k].size,
                            specs[k].cluster) == -1)
      call_failed (r, "pool_volume_create");
    settle (r);
    r->v[k].state = V_PRESENT;
  }
  open_views (r);
  for (k = 0; k < NVOL; k++) {
    uint32_t min, max;
    view_block_size (r->v[k].view, &min, &r->v[k].ss, &max);
  }
}

static void
run_free (struct run *r)
{
  unsigned k;

  close_views (r);
  if (r->pool)
    pool_close (r->pool);
  r->pool = NULL;
  while (r->nsnaps > 0)
    drop_model_snap (r, 0);
  for (k = 0; k < NVOL; k++) {
    free (r->v[k].s);
    free (r->v[k].cut);
  }
  if (r->adopt.img)
    crashsim_free (r->adopt.img);
  drop_pending (r);
  pthread_mutex_destroy (&r->mu);
  free (r->made);
  crashsim_free (r->cs);
  free (r->buf);
}

/* One iteration: a fresh pool, a workload, crash checks along it. */
static void
run_iteration (uint64_t seed, uint64_t iter, uint64_t only_op,
               struct stats *st)
{
  static const uint64_t ckpt[] = { 4096, 16 * KiB, 64 * KiB, 0 };
  struct run *r = xcalloc (1, sizeof *r);
  unsigned k, ncalls, c;
  uint64_t s, background;

  r->seed = seed;
  r->iter = iter;
  r->iter_seed = ut_seed_derive (seed, iter);
  r->rng = r->iter_seed;
  r->crash_rng = ut_seed_derive (r->iter_seed, 1);
  r->inject_rng = ut_seed_derive (r->iter_seed, 2);
  r->only_op = only_op;
  r->main_thread = pthread_self ();
  pthread_mutex_init (&r->mu, NULL);
  r->trace = ut_env_u64 ("SNAPVOL_POWERLOSS_TRACE", 0) != 0;
  r->checker = ut_env_u64 ("SNAPVOL_POWERLOSS_CHECKER", 1) != 0;
  r->flips = ut_env_u64 ("SNAPVOL_POWERLOSS_FLIPS", DEFAULT_FLIPS);
  r->st = st;
  r->cs = crashsim_new ();
  r->buf = xcalloc (1, VOL_MAX_SIZE);
  r->ckpt_bytes = ckpt[ut_rand_below (&r->rng, 4)];
  /* Half the iterations commit every set of two volumes or more as a
   * group (volume_flush_group), the others each volume on its own;
   * drawn from the iteration's seed, not the workload's generator, so
   * that the workloads of earlier seeds stay what they were. */
  r->group_sync_min = (r->iter_seed >> 7) & 1 ? 2 : SV_GROUP_SYNC_NEVER;
  /* Half of them (SNAPVOL_POWERLOSS_BACKGROUND=2; 1: all, 0: none)
   * reclaim one step of 1 to 3 clusters inline and leave the rest of
   * a deletion to a reclaim thread, in steps of that size, so that
   * crash points fall on that thread, between the workload's calls
   * and in the middle of them; from the iteration's seed too. */
  background = ut_env_u64 ("SNAPVOL_POWERLOSS_BACKGROUND", 2);
  if (background == 1 || (background == 2 && (r->iter_seed >> 9) & 1)) {
    r->reclaim_step = 1 + (r->iter_seed >> 10) % 3;
    st->bg_iterations++;
  }
  /* Some iterations crash at every operation of a short workload;
   * the others at one in CRASH_EVERY over a longer one. */
  if (ut_rand_below (&r->rng, 4) == 0) {
    r->crash_every = 1;
    ncalls = 30 + ut_rand_below (&r->rng, 30);
  }
  else {
    r->crash_every = 8 + ut_rand_below (&r->rng, 24);
    ncalls = 150 + ut_rand_below (&r->rng, 250);
  }
  for (k = 0; k < NVOL; k++) {
    struct mvol *mv = &r->v[k];
    mv->spec = &specs[k];
    mv->idx = k;
    mv->nsect = specs[k].size / SECT;
    mv->s = xcalloc (mv->nsect, sizeof *mv->s);
    mv->cut = xcalloc (mv->nsect, sizeof *mv->cut);
    for (s = 0; s < mv->nsect; s++)
      mv->s[s].n = 1;           /* never written: zeroes, durably */
  }

  run_setup (r);
  /* Never cut short by the time budget (checked between iterations):
   * the seed and the iteration alone decide every call, so that the
   * reproduction line printed for a failure runs the same calls. */
  for (c = 0; c < ncalls; c++)
    random_call (r);
  /* A clean close ends the iteration, with its own crash points. */
  begin_call (r, "close the pool");
  close_views (r);
  if (pool_close (r->pool) == -1)
    call_failed (r, "pool_close");
  r->pool = NULL;
  settle (r);
  st->iterations++;
  run_free (r);
  free (r);
}

static void
test_randomized_power_loss_keeps_acknowledged_data_and_snapshots (void **state)
{
  uint64_t seed = ut_env_u64 ("SNAPVOL_POWERLOSS_SEED",
                              (uint64_t) time (NULL) ^ (uint64_t) getpid () << 32);
  uint64_t iterations = ut_env_u64 ("SNAPVOL_POWERLOSS_ITERATIONS",
                                    DEFAULT_ITERATIONS);
  uint64_t seconds = ut_env_u64 ("SNAPVOL_POWERLOSS_SECONDS",
                                 DEFAULT_SECONDS);
  uint64_t only_iter = ut_env_u64 ("SNAPVOL_POWERLOSS_ITERATION", 0);
  uint64_t only_op = ut_env_u64 ("SNAPVOL_POWERLOSS_CRASH_OP", 0);
  struct stats st;
  struct timespec t0, t1;
  uint64_t i;

  memset (&st, 0, sizeof st);
  print_message ("power-loss seed %" PRIu64 " (SNAPVOL_POWERLOSS_SEED=%"
                 PRIu64 " repeats it), up to %" PRIu64 " iterations or %"
                 PRIu64 " s\n", seed, seed, iterations, seconds);
  clock_gettime (CLOCK_MONOTONIC, &t0);
  for (i = only_iter ? only_iter : 1; i <= iterations; i++) {
    run_iteration (seed, i, only_op, &st);
    if (only_iter)
      break;
    clock_gettime (CLOCK_MONOTONIC, &t1);
    /* The journal sweep's time comes on top of the budget. */
    if ((t1.tv_sec - t0.tv_sec) - st.sweep_seconds >= (double) seconds) {
      print_message ("time budget spent after %" PRIu64 " iterations\n", i);
      break;
    }
  }
  clock_gettime (CLOCK_MONOTONIC, &t1);
  print_message ("%" PRIu64 " iterations, %.1f s: %" PRIu64 " calls (%"
                 PRIu64 " of them injected during a sync), %" PRIu64
                 " I/O operations, %" PRIu64 " checkpoints, %" PRIu64
                 " clean reopens, %" PRIu64 " snapshots made, %" PRIu64
                 " deleted\n", st.iterations,
                 (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
                 st.calls, st.injected, st.ops, st.checkpoints, st.reopens,
                 st.snaps_created, st.snaps_deleted);
  print_message ("group commit: %" PRIu64 " sets committed with one syncfs,"
                 " %" PRIu64 " crash points at such a syncfs\n",
                 st.group_sets, st.syncfs_points);
  print_message ("background reclaims: %" PRIu64 " iterations, %" PRIu64
                 " deletions that left work to a reclaim thread, %" PRIu64
                 " crash points taken on one\n", st.bg_iterations,
                 st.bg_deletions, st.thread_points);
  print_message ("%" PRIu64 " crash points checked (random %" PRIu64
                 ", synced-only %" PRIu64 ", kill -9 %" PRIu64 "), %"
                 PRIu64 " of them with a second crash during recovery (%"
                 PRIu64 " landed), %" PRIu64 " continued on\n", st.points,
                 st.modes[CRASHSIM_RANDOM], st.modes[CRASHSIM_SYNCED_ONLY],
                 st.modes[CRASHSIM_KEEP_ALL], st.nested, st.nested_hit,
                 st.adoptions);
  print_message ("kill -9 then power loss: %" PRIu64 " second crashes on kill"
                 " -9 images (%" PRIu64 " landed; in %" PRIu64 " the power"
                 " loss took back what the first recovery had read)\n",
                 st.nested_kill, st.nested_kill_hit, st.nested_kill_lost);
  print_message ("offline checker: %" PRIu64 " runs, %" PRIu64 " repairable"
                 " findings on crash images, nothing left after a repair or"
                 " after a recovery and a clean close\n",
                 st.checker_runs, st.checker_findings);
  print_message ("unsynced writes in the images: kept %" PRIu64 ", dropped %"
                 PRIu64 ", torn %" PRIu64 "; recovered: pool not yet created %"
                 PRIu64 ", volume not yet created %" PRIu64 ", snapshot"
                 " being created absent %" PRIu64 ", being deleted present %"
                 PRIu64 "\n", st.writes_kept, st.writes_dropped,
                 st.writes_torn, st.pool_lost, st.vols_lost,
                 st.snaps_lost_creating, st.snaps_back_deleting);
  print_message ("snapshot holds: %" PRIu64 " taken, %" PRIu64 " released,"
                 " %" PRIu64 " deletions refused; images with a hold or"
                 " release in progress recovered with it done: %" PRIu64
                 "\n", st.holds, st.releases, st.held_refused,
                 st.hold_done_at_crash);
  print_message ("journal sweep: %" PRIu64 " images swept (%" PRIu64
                 " kill -9), %" PRIu64 " positions flipped (%" PRIu64
                 " in the header and mark sectors) in %.1f s: %"
                 PRIu64 " refused, %" PRIu64 " opened intact, %" PRIu64
                 " past a lost mark (power loss only; %" PRIu64 " of them"
                 " read differently), %" PRIu64 " in records a recovery"
                 " replayed and no mark covers (%" PRIu64 " read"
                 " differently), %" PRIu64 " silent losses\n",
                 st.sweep_images, st.sweep_images_kill, st.flips,
                 st.flips_hdr, st.sweep_seconds, st.flips_refused,
                 st.flips_intact, st.flips_past_mark,
                 st.flips_past_mark_differ, st.flips_unmarked,
                 st.flips_unmarked_differ, st.flips_silent);
  if (st.flips_silent > 0)
    fail_msg ("journal sweep: %" PRIu64 " damaged journals opened and"
              " failed a check (the first %d are printed above)",
              st.flips_silent, SWEEP_REPORTS);
}

/* Deterministic: recovery must cut a torn journal tail before new
 * records are appended.  Records after a torn one may have reached the
 * disk; if they stayed, new records of the same size written over the
 * start of the tail would line up with them, and after a second crash
 * replay would run on into the stale ones (here: deletions of clusters
 * that were never deleted). */

struct tail_hook {
  enum crashsim_mode mode;
  struct crashsim *img;
};

static void
take_at_journal_write (void *opaque, struct crashsim *cs, uint64_t op,
                       const char *what)
{
  struct tail_hook *t = opaque;

  if (t->img == NULL && strncmp (what, "pwrite", 6) == 0 &&
      strstr (what, "/journal.") != NULL)
    t->img = crashsim_crash (cs, 0, t->mode, NULL);
}

static void
trim_clusters (struct sv_pool *pool, uint64_t first, uint64_t n)
{
  struct sv_view *v = ut_view_open (pool, "tail");

  for (; n > 0; first++, n--)
    assert_int_equal (view_trim (v, 64 * KiB, first * 64 * KiB, 0), 0);
  assert_int_equal (view_flush (v), 0);
  view_close (v);
}

static void
test_recovery_cuts_a_torn_journal_tail (void **state)
{
  struct crashsim *cs = crashsim_new (), *img;
  const struct sv_io *io = crashsim_io (cs);
  struct sv_pool_options opts = { .io = io };
  static const char journal[] = POOL "/volumes/tail/journal.0000000000000001";
  struct tail_hook th = { .mode = CRASHSIM_KEEP_ALL };
  struct sv_pool *pool;
  struct sv_view *v;
  uint8_t zero[32];
  uint64_t tail, size, alloc;
  int h;

  assert_int_equal (io->ops->mkdir (io->opaque, POOL, 0700), 0);
  assert_int_equal (io->ops->syncdir (io->opaque, "/"), 0);
  pool = ut_pool_open_opts (POOL, &opts, 1);
  assert_int_equal (pool_volume_create (pool, "tail", MiB, 64 * KiB), 0);
  v = ut_view_open (pool, "tail");
  ut_write_pattern (v, 0, 16 * 64 * KiB, 7, NULL);
  assert_int_equal (view_flush (v), 0);
  view_close (v);

  /* Twelve deletions (one record each) in one journal write, taken
   * before its sync with everything kept; then the first record is
   * torn, the eleven after it are intact. */
  assert_int_equal (crashsim_file_info (cs, journal, &tail, &alloc), 0);
  crashsim_set_hook (cs, take_at_journal_write, &th);
  trim_clusters (pool, 0, 12);
  crashsim_set_hook (cs, NULL, NULL);
  assert_non_null (th.img);
  ut_pool_close (pool);
  crashsim_free (cs);
  img = th.img;
  io = crashsim_io (img);
  opts.io = io;
  assert_int_equal (crashsim_file_info (img, journal, &size, &alloc), 0);
  assert_true (size > tail + 11 * 32);
  memset (zero, 0, sizeof zero);
  h = io->ops->open (io->opaque, journal, O_RDWR, 0);
  assert_true (h >= 0);
  assert_int_equal (io->ops->pwrite (io->opaque, h, zero, sizeof zero, tail),
                    sizeof zero);
  assert_int_equal (io->ops->sync (io->opaque, h), 0);
  io->ops->close (io->opaque, h);

  /* Recover, then five deletions of the same size where the torn tail
   * began, durable; lose power before anything else. */
  pool = ut_pool_open_opts (POOL, &opts, 0);
  trim_clusters (pool, 12, 4);
  cs = crashsim_crash (img, 0, CRASHSIM_SYNCED_ONLY, NULL);
  ut_pool_close (pool);
  crashsim_free (img);

  opts.io = crashsim_io (cs);
  pool = ut_pool_open_opts (POOL, &opts, 0);
  v = ut_view_open (pool, "tail");
  /* The twelve deletions never became durable; the four did. */
  assert_pattern (v, 0, 12 * 64 * KiB, 7);
  assert_zero (v, 12 * 64 * KiB, 4 * 64 * KiB);
  view_close (v);
  ut_pool_close (pool);
  crashsim_free (cs);
}

/* The simulator itself: synced data survives, unsynced writes survive,
 * vanish or tear at sector boundaries (never inside a sector), names
 * need a directory sync, a rename is atomic. */

static int
sim_open (struct crashsim *cs, const char *path, int flags)
{
  const struct sv_io *io = crashsim_io (cs);
  int h = io->ops->open (io->opaque, path, flags, 0600);

  assert_true (h >= 0);
  return h;
}

static void
sim_write (struct crashsim *cs, int h, uint8_t byte, size_t len,
           uint64_t off)
{
  const struct sv_io *io = crashsim_io (cs);
  uint8_t buf[4096];

  memset (buf, byte, len);
  assert_int_equal (io->ops->pwrite (io->opaque, h, buf, len, off),
                    (ssize_t) len);
}

/* The byte every sector of the first LEN bytes of PATH holds (all its
 * bytes must be equal), or -1 if the file is missing. */
static int
sim_sectors (struct crashsim *cs, const char *path, size_t len, int *out)
{
  const struct sv_io *io = crashsim_io (cs);
  uint8_t buf[4096];
  size_t s, i;
  ssize_t r;
  int h = io->ops->open (io->opaque, path, O_RDONLY, 0);

  if (h == -1)
    return -1;
  memset (buf, 0, sizeof buf);
  r = io->ops->pread (io->opaque, h, buf, len, 0);
  assert_true (r >= 0);
  io->ops->close (io->opaque, h);
  for (s = 0; s < len / SECT; s++) {
    for (i = 1; i < SECT; i++)
      assert_int_equal (buf[s * SECT + i], buf[s * SECT]);
    out[s] = buf[s * SECT];
  }
  return 0;
}

static void
test_crashsim_models_a_volatile_write_cache (void **state)
{
  struct crashsim *cs = crashsim_new (), *img;
  const struct sv_io *io = crashsim_io (cs);
  int h, sec[8], seen_torn = 0, seen_old = 0, seen_new = 0, both = 0;
  uint64_t seed;

  assert_int_equal (io->ops->mkdir (io->opaque, "/d", 0700), 0);
  h = sim_open (cs, "/d/f", O_RDWR | O_CREAT);
  sim_write (cs, h, 0xaa, 4096, 0);
  assert_int_equal (io->ops->sync (io->opaque, h), 0);
  /* Synced data, but no directory sync: the names may all vanish. */
  img = crashsim_crash (cs, 0, CRASHSIM_SYNCED_ONLY, NULL);
  assert_int_equal (sim_sectors (img, "/d/f", 4096, sec), -1);
  crashsim_free (img);
  assert_int_equal (io->ops->syncdir (io->opaque, "/"), 0);
  assert_int_equal (io->ops->syncdir (io->opaque, "/d"), 0);
  img = crashsim_crash (cs, 0, CRASHSIM_SYNCED_ONLY, NULL);
  assert_int_equal (sim_sectors (img, "/d/f", 4096, sec), 0);
  assert_int_equal (sec[0], 0xaa);
  assert_int_equal (sec[7], 0xaa);
  crashsim_free (img);

  /* An unsynced overwrite of eight sectors: old, new, or torn at
   * sector boundaries. */
  sim_write (cs, h, 0xbb, 4096, 0);
  img = crashsim_crash (cs, 0, CRASHSIM_SYNCED_ONLY, NULL);
  assert_int_equal (sim_sectors (img, "/d/f", 4096, sec), 0);
  assert_int_equal (sec[3], 0xaa);
  crashsim_free (img);
  img = crashsim_crash (cs, 0, CRASHSIM_KEEP_ALL, NULL);
  assert_int_equal (sim_sectors (img, "/d/f", 4096, sec), 0);
  assert_int_equal (sec[3], 0xbb);
  crashsim_free (img);
  for (seed = 1; seed <= 200; seed++) {
    int s, na = 0;
    img = crashsim_crash (cs, seed, CRASHSIM_RANDOM, NULL);
    assert_int_equal (sim_sectors (img, "/d/f", 4096, sec), 0);
    for (s = 0; s < 8; s++) {
      assert_true (sec[s] == 0xaa || sec[s] == 0xbb);
      na += sec[s] == 0xaa;
    }
    seen_old += na == 8;
    seen_new += na == 0;
    seen_torn += na > 0 && na < 8;
    crashsim_free (img);
  }
  assert_true (seen_old > 0 && seen_new > 0 && seen_torn > 0);

  /* A rename is atomic: one name or the other, never both or none. */
  assert_int_equal (io->ops->sync (io->opaque, h), 0);
  io->ops->close (io->opaque, h);
  assert_int_equal (io->ops->rename (io->opaque, "/d/f", "/d/g"), 0);
  for (seed = 1; seed <= 50; seed++) {
    int f, g;
    img = crashsim_crash (cs, seed, CRASHSIM_RANDOM, NULL);
    f = sim_sectors (img, "/d/f", 512, sec) == 0;
    g = sim_sectors (img, "/d/g", 512, sec) == 0;
    assert_true (f != g);
    both += g;
    crashsim_free (img);
  }
  assert_true (both > 0 && both < 50);
  crashsim_free (cs);
}

/* pool_open with CREATE makes the pool's directory: once it returned,
 * and a volume was created in it (durable on return) and written and
 * flushed, a power loss must not lose the pool. */
static void
test_pool_creation_is_durable (void **state)
{
  struct crashsim *cs = crashsim_new (), *img;
  struct sv_pool_options opts = { .io = crashsim_io (cs) };
  struct sv_pool *pool = ut_pool_open_opts ("/newpool", &opts, 1);
  struct sv_view *v;

  assert_int_equal (pool_volume_create (pool, "v", MiB, 0), 0);
  v = ut_view_open (pool, "v");
  ut_write_pattern (v, 0, 64 * KiB, 9, NULL);
  assert_int_equal (view_flush (v), 0);
  view_close (v);
  img = crashsim_crash (cs, 0, CRASHSIM_SYNCED_ONLY, NULL);
  ut_pool_close (pool);
  crashsim_free (cs);

  opts.io = crashsim_io (img);
  pool = pool_open ("/newpool", &opts, 0);
  if (pool == NULL)
    fail_msg ("pool_open after a power loss: %s", sv_errmsg ());
  v = ut_view_open (pool, "v");
  assert_pattern (v, 0, 64 * KiB, 9);
  view_close (v);
  ut_pool_close (pool);
  crashsim_free (img);
}

/* A crash at any point of pool_open with CREATE leaves either nothing
 * that stops the creation from being run again, or the whole pool: never
 * a short header that every later open refuses.  The creation run again
 * on what a kill -9 left (the pool's names possibly in the page cache
 * only) must make the pool durable all the same: a power loss after it
 * keeps the pool and a volume flushed in it.  Seed 0 is the kill -9
 * image, the others power-loss images. */
struct creation_crash {
  uint64_t at, seed;
  struct crashsim *img;
};

static void
crash_during_creation (void *opaque, struct crashsim *cs, uint64_t op,
                       const char *what)
{
  struct creation_crash *cc = opaque;

  if (op == cc->at && cc->img == NULL)
    cc->img = crashsim_crash (cs, cc->seed, cc->seed == 0 ? CRASHSIM_KEEP_ALL
                              : CRASHSIM_RANDOM, NULL);
}

static void
test_crash_during_pool_creation_leaves_a_pool_or_nothing (void **state)
{
  struct crashsim *cs;
  struct sv_pool_options opts = { 0 };
  struct sv_pool *pool;
  uint64_t nops, at, seed;

  cs = crashsim_new ();
  opts.io = crashsim_io (cs);
  pool = ut_pool_open_opts ("/p", &opts, 1);
  ut_pool_close (pool);
  nops = crashsim_ops (cs);
  crashsim_free (cs);
  assert_true (nops >= 4);

  for (at = 1; at <= nops; at++)
    for (seed = 0; seed <= 8; seed++) {
      struct creation_crash cc = { .at = at, .seed = seed };
      struct crashsim *lost;
      struct sv_view *v;

      cs = crashsim_new ();
      crashsim_set_hook (cs, crash_during_creation, &cc);
      opts.io = crashsim_io (cs);
      pool = ut_pool_open_opts ("/p", &opts, 1);
      ut_pool_close (pool);
      crashsim_free (cs);
      assert_non_null (cc.img);

      /* Run the creation again on what the crash left, then use it. */
      opts.io = crashsim_io (cc.img);
      pool = pool_open ("/p", &opts, 1);
      if (pool == NULL)
        fail_msg ("crash after operation %" PRIu64 " of %" PRIu64 " of the"
                  " pool's creation (seed %" PRIu64 "): creating it again"
                  " fails: %s", at, nops, seed, sv_errmsg ());
      assert_int_equal (pool_volume_create (pool, "v", MiB, 0), 0);
      v = ut_view_open (pool, "v");
      ut_write_pattern (v, 0, 4096, 3, NULL);
      assert_int_equal (view_flush (v), 0);
      view_close (v);
      /* Power loss now: everything unsynced is lost. */
      lost = crashsim_crash (cc.img, 0, CRASHSIM_SYNCED_ONLY, NULL);
      ut_pool_close (pool);
      crashsim_free (cc.img);
      opts.io = crashsim_io (lost);
      pool = pool_open ("/p", &opts, 0);
      if (pool == NULL)
        fail_msg ("crash after operation %" PRIu64 " of the pool's creation"
                  " (seed %" PRIu64 "), created again, then a power loss:"
                  " %s", at, seed, sv_errmsg ());
      v = ut_view_open (pool, "v");
      assert_pattern (v, 0, 4096, 3);
      view_close (v);
      ut_pool_close (pool);
      crashsim_free (lost);
    }
}

/* kill -9 followed by power loss.  A checkpoint killed between the
 * rename of checkpoint.new and the directory sync leaves a new
 * checkpoint only the page cache names, and the journal file it
 * replaces.  Recovery runs on that; a power loss during it or after it
 * may then drop the rename, and must not find the replaced journal
 * file gone: recovery makes the checkpoint and the directory durable
 * before it removes anything.  Every operation of the recovery, and the
 * close after it, is a crash point, with several images each. */

struct kill_hook {
  const char *match;            /* take the image after this operation */
  struct crashsim *img;
};

static void
kill_after (void *opaque, struct crashsim *cs, uint64_t op, const char *what)
{
  struct kill_hook *k = opaque;

  if (k->img == NULL && strstr (what, k->match) != NULL)
    k->img = crashsim_crash (cs, 0, CRASHSIM_KEEP_ALL, NULL);
}

/* Open the pool of IMG, check that the volume reads PATTERN over LEN
 * bytes, close.  WHY names the case for a failure. */
static void
expect_pool (struct crashsim *img, const char *vol, uint64_t len,
             uint32_t pattern, const char *why)
{
  struct sv_pool_options opts = { .io = crashsim_io (img) };
  struct sv_pool *pool = pool_open (POOL, &opts, 0);
  struct sv_view *v;

  if (pool == NULL)
    fail_msg ("%s: pool_open: %s", why, sv_errmsg ());
  v = view_open (pool, vol);
  if (v == NULL)
    fail_msg ("%s: view_open %s: %s", why, vol, sv_errmsg ());
  assert_pattern (v, 0, len, pattern);
  view_close (v);
  ut_pool_close (pool);
}

static void
test_kill_at_checkpoint_rename_then_power_loss_during_recovery
  (void **state)
{
  struct crashsim *cs = crashsim_new (), *copy;
  const struct sv_io *io = crashsim_io (cs);
  struct sv_pool_options opts = { .io = io, .checkpoint_bytes = 4096 };
  struct kill_hook k = { .match = "checkpoint.new " POOL "/volumes/v/" };
  struct sv_pool *pool;
  struct sv_view *v;
  uint64_t at, nops, seed, len = 256 * KiB, off;
  char why[256];

  assert_int_equal (io->ops->mkdir (io->opaque, POOL, 0700), 0);
  assert_int_equal (io->ops->syncdir (io->opaque, "/"), 0);
  pool = ut_pool_open_opts (POOL, &opts, 1);
  assert_int_equal (pool_volume_create (pool, "v", MiB, 64 * KiB), 0);
  v = ut_view_open (pool, "v");
  /* One record per 4 KiB write: past the 4 KiB journal limit, so the
   * flush writes a checkpoint; kill -9 right after its rename. */
  for (off = 0; off < len; off += 4096)
    ut_write_pattern (v, off, 4096, 5, NULL);
  crashsim_set_hook (cs, kill_after, &k);
  assert_int_equal (view_flush (v), 0);
  crashsim_set_hook (cs, NULL, NULL);
  assert_non_null (k.img);
  view_close (v);
  ut_pool_close (pool);
  crashsim_free (cs);

  /* How many operations the recovery and a close take. */
  copy = crashsim_crash (k.img, 0, CRASHSIM_KEEP_ALL, NULL);
  expect_pool (copy, "v", len, 5, "recovery after kill -9");
  nops = crashsim_ops (copy);
  crashsim_free (copy);
  assert_true (nops > 4);

  for (at = 1; at <= nops; at++)
    for (seed = 1; seed <= 16; seed++) {
      struct creation_crash cc = { .at = at, .seed = seed };

      copy = crashsim_crash (k.img, 0, CRASHSIM_KEEP_ALL, NULL);
      crashsim_set_hook (copy, crash_during_creation, &cc);
      opts.io = crashsim_io (copy);
      opts.checkpoint_bytes = 4096;
      pool = ut_pool_open_opts (POOL, &opts, 0);
      ut_pool_close (pool);
      crashsim_free (copy);
      assert_non_null (cc.img);
      snprintf (why, sizeof why, "kill -9 after the checkpoint's rename,"
                " then power loss after operation %" PRIu64 " of %" PRIu64
                " of the recovery (seed %" PRIu64 ")", at, nops, seed);
      expect_pool (cc.img, "v", len, 5, why);
      crashsim_free (cc.img);
    }
  crashsim_free (k.img);
}

/* pool_open with CREATE run again on a directory that exists (the first
 * attempt failed in its sync, or was killed): it must still make the
 * directory's name durable. */
static void
test_pool_creation_retried_on_existing_directory_is_durable (void **state)
{
  struct crashsim *cs = crashsim_new (), *img;
  const struct sv_io *io = crashsim_io (cs);
  struct sv_pool_options opts = { .io = io };
  struct sv_pool *pool;
  struct sv_view *v;

  /* What a killed first attempt leaves: the directory, its name only
   * in the page cache. */
  assert_int_equal (io->ops->mkdir (io->opaque, "/newpool", 0700), 0);
  pool = ut_pool_open_opts ("/newpool", &opts, 1);
  assert_int_equal (pool_volume_create (pool, "v", MiB, 0), 0);
  v = ut_view_open (pool, "v");
  ut_write_pattern (v, 0, 64 * KiB, 9, NULL);
  assert_int_equal (view_flush (v), 0);
  view_close (v);
  img = crashsim_crash (cs, 0, CRASHSIM_SYNCED_ONLY, NULL);
  ut_pool_close (pool);
  crashsim_free (cs);

  opts.io = crashsim_io (img);
  pool = pool_open ("/newpool", &opts, 0);
  if (pool == NULL)
    fail_msg ("pool_open after a power loss: %s", sv_errmsg ());
  v = ut_view_open (pool, "v");
  assert_pattern (v, 0, 64 * KiB, 9);
  view_close (v);
  ut_pool_close (pool);
  crashsim_free (img);
}

/* Close POOL, the only pool on CS, and return the image a power loss
 * would leave of CS then (what was synced), CS freed: the base image
 * of a crash sweep. */
static struct crashsim *
synced_image (struct crashsim *cs, struct sv_pool *pool)
{
  struct crashsim *img;

  ut_pool_close (pool);
  img = crashsim_crash (cs, 0, CRASHSIM_SYNCED_ONLY, NULL);
  crashsim_free (cs);
  return img;
}

/* Volume creation and clones.  A pool on a crashsim holding volume
 * "v" (1 MiB, 64 KiB clusters): pattern 1, snapshot *SNAP, pattern 2.
 * The image is left synced, the pool closed. */
static struct crashsim *
volume_creation_base (char snap[SV_UUID_STRLEN + 1])
{
  struct crashsim *cs = crashsim_new ();
  struct sv_pool_options opts = { .io = crashsim_io (cs), .flush_threads = 1 };
  struct sv_pool *pool = ut_pool_open_opts (POOL, &opts, 1);
  struct sv_view *v;

  assert_int_equal (pool_volume_create (pool, "v", MiB, 64 * KiB), 0);
  v = ut_view_open (pool, "v");
  ut_write_pattern (v, 0, MiB, 1, NULL);
  assert_int_equal (view_flush (v), 0);
  view_close (v);
  ut_snapshot (pool, "v", snap);
  v = ut_view_open (pool, "v");
  ut_write_pattern (v, 0, MiB, 2, NULL);
  assert_int_equal (view_flush (v), 0);
  view_close (v);
  return synced_image (cs, pool);
}

/* Create volume "n" in POOL: a clone of v@SNAP when SNAP is not NULL,
 * an empty 1 MiB volume otherwise.  Returns the call's result. */
static int
make_volume_n (struct sv_pool *pool, const char *snap)
{
  char origin[128];

  if (snap == NULL)
    return pool_volume_create (pool, "n", MiB, 64 * KiB);
  snprintf (origin, sizeof origin, "v@%s", snap);
  return pool_volume_clone (pool, origin, "n");
}

/* What a state-changing operation of a creation did, from the crash
 * hook: the syncs and renames in order, temporary names cut to
 * ".tmp-n". */
struct creation_trace {
  char ops[32][160];
  size_t n;
};

static void
trace_creation (void *opaque, struct crashsim *cs, uint64_t op,
                const char *what)
{
  struct creation_trace *t = opaque;
  char buf[160];
  const char *tmp;
  size_t n = 0;

  if (strncmp (what, "sync", 4) != 0 && strncmp (what, "rename ", 7) != 0)
    return;
  /* ".tmp-n-UUID" is random: keep ".tmp-n". */
  while ((tmp = strstr (what, ".tmp-n-")) != NULL &&
         strlen (tmp) >= 7 + SV_UUID_STRLEN) {
    n += snprintf (buf + n, sizeof buf - n, "%.*s.tmp-n",
                   (int) (tmp - what), what);
    what = tmp + 7 + SV_UUID_STRLEN;
    if (n >= sizeof buf)
      n = sizeof buf - 1;
  }
  snprintf (buf + n, sizeof buf - n, "%s", what);
  if (t->n < 32)
    snprintf (t->ops[t->n++], sizeof t->ops[0], "%s", buf);
}

/* A creation, clone or not, syncs each of the new volume's files once,
 * the temporary directory once, renames it, and syncs the pool's
 * volume directory once: the open that follows syncs nothing again. */
static void
check_creation_syncs (int clone)
{
  static const char *const want[] = {
    "sync " POOL "/volumes/.tmp-n/superblock",
    "sync " POOL "/volumes/.tmp-n/checkpoint",
    "sync " POOL "/volumes/.tmp-n/journal.0000000000000001",
    "syncdir " POOL "/volumes/.tmp-n",
    "rename " POOL "/volumes/.tmp-n " POOL "/volumes/n",
    "syncdir " POOL "/volumes",
  };
  char id[SV_UUID_STRLEN + 1];
  struct crashsim *cs = volume_creation_base (id);
  struct sv_pool_options opts = { .io = crashsim_io (cs), .flush_threads = 1 };
  struct sv_pool *pool = ut_pool_open_opts (POOL, &opts, 0);
  struct creation_trace t = { .n = 0 };
  size_t i;

  crashsim_set_hook (cs, trace_creation, &t);
  assert_int_equal (make_volume_n (pool, clone ? id : NULL), 0);
  crashsim_set_hook (cs, NULL, NULL);
  for (i = 0; i < t.n; i++)
    printf ("  %s: %s\n", clone ? "clone" : "create", t.ops[i]);
  for (i = 0; i < t.n && i < sizeof want / sizeof want[0]; i++)
    if (strcmp (t.ops[i], want[i]) != 0)
      fail_msg ("%s: operation %zu is \"%s\", expected \"%s\"",
                clone ? "clone" : "create", i + 1, t.ops[i], want[i]);
  if (t.n != sizeof want / sizeof want[0])
    fail_msg ("%s: %zu syncs and renames, expected %zu",
              clone ? "clone" : "create", t.n, sizeof want / sizeof want[0]);
  ut_pool_close (pool);
  crashsim_free (cs);
}

static void
test_volume_creation_syncs_each_file_once (void **state)
{
  check_creation_syncs (0);
  check_creation_syncs (1);
}

/* Open the pool on IMG after a crash during the creation of "n" (a
 * clone of v@SNAP if SNAP is set): "n" must be absent, with no
 * temporary directory left and the creation possible again, or whole
 * (a clone reads the snapshot, a new volume zeroes).  Then the same
 * once more after a power loss: 1 if "n" was there the first time. */
static int
check_after_creation_crash (struct crashsim *img, const char *snap,
                            const char *where)
{
  struct sv_pool_options opts = { .io = crashsim_io (img), .flush_threads = 1 };
  struct sv_pool *pool = pool_open (POOL, &opts, 0);
  struct sv_volume_info *vi;
  struct sv_view *v;
  char **names;
  size_t nv, nn, i;
  int present;

  if (pool == NULL)
    fail_msg ("%s: pool_open: %s", where, sv_errmsg ());
  assert_int_equal (pool_volume_list (pool, NULL, &vi, &nv), 0);
  free (vi);
  present = nv == 2;
  if (nv != 1 && nv != 2)
    fail_msg ("%s: %zu volumes", where, nv);
  assert_int_equal (opts.io->ops->listdir (opts.io->opaque, POOL "/volumes",
                                           &names, &nn), 0);
  for (i = 0; i < nn; i++) {
    if (strncmp (names[i], ".tmp-", 5) == 0)
      fail_msg ("%s: %s is left in " POOL "/volumes after pool_open", where,
                names[i]);
    free (names[i]);
  }
  free (names);
  if (!present && make_volume_n (pool, snap) == -1)
    fail_msg ("%s: the creation run again fails: %s", where, sv_errmsg ());
  v = ut_view_open (pool, "n");
  if (snap)
    assert_pattern (v, 0, MiB, 1);
  else
    assert_zero (v, 0, MiB);
  view_close (v);
  v = ut_view_open (pool, "v");
  assert_pattern (v, 0, MiB, 2);
  view_close (v);
  ut_pool_close (pool);
  return present;
}

/* A crash image of a creation: after operation AT, of MODE. */
struct creation_point {
  uint64_t at, seed;
  enum crashsim_mode mode;
  struct crashsim *img;
};

static void
crash_at_point (void *opaque, struct crashsim *cs, uint64_t op,
                const char *what)
{
  struct creation_point *cp = opaque;

  if (op == cp->at && cp->img == NULL)
    cp->img = crashsim_crash (cs, cp->seed, cp->mode, NULL);
}

/* A crash after every state-changing operation of a volume's creation
 * (a clone if CLONE), the rename and the syncs around it included, and
 * after the call returned: with every unsynced change lost (seed 1),
 * with random ones kept, dropped or torn (seeds 2-5), and with all of
 * them kept (seed 0: kill -9), that last one then recovered and
 * followed by a power loss.  Each leaves no volume (and nothing that
 * blocks a retry) or the whole one; once the call has returned, the
 * whole one. */
static void
check_creation_crashes (int clone)
{
  const char *what = clone ? "clone" : "create";
  char id[SV_UUID_STRLEN + 1], where[256];
  struct crashsim *base = volume_creation_base (id);
  const char *snap = clone ? id : NULL;
  uint64_t nops, at, seed, ops0;
  size_t absent = 0, present = 0;

  /* The call's operations, counted on a copy. */
  {
    struct crashsim *cs = crashsim_crash (base, 0, CRASHSIM_KEEP_ALL, NULL);
    struct sv_pool_options opts = {
      .io = crashsim_io (cs), .flush_threads = 1,
    };
    struct sv_pool *pool = ut_pool_open_opts (POOL, &opts, 0);

    ops0 = crashsim_ops (cs);
    assert_int_equal (make_volume_n (pool, snap), 0);
    nops = crashsim_ops (cs) - ops0;
    ut_pool_close (pool);
    crashsim_free (cs);
  }
  assert_true (nops >= 6);

  for (at = 1; at <= nops + 1; at++)
    for (seed = 0; seed <= 5; seed++) {
      struct crashsim *cs = crashsim_crash (base, 0, CRASHSIM_KEEP_ALL, NULL);
      struct sv_pool_options opts = {
        .io = crashsim_io (cs), .flush_threads = 1,
      };
      struct sv_pool *pool = ut_pool_open_opts (POOL, &opts, 0);
      struct creation_point cp = {
        .at = crashsim_ops (cs) + at, .seed = seed,
        .mode = seed == 0 ? CRASHSIM_KEEP_ALL
          : seed == 1 ? CRASHSIM_SYNCED_ONLY : CRASHSIM_RANDOM,
      };
      int got;

      crashsim_set_hook (cs, crash_at_point, &cp);
      assert_int_equal (make_volume_n (pool, snap), 0);
      crashsim_set_hook (cs, NULL, NULL);
      if (at == nops + 1)       /* after the call returned */
        cp.img = crashsim_crash (cs, seed, cp.mode, NULL);
      ut_pool_close (pool);
      crashsim_free (cs);
      assert_non_null (cp.img);
      snprintf (where, sizeof where, "%s: crash after operation %" PRIu64
                " of %" PRIu64 "%s, %s image (seed %" PRIu64 ")", what,
                at > nops ? nops : at, nops,
                at > nops ? " (the call returned)" : "",
                seed == 0 ? "kill -9" : seed == 1 ? "synced-only"
                : "random", seed);
      got = check_after_creation_crash (cp.img, snap, where);
      if (at > nops && !got)
        fail_msg ("%s: the call returned, but the volume is gone", where);
      got ? present++ : absent++;
      if (seed == 0) {
        /* What kill -9 left, recovered (and the volume made again if
         * it was not there), then a power loss: the volume stays. */
        struct crashsim *lost = crashsim_crash (cp.img, 7, CRASHSIM_RANDOM,
                                                NULL);

        snprintf (where, sizeof where, "%s: kill -9 after operation %"
                  PRIu64 " of %" PRIu64 ", %s, then a power loss", what,
                  at, nops, got ? "recovered" : "made again");
        if (!check_after_creation_crash (lost, snap, where))
          fail_msg ("%s: the volume is gone", where);
        crashsim_free (lost);
      }
      crashsim_free (cp.img);
    }
  printf ("%s: %" PRIu64 " operations, %zu crash images without the"
          " volume, %zu with it\n", what, nops, absent, present);
  assert_true (absent > 0 && present > 0);
  crashsim_free (base);
}

static void
test_crash_during_volume_creation_leaves_all_or_nothing (void **state)
{
  check_creation_crashes (0);
}

static void
test_crash_during_clone_leaves_all_or_nothing (void **state)
{
  check_creation_crashes (1);
}

/* Pins of a set on volumes whose data file nothing changed since its
 * last sync (the coordinator's sets on idle volumes): the flush cycle
 * of each volume syncs its journal only; a volume written since (in
 * place: no record of its own) syncs its data file first.  A pool on a
 * crashsim with volumes "a" and "b" (1 MiB, 64 KiB clusters) holding
 * pattern 1, flushed; the image is left synced, the pool closed. */
static struct crashsim *
set_pin_base (void)
{
  struct crashsim *cs = crashsim_new ();
  struct sv_pool_options opts = { .io = crashsim_io (cs), .flush_threads = 1 };
  struct sv_pool *pool = ut_pool_open_opts (POOL, &opts, 1);
  static const char *const names[] = { "a", "b" };
  struct sv_view *v;
  size_t i;

  for (i = 0; i < 2; i++) {
    assert_int_equal (pool_volume_create (pool, names[i], MiB, 64 * KiB), 0);
    v = ut_view_open (pool, names[i]);
    ut_write_pattern (v, 0, MiB, 1, NULL);
    assert_int_equal (view_flush (v), 0);
    view_close (v);
  }
  return synced_image (cs, pool);
}

/* Pin the set {a, b} of POOL; the snapshots' ids into IDS. */
static void
pin_set_ab (struct sv_pool *pool, char ids[2][SV_UUID_STRLEN + 1])
{
  static const char *const vols[] = { "a", "b" };
  char set[SV_UUID_STRLEN + 1];
  struct sv_snap_result res[2];
  size_t i;

  if (pool_snapshot_create (pool, vols, 2, NULL, NULL, set, res) == -1)
    fail_msg ("pool_snapshot_create a, b: %s", sv_errmsg ());
  for (i = 0; i < 2; i++) {
    assert_string_equal (res[i].volume, vols[i]);
    memcpy (ids[i], res[i].id, SV_UUID_STRLEN + 1);
  }
}

/* A storage layer over a crashsim that records every sync call, the
 * ones with nothing to make durable too (the crashsim counts only the
 * syncs that change what a crash keeps): the path of each, journal
 * numbers cut, while sync_trace.on. */
static struct sv_io_ops sync_trace_ops;
static struct sv_io sync_trace_io = { &sync_trace_ops, NULL };
static struct {
  const struct sv_io *under;
  char path[64][128];           /* by handle */
  struct creation_trace t;
  int on;
} sync_trace;

static int
sync_trace_open (void *o, const char *path, int flags, mode_t mode)
{
  int h = sync_trace.under->ops->open (o, path, flags, mode);
  const char *j = strstr (path, "/journal.");

  if (h >= 0 && h < 64)
    snprintf (sync_trace.path[h], sizeof sync_trace.path[h], "%.*s",
              j ? (int) (j - path + 8) : (int) strlen (path), path);
  return h;
}

static int
sync_trace_sync (void *o, int h)
{
  struct creation_trace *t = &sync_trace.t;

  if (sync_trace.on && t->n < 32)
    snprintf (t->ops[t->n++], sizeof t->ops[0], "sync %s",
              h >= 0 && h < 64 ? sync_trace.path[h] : "?");
  return sync_trace.under->ops->sync (o, h);
}

static int
sync_trace_syncfs (void *o, int h)
{
  struct creation_trace *t = &sync_trace.t;

  if (sync_trace.on && t->n < 32)
    snprintf (t->ops[t->n++], sizeof t->ops[0], "syncfs");
  return sync_trace.under->ops->syncfs (o, h);
}

/* Pin {a, b} in POOL (opened over sync_trace_io): its syncs must be
 * WANT[0..NWANT), in order. */
static void
check_pin_syncs (struct sv_pool *pool, const char *const *want,
                 size_t nwant, const char *what)
{
  struct creation_trace *t = &sync_trace.t;
  char ids[2][SV_UUID_STRLEN + 1];
  size_t i;

  t->n = 0;
  sync_trace.on = 1;
  pin_set_ab (pool, ids);
  sync_trace.on = 0;
  for (i = 0; i < t->n; i++)
    printf ("  %s: %s\n", what, t->ops[i]);
  for (i = 0; i < t->n && i < nwant; i++)
    if (strcmp (t->ops[i], want[i]) != 0)
      fail_msg ("%s: sync %zu is \"%s\", expected \"%s\"", what, i + 1,
                t->ops[i], want[i]);
  if (t->n != nwant)
    fail_msg ("%s: %zu syncs, expected %zu", what, t->n, nwant);
}

/* Open the pool of CS over sync_trace_io with OPTS, and flush a and b
 * once: the first cycle after an open syncs the data files. */
static struct sv_pool *
open_traced (struct crashsim *cs, struct sv_pool_options *opts)
{
  struct sv_pool *pool;
  struct sv_view *v;

  memset (&sync_trace, 0, sizeof sync_trace);
  sync_trace.under = crashsim_io (cs);
  sync_trace_ops = *sync_trace.under->ops;
  sync_trace_ops.open = sync_trace_open;
  sync_trace_ops.sync = sync_trace_sync;
  sync_trace_ops.syncfs = sync_trace_syncfs;
  sync_trace_io.opaque = sync_trace.under->opaque;
  opts->io = &sync_trace_io;
  pool = ut_pool_open_opts (POOL, opts, 0);
  v = ut_view_open (pool, "a");
  assert_int_equal (view_flush (v), 0);
  view_close (v);
  v = ut_view_open (pool, "b");
  assert_int_equal (view_flush (v), 0);
  view_close (v);
  return pool;
}

/* Pin {a, b} twice in a pool opened with GROUP_SYNC_MIN over
 * sync_trace_io: idle (its syncs IDLE[0..NIDLE)), then after b was
 * overwritten in place (WRITTEN[0..NWRITTEN)).  The first cycle after
 * the open syncs the data: nothing is known of what the page cache held
 * before it (open_traced flushes a and b). */
static void
check_pins_idle_then_written (unsigned group_sync_min,
                              const char *const *idle, size_t nidle,
                              const char *const *written, size_t nwritten)
{
  struct crashsim *cs = set_pin_base ();
  struct sv_pool_options opts = {
    .flush_threads = 1, .group_sync_min = group_sync_min,
  };
  struct sv_pool *pool = open_traced (cs, &opts);
  struct sv_view *v;

  check_pin_syncs (pool, idle, nidle, "pin of idle a, b");
  /* An overwrite in place appends no record, yet the next pin of b
   * must make it durable before b's snapshot record. */
  v = ut_view_open (pool, "b");
  ut_write_pattern (v, 0, 64 * KiB, 3, NULL);
  view_close (v);
  check_pin_syncs (pool, written, nwritten, "pin after b was written");
  ut_pool_close (pool);
  crashsim_free (cs);
}

/* A set committed as a group: idle volumes cost one syncfs, and one
 * written since its last flush one more, before the records. */
static void
test_group_set_pin_syncs_the_filesystem_once_or_twice (void **state)
{
  static const char *const idle[] = { "syncfs" };
  static const char *const b_written[] = { "syncfs", "syncfs" };

  check_pins_idle_then_written (2, idle, 1, b_written, 2);
}

static void
test_set_pin_of_idle_volumes_syncs_their_journals_only (void **state)
{
  static const char *const idle[] = {
    "sync " POOL "/volumes/a/journal",
    "sync " POOL "/volumes/b/journal",
  };
  static const char *const b_written[] = {
    "sync " POOL "/volumes/a/journal",
    "sync " POOL "/volumes/b/data",
    "sync " POOL "/volumes/b/journal",
  };

  check_pins_idle_then_written (SV_GROUP_SYNC_NEVER, idle, 2, b_written, 3);
}

/* Open the pool on IMG after a crash during the pin of {a, b}, b's
 * first cluster overwritten in place with pattern 3 just before it (IDS:
 * the snapshots the pin made).  The live volumes read what was flushed
 * (b's first cluster: pattern 1 or 3); each snapshot is there or not,
 * and one that is there reads its volume as it was pinned: b's with
 * pattern 3, whose data sync came before b's record.  Returns how many
 * of the two snapshots are there. */
static int
check_after_pin_crash (struct crashsim *img,
                       char ids[2][SV_UUID_STRLEN + 1], const char *where)
{
  struct sv_pool_options opts = { .io = crashsim_io (img), .flush_threads = 1 };
  struct sv_pool *pool = pool_open (POOL, &opts, 0);
  static const char *const names[] = { "a", "b" };
  char export[SV_NAME_MAX + SV_UUID_STRLEN + 2];
  int present = 0;
  size_t i;

  if (pool == NULL)
    fail_msg ("%s: pool_open: %s", where, sv_errmsg ());
  for (i = 0; i < 2; i++) {
    struct sv_view *v = ut_view_open (pool, names[i]);

    assert_pattern (v, 64 * KiB, MiB - 64 * KiB, 1);
    if (i == 0)
      assert_pattern (v, 0, 64 * KiB, 1);
    view_close (v);
    snprintf (export, sizeof export, "%s@%s", names[i], ids[i]);
    v = view_open (pool, export);
    if (v == NULL)
      continue;
    present++;
    assert_pattern (v, 0, 64 * KiB, i == 0 ? 1 : 3);
    assert_pattern (v, 64 * KiB, MiB - 64 * KiB, 1);
    view_close (v);
    if (i == 1) {
      v = ut_view_open (pool, "b");
      assert_pattern (v, 0, 64 * KiB, 3);
      view_close (v);
    }
  }
  ut_pool_close (pool);
  return present;
}

/* A crash after every state-changing operation of the pin of {a, b}
 * (a idle, b overwritten in place just before), and after the call
 * returned: with every unsynced change lost (seed 1), random ones kept,
 * dropped or torn (seeds 2-5), all kept (seed 0: kill -9), that one
 * then recovered and followed by a power loss. */
static void
crash_during_set_pin (unsigned group_sync_min)
{
  struct crashsim *base = set_pin_base ();
  uint64_t nops = 0, at, seed;
  size_t seen[3] = { 0, 0, 0 };
  char where[256];

  for (at = 1; nops == 0 || at <= nops + 1; at++)
    for (seed = 0; seed <= 5; seed++) {
      struct crashsim *cs = crashsim_crash (base, 0, CRASHSIM_KEEP_ALL, NULL);
      struct sv_pool_options opts = {
        .io = crashsim_io (cs), .flush_threads = 1,
        .group_sync_min = group_sync_min,
      };
      struct sv_pool *pool = ut_pool_open_opts (POOL, &opts, 0);
      struct creation_point cp = {
        .seed = seed, .mode = seed == 0 ? CRASHSIM_KEEP_ALL
          : seed == 1 ? CRASHSIM_SYNCED_ONLY : CRASHSIM_RANDOM,
      };
      char ids[2][SV_UUID_STRLEN + 1];
      struct sv_view *v;
      uint64_t ops0;
      int got;

      /* The first cycle after the open syncs every data file; b is
       * then written in place, unflushed. */
      v = ut_view_open (pool, "a");
      assert_int_equal (view_flush (v), 0);
      view_close (v);
      v = ut_view_open (pool, "b");
      assert_int_equal (view_flush (v), 0);
      ut_write_pattern (v, 0, 64 * KiB, 3, NULL);
      view_close (v);
      ops0 = crashsim_ops (cs);
      cp.at = ops0 + at;
      crashsim_set_hook (cs, crash_at_point, &cp);
      pin_set_ab (pool, ids);
      crashsim_set_hook (cs, NULL, NULL);
      if (nops == 0)
        nops = crashsim_ops (cs) - ops0;
      if (at > nops)            /* after the call returned */
        cp.img = crashsim_crash (cs, seed, cp.mode, NULL);
      ut_pool_close (pool);
      crashsim_free (cs);
      assert_non_null (cp.img);
      snprintf (where, sizeof where, "%sset pin: crash after operation %"
                PRIu64 " of %" PRIu64 "%s, %s image (seed %" PRIu64 ")",
                group_sync_min == 2 ? "group " : "",
                at > nops ? nops : at, nops,
                at > nops ? " (the call returned)" : "",
                seed == 0 ? "kill -9" : seed == 1 ? "synced-only"
                : "random", seed);
      got = check_after_pin_crash (cp.img, ids, where);
      if (at > nops && got != 2)
        fail_msg ("%s: the call returned, but %d of its 2 snapshots are"
                  " there", where, got);
      seen[got]++;
      if (seed == 0) {
        struct crashsim *lost = crashsim_crash (cp.img, 7, CRASHSIM_RANDOM,
                                                NULL);
        int again;

        snprintf (where, sizeof where, "set pin: kill -9 after operation %"
                  PRIu64 " of %" PRIu64 ", recovered, then a power loss",
                  at, nops);
        again = check_after_pin_crash (lost, ids, where);
        if (again < got)
          fail_msg ("%s: %d snapshots after the recovery, %d after the"
                    " power loss", where, got, again);
        crashsim_free (lost);
      }
      crashsim_free (cp.img);
    }
  printf ("%sset pin: %" PRIu64 " operations, crash images with 0, 1, 2"
          " snapshots: %zu, %zu, %zu\n", group_sync_min == 2 ? "group " : "",
          nops, seen[0], seen[1], seen[2]);
  assert_true (seen[0] > 0 && seen[2] > 0);
  crashsim_free (base);
}

static void
test_crash_during_set_pin_of_idle_volumes_keeps_what_was_pinned
  (void **state)
{
  crash_during_set_pin (SV_GROUP_SYNC_NEVER);
}

/* The same crashes during a set committed as a group
 * (volume_flush_group): b's data, a's and b's records, one syncfs each. */
static void
test_crash_during_group_set_pin_keeps_what_was_pinned (void **state)
{
  crash_during_set_pin (2);
}

/* Clusters freed by a deletion are allocatable before their holes are
 * punched (volume.h, "Deferred punches"): a new version in one maps
 * only the subclusters it writes, and the rest of the cluster still
 * holds the deleted snapshot's bytes.  The I/O layer here punches
 * nothing (a deferred punch not run yet, or a filesystem that cannot
 * punch), so that every freed cluster is reused unpunched,
 * deterministically.  Base: "a" (1 MiB, 64 KiB clusters, 4 KiB
 * subclusters) holding pattern 1, snapshot S1, pattern 2 over all of
 * it, snapshot S2, flushed.  Then, crashed after each of its
 * operations: S1 deleted (16 clusters freed), pattern 3 written into
 * the first 4 KiB of every cluster (each a copy on write against S2,
 * into a freed cluster), a flush. */
static struct sv_io_ops nopunch_ops;
static struct sv_io nopunch_io = { &nopunch_ops, NULL };
static struct {
  const struct sv_io *under;
  int data;                     /* the handle of a's data file, or -1 */
  uint64_t data_end;            /* where its pwrites ended, at most */
} nopunch;

static int
nopunch_punch (void *o, int h, uint64_t off, uint64_t len)
{
  return 0;
}

static int
nopunch_open (void *o, const char *path, int flags, mode_t mode)
{
  int h = nopunch.under->ops->open (o, path, flags, mode);
  size_t n = strlen (path);

  if (h >= 0 && n >= 7 && strcmp (path + n - 7, "/a/data") == 0)
    nopunch.data = h;
  return h;
}

static ssize_t
nopunch_pwrite (void *o, int h, const void *buf, size_t n, uint64_t off)
{
  if (h == nopunch.data && off + n > nopunch.data_end)
    nopunch.data_end = off + n;
  return nopunch.under->ops->pwrite (o, h, buf, n, off);
}

static struct crashsim *
reuse_base (char s1[SV_UUID_STRLEN + 1], char s2[SV_UUID_STRLEN + 1])
{
  struct crashsim *cs = crashsim_new ();
  struct sv_pool_options opts = { .io = crashsim_io (cs), .flush_threads = 1 };
  struct sv_pool *pool = ut_pool_open_opts (POOL, &opts, 1);
  static const char *const vols[] = { "a" };
  char set[SV_UUID_STRLEN + 1];
  struct sv_snap_result res;
  struct sv_view *v;

  assert_int_equal (pool_volume_create (pool, "a", MiB, 64 * KiB), 0);
  v = ut_view_open (pool, "a");
  ut_write_pattern (v, 0, MiB, 1, NULL);
  if (pool_snapshot_create (pool, vols, 1, NULL, NULL, set, &res) == -1)
    fail_msg ("pool_snapshot_create: %s", sv_errmsg ());
  memcpy (s1, res.id, SV_UUID_STRLEN + 1);
  ut_write_pattern (v, 0, MiB, 2, NULL);
  if (pool_snapshot_create (pool, vols, 1, NULL, NULL, set, &res) == -1)
    fail_msg ("pool_snapshot_create: %s", sv_errmsg ());
  memcpy (s2, res.id, SV_UUID_STRLEN + 1);
  assert_int_equal (view_flush (v), 0);
  view_close (v);
  return synced_image (cs, pool);
}

/* Does VIEW read pattern SEED at [OFF, OFF+LEN)? */
static int
reads_pattern (struct sv_view *view, uint64_t off, uint32_t len,
               uint32_t seed)
{
  uint8_t *got = xcalloc (1, len), *want = xcalloc (1, len);
  int same;

  if (view_pread (view, got, len, off) == -1)
    fail_msg ("view_pread [%" PRIu64 ", +%" PRIu32 "): %s", off, len,
              sv_errmsg ());
  ut_pattern (want, len, off, seed);
  same = memcmp (got, want, len) == 0;
  free (got);
  free (want);
  return same;
}

/* After recovery from IMG: S2 reads pattern 2 in full; the live volume
 * reads 2 or 3 in the first 4 KiB of each cluster (3 if WRITTEN: the
 * flush returned) and 2 in the rest, never the freed clusters' pattern
 * 1; S1 is gone, or reads pattern 1 in full (its deletion did not
 * survive: none of its clusters was reused).  Returns whether S1 is
 * there. */
static int
check_after_reuse_crash (struct crashsim *img, const char *s1,
                         const char *s2, int written, const char *where)
{
  struct sv_pool_options opts = { .io = crashsim_io (img), .flush_threads = 1 };
  struct sv_pool *pool = pool_open (POOL, &opts, 0);
  char export[SV_NAME_MAX + SV_UUID_STRLEN + 2];
  struct sv_view *v;
  uint64_t c;
  int s1_there;

  if (pool == NULL)
    fail_msg ("%s: pool_open: %s", where, sv_errmsg ());
  snprintf (export, sizeof export, "a@%s", s2);
  v = view_open (pool, export);
  if (v == NULL)
    fail_msg ("%s: snapshot S2 is gone: %s", where, sv_errmsg ());
  assert_pattern (v, 0, MiB, 2);
  view_close (v);
  v = ut_view_open (pool, "a");
  for (c = 0; c < 16; c++) {
    uint64_t off = c * 64 * KiB;

    if (!reads_pattern (v, off, 4 * KiB, 3) &&
        (written || !reads_pattern (v, off, 4 * KiB, 2)))
      fail_msg ("%s: the live volume's first 4 KiB of cluster %" PRIu64
                " read neither pattern 3%s", where, c,
                written ? " (the flush had returned)" : " nor pattern 2");
    assert_pattern (v, off + 4 * KiB, 60 * KiB, 2);
  }
  view_close (v);
  snprintf (export, sizeof export, "a@%s", s1);
  v = view_open (pool, export);
  s1_there = v != NULL;
  if (v != NULL) {
    assert_pattern (v, 0, MiB, 1);
    view_close (v);
  }
  ut_pool_close (pool);
  return s1_there;
}

/* A crash after every operation of the deletion, the writes into the
 * freed clusters and the flush, and after the flush returned: every
 * unsynced change lost (seed 1), random ones kept, dropped or torn
 * (seeds 2-5), all kept (seed 0: kill -9). */
static void
test_crash_while_freed_clusters_are_reused_unpunched (void **state)
{
  char s1[SV_UUID_STRLEN + 1], s2[SV_UUID_STRLEN + 1], where[256];
  struct crashsim *base = reuse_base (s1, s2);
  uint64_t nops = 0, at, seed;
  size_t with_s1 = 0, without = 0;

  for (at = 1; nops == 0 || at <= nops + 1; at++)
    for (seed = 0; seed <= 5; seed++) {
      struct crashsim *cs = crashsim_crash (base, 0, CRASHSIM_KEEP_ALL, NULL);
      struct sv_pool_options opts = { .flush_threads = 1 };
      struct creation_point cp = {
        .seed = seed, .mode = seed == 0 ? CRASHSIM_KEEP_ALL
          : seed == 1 ? CRASHSIM_SYNCED_ONLY : CRASHSIM_RANDOM,
      };
      struct sv_pool *pool;
      struct sv_view *v;
      uint64_t ops0, c;

      nopunch.under = crashsim_io (cs);
      nopunch.data = -1;
      nopunch_ops = *nopunch.under->ops;
      nopunch_ops.punch = nopunch_punch;
      nopunch_ops.open = nopunch_open;
      nopunch_ops.pwrite = nopunch_pwrite;
      nopunch_io.opaque = nopunch.under->opaque;
      opts.io = &nopunch_io;
      pool = ut_pool_open_opts (POOL, &opts, 0);
      v = ut_view_open (pool, "a");
      assert_int_equal (view_flush (v), 0);
      ops0 = crashsim_ops (cs);
      cp.at = ops0 + at;
      nopunch.data_end = 0;
      crashsim_set_hook (cs, crash_at_point, &cp);
      if (pool_snapshot_delete (pool, s1, NULL) == -1)
        fail_msg ("pool_snapshot_delete S1: %s", sv_errmsg ());
      for (c = 0; c < 16; c++)
        ut_write_pattern (v, c * 64 * KiB, 4 * KiB, 3, NULL);
      assert_int_equal (view_flush (v), 0);
      crashsim_set_hook (cs, NULL, NULL);
      if (nops == 0) {
        nops = crashsim_ops (cs) - ops0;
        /* Every write took a cluster the deletion freed (S1's, the
         * first 16 of the file): the freed clusters were reused. */
        assert_true (nopunch.data >= 0);
        if (nopunch.data_end == 0 || nopunch.data_end > 16 * 64 * KiB)
          fail_msg ("the writes after the deletion ended at byte %" PRIu64
                    " of the data file: not in the 16 clusters freed",
                    nopunch.data_end);
      }
      if (at > nops)
        cp.img = crashsim_crash (cs, seed, cp.mode, NULL);
      view_close (v);
      ut_pool_close (pool);
      crashsim_free (cs);
      assert_non_null (cp.img);
      snprintf (where, sizeof where, "reuse of freed clusters: crash after"
                " operation %" PRIu64 " of %" PRIu64 "%s, %s image (seed %"
                PRIu64 ")", at > nops ? nops : at, nops,
                at > nops ? " (the flush returned)" : "",
                seed == 0 ? "kill -9" : seed == 1 ? "synced-only" : "random",
                seed);
      if (check_after_reuse_crash (cp.img, s1, s2, at > nops, where))
        with_s1++;
      else
        without++;
      crashsim_free (cp.img);
    }
  printf ("reuse of freed clusters: %" PRIu64 " operations, crash images"
          " with S1 %zu, without %zu\n", nops, with_s1, without);
  assert_true (with_s1 > 0 && without > 0);
  crashsim_free (base);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_crashsim_models_a_volatile_write_cache),
    cmocka_unit_test (test_pool_creation_is_durable),
    cmocka_unit_test
      (test_crash_during_pool_creation_leaves_a_pool_or_nothing),
    cmocka_unit_test (test_recovery_cuts_a_torn_journal_tail),
    cmocka_unit_test
      (test_pool_creation_retried_on_existing_directory_is_durable),
    cmocka_unit_test
      (test_kill_at_checkpoint_rename_then_power_loss_during_recovery),
    cmocka_unit_test (test_volume_creation_syncs_each_file_once),
    cmocka_unit_test
      (test_crash_during_volume_creation_leaves_all_or_nothing),
    cmocka_unit_test (test_crash_during_clone_leaves_all_or_nothing),
    cmocka_unit_test (test_set_pin_of_idle_volumes_syncs_their_journals_only),
    cmocka_unit_test
      (test_crash_during_set_pin_of_idle_volumes_keeps_what_was_pinned),
    cmocka_unit_test (test_group_set_pin_syncs_the_filesystem_once_or_twice),
    cmocka_unit_test (test_crash_during_group_set_pin_keeps_what_was_pinned),
    cmocka_unit_test (test_crash_while_freed_clusters_are_reused_unpunched),
    cmocka_unit_test
      (test_randomized_power_loss_keeps_acknowledged_data_and_snapshots),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}

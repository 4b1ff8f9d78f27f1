/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * test-crash.c: crash tests with real processes.  A child opens the
 * pool and runs a seeded workload (writes, FUA writes, zeroes, trims,
 * flushes, snapshot creation and deletion) in one or several threads,
 * each with its own view (as NBD connections) and its own blocks,
 * telling the parent over a pipe what it is about to do and what
 * returned.  The parent kills it with SIGKILL at a random moment,
 * reopens the pool and checks the NBD durability rules:
 *   - a block whose write returned before a flush began, or whose FUA
 *     write returned, reads that value or one written after it;
 *   - every block reads its last durable value or one written since,
 *     never anything else (another block's, a torn or stale one);
 *   - a snapshot whose creation returned reads, in each block, what
 *     was written when the pin happened (exactly, with one writer;
 *     with several, the value completed before the call began or one in
 *     flight during it), and the same bytes after every later crash;
 *     one whose creation was cut short is absent or right; a deletion
 *     that returned is durable.
 * Checkpoints are made tiny so that kills land in them too.  A
 * deterministic test first stops a snapshot deletion at a chosen point
 * (with the gated I/O layer) and dies there.
 *
 * SNAPVOL_CRASH_SEED=N repeats a run (the seed is printed);
 * SNAPVOL_CRASH_ITERATIONS=N changes the number of kills.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "pool.h"
#include "unit-helpers.h"

#define VOL "crash"
#define VOL_SIZE (1024 * KiB)
#define BLK 2048u                  /* half a subcluster: exercises RMW */
#define NBLK (VOL_SIZE / BLK)
#define MAX_RUN 8                  /* blocks per write */
#define MAX_SNAPS 6
#define MAX_THREADS 4
#define MAX_MODEL_SNAPS 64

#define DEFAULT_ITERATIONS 80
#define TIME_BUDGET_S 22           /* per test: stop early when slow */
#define MAX_KILL_DELAY_MS 300

/* Messages from the child, one write(2) each (atomic on a pipe). */
enum {
  M_WRITE = 'W',                /* about to write VALUE to the blocks */
  M_WRITTEN = 'w',              /* that write returned (FUA: durable) */
  M_FLUSH_BEGIN = 'f',          /* about to flush */
  M_FLUSHED = 'F',              /* the flush returned */
  M_SNAP_BEGIN = 'C',           /* about to create a snapshot */
  M_SNAP_DONE = 'S',            /* snapshot ID was created */
  M_DELETE_BEGIN = 'D',         /* about to delete snapshot ID */
  M_DELETE_DONE = 'd',          /* snapshot ID was deleted */
  M_ERROR = 'E',                /* an engine call failed: ID is the text */
};

struct msg {
  char type;
  uint8_t thread;
  uint8_t fua;
  uint8_t pad;
  uint32_t first, nblocks;
  uint64_t value;
  char id[96];
};

/* Every write has its own value, so that the parent can tell which
 * write a block holds; a write of zeroes (zero, trim) has ZEROES set in
 * its value and reads back as 0, the value of a never written block. */
#define ZEROES ((uint64_t) 1 << 63)

/* Can a block that reads GOT hold the write of VALUE? */
static int
holds (uint64_t value, uint64_t got)
{
  return got == value || (got == 0 && (value & ZEROES));
}

/* Block contents: a block of value V (V != 0) starts with V and its
 * own index and continues with a pattern of both, so that any other
 * content (a block of another value, a misplaced block, a torn one) is
 * recognised. */
static void
fill_block (uint8_t *p, uint32_t b, uint64_t value)
{
  if (value == 0 || (value & ZEROES)) {
    memset (p, 0, BLK);
    return;
  }
  memcpy (p, &value, 8);
  memcpy (p + 8, &b, 4);
  memset (p + 12, 0xb1, 4);
  ut_pattern (p + 16, BLK - 16, (uint64_t) b * BLK + 16,
              (uint32_t) (value ^ (value >> 29)));
}

/* The value block B holds, or UINT64_MAX when it is garbage. */
static uint64_t
decode_block (const uint8_t *p, uint32_t b)
{
  uint8_t want[BLK];
  uint64_t value;
  size_t i;

  memcpy (&value, p, 8);
  if (value == 0) {
    for (i = 0; i < BLK; i++)
      if (p[i])
        return UINT64_MAX;
    return 0;
  }
  fill_block (want, b, value);
  return memcmp (p, want, BLK) == 0 ? value : UINT64_MAX;
}

/* The child. */

struct child {
  const char *dir;
  uint64_t checkpoint_bytes;
  unsigned seed;
  uint32_t iteration;
  unsigned nthreads;
  int fd;
  struct sv_pool *pool;
};

struct worker {
  const struct child *c;
  pthread_t thread;
  unsigned t, rs;
  uint32_t lo, hi;              /* the blocks this thread writes */
  uint32_t counter;
  struct sv_view *v;
};

static void
send_msg (int fd, char type, unsigned t, uint32_t first, uint32_t n,
          uint64_t value, int fua, const char *id)
{
  struct msg m;

  memset (&m, 0, sizeof m);
  m.type = type;
  m.thread = t;
  m.fua = fua;
  m.first = first;
  m.nblocks = n;
  m.value = value;
  if (id)
    snprintf (m.id, sizeof m.id, "%s", id);
  if (write (fd, &m, sizeof m) != sizeof m)
    _exit (2);
}

static void
child_fail (int fd, unsigned t, const char *what)
{
  char text[sizeof ((struct msg *) 0)->id];

  snprintf (text, sizeof text, "%s: %s", what, sv_errmsg ());
  send_msg (fd, M_ERROR, t, 0, 0, 0, 0, text);
  _exit (1);
}

static void
child_snapshot (const struct child *c)
{
  const char *vols[1] = { VOL };
  char set[SV_UUID_STRLEN + 1];
  struct sv_snap_result res;

  send_msg (c->fd, M_SNAP_BEGIN, 0, 0, 0, 0, 0, NULL);
  if (pool_snapshot_create (c->pool, vols, 1, "crash", NULL, set,
                            &res) == -1)
    child_fail (c->fd, 0, "pool_snapshot_create");
  send_msg (c->fd, M_SNAP_DONE, 0, 0, 0, 0, 0, res.id);
}

static size_t
child_count_snapshots (const struct child *c)
{
  struct sv_snapshot_info *si = NULL;
  size_t n = 0;

  if (pool_snapshot_list (c->pool, VOL, &si, &n) == -1)
    child_fail (c->fd, 0, "pool_snapshot_list");
  free (si);
  return n;
}

static void
child_delete (const struct child *c, unsigned *rs)
{
  struct sv_snapshot_info *si = NULL;
  char id[SV_UUID_STRLEN + 1];
  size_t n = 0;

  if (pool_snapshot_list (c->pool, VOL, &si, &n) == -1)
    child_fail (c->fd, 0, "pool_snapshot_list");
  if (n > 0) {
    memcpy (id, si[rand_r (rs) % n].id, sizeof id);
    send_msg (c->fd, M_DELETE_BEGIN, 0, 0, 0, 0, 0, id);
    if (pool_snapshot_delete (c->pool, id, NULL) == -1)
      child_fail (c->fd, 0, "pool_snapshot_delete");
    send_msg (c->fd, M_DELETE_DONE, 0, 0, 0, 0, 0, id);
  }
  free (si);
}

/* One thread's workload, until the parent kills the process.  Only
 * thread 0 creates and deletes snapshots. */
static void *
worker_run (void *arg)
{
  struct worker *w = arg;
  const struct child *c = w->c;
  uint8_t *buf = malloc (MAX_RUN * BLK);

  if (buf == NULL)
    child_fail (c->fd, w->t, "malloc");
  for (;;) {
    unsigned op = rand_r (&w->rs) % 100;
    uint32_t first = w->lo + rand_r (&w->rs) % (w->hi - w->lo);
    uint32_t n = 1 + rand_r (&w->rs) % MAX_RUN, k;
    int fua = rand_r (&w->rs) % 6 == 0;
    uint64_t value;

    if (op >= 88 && w->t != 0)
      op = 0;
    if (op < 70) {
      /* A write; or zeroes; or a trim of whole subclusters (pairs of
       * blocks), which then read as zeroes too. */
      int zero = op >= 62, trim = op >= 66;
      int r;

      if (trim) {
        first &= ~1u;
        n = (n + 1) & ~1u;
      }
      if (first + n > w->hi)
        n = w->hi - first;
      value = (zero ? ZEROES : 0) | (uint64_t) c->iteration << 32 |
        (uint64_t) w->t << 28 | ++w->counter;
      for (k = 0; !zero && k < n; k++)
        fill_block (buf + k * BLK, first + k, value);
      send_msg (c->fd, M_WRITE, w->t, first, n, value, fua, NULL);
      if (!zero)
        r = view_pwrite (w->v, buf, n * BLK, (uint64_t) first * BLK, fua);
      else if (trim)
        r = view_trim (w->v, n * BLK, (uint64_t) first * BLK, fua);
      else
        r = view_zero (w->v, n * BLK, (uint64_t) first * BLK,
                       rand_r (&w->rs) % 2, 0, fua);
      if (r == -1)
        child_fail (c->fd, w->t, !zero ? "view_pwrite"
                    : trim ? "view_trim" : "view_zero");
      send_msg (c->fd, M_WRITTEN, w->t, first, n, value, fua, NULL);
    }
    else if (op < 88) {
      send_msg (c->fd, M_FLUSH_BEGIN, w->t, 0, 0, 0, 0, NULL);
      if (view_flush (w->v) == -1)
        child_fail (c->fd, w->t, "view_flush");
      send_msg (c->fd, M_FLUSHED, w->t, 0, 0, 0, 0, NULL);
    }
    else if (op < 94)
      child_snapshot (c);
    else
      child_delete (c, &w->rs);

    if (w->t == 0 && rand_r (&w->rs) % 8 == 0 &&
        child_count_snapshots (c) > MAX_SNAPS)
      child_delete (c, &w->rs);
  }
  return NULL;
}

static void
run_child (struct child *c)
{
  struct sv_pool_options opts = { .checkpoint_bytes = c->checkpoint_bytes };
  struct worker w[MAX_THREADS];
  unsigned t;

  c->pool = pool_open (c->dir, &opts, 0);
  if (c->pool == NULL)
    child_fail (c->fd, 0, "pool_open");
  for (t = 0; t < c->nthreads; t++) {
    w[t].c = c;
    w[t].t = t;
    w[t].rs = c->seed + t;
    w[t].lo = NBLK / c->nthreads * t;
    w[t].hi = NBLK / c->nthreads * (t + 1);
    w[t].counter = 0;
    w[t].v = view_open (c->pool, VOL);
    if (w[t].v == NULL)
      child_fail (c->fd, t, "view_open");
  }
  for (t = 1; t < c->nthreads; t++)
    if (pthread_create (&w[t].thread, NULL, worker_run, &w[t]) != 0)
      child_fail (c->fd, t, "pthread_create");
  worker_run (&w[0]);
}

/* The parent's model of what may be on disk.  Values written to one
 * block come from one thread, so they are ordered. */

struct values {
  size_t n, cap;
  uint64_t *v;
};

struct block {
  uint64_t durable;             /* known durable */
  uint64_t completed;           /* the last write that returned */
  struct values pending;        /* written after DURABLE, in order */
};

/* A snapshot: in each block, the values it may hold, until it was read
 * once; from then on exactly what was read. */
struct msnap {
  char id[SV_UUID_STRLEN + 1];
  int state;                    /* 0, deleting, or seen (recovery) */
  struct values *may;           /* NBLK sets */
  uint64_t *fixed;              /* NBLK values, or NULL */
};
enum { SNAP_OK, SNAP_DELETING, SNAP_SEEN };

struct model {
  struct block blk[NBLK];
  uint64_t flush_cut[MAX_THREADS][NBLK];
  /* A creation in progress: what must become durable, and what the
   * snapshot may hold. */
  int creating;
  uint64_t cut[NBLK];
  struct values *may;
  struct msnap snaps[MAX_MODEL_SNAPS];
  size_t nsnaps;
  char deleted[MAX_MODEL_SNAPS][SV_UUID_STRLEN + 1];  /* returned */
  size_t ndeleted;
  char error[sizeof ((struct msg *) 0)->id];
  /* For the summary: how much the children got done. */
  unsigned long nwrites, nflushes, ncreated, ndeletes;
};

static void
values_add (struct values *vs, uint64_t v)
{
  if (vs->n == vs->cap) {
    vs->cap = vs->cap ? vs->cap * 2 : 4;
    vs->v = realloc (vs->v, vs->cap * sizeof *vs->v);
    assert_non_null (vs->v);
  }
  vs->v[vs->n++] = v;
}

static int
values_has (const struct values *vs, uint64_t v)
{
  size_t i;

  for (i = 0; i < vs->n; i++)
    if (vs->v[i] == v)
      return 1;
  return 0;
}

/* Can a block that reads GOT hold one of VS? */
static int
values_hold (const struct values *vs, uint64_t got)
{
  size_t i;

  for (i = 0; i < vs->n; i++)
    if (holds (vs->v[i], got))
      return 1;
  return 0;
}

static struct values *
sets_new (void)
{
  struct values *s = calloc (NBLK, sizeof *s);

  assert_non_null (s);
  return s;
}

static void
sets_free (struct values *s)
{
  uint32_t b;

  if (s == NULL)
    return;
  for (b = 0; b < NBLK; b++)
    free (s[b].v);
  free (s);
}

/* VALUE of block B became durable: older values no longer may be read.
 * VALUE older than the durable one changes nothing. */
static void
advance (struct block *k, uint64_t value)
{
  size_t i;

  for (i = 0; i < k->pending.n; i++)
    if (k->pending.v[i] == value) {
      k->durable = value;
      memmove (k->pending.v, k->pending.v + i + 1,
               (k->pending.n - i - 1) * sizeof *k->pending.v);
      k->pending.n -= i + 1;
      return;
    }
}

static struct msnap *
find_snap (struct model *m, const char *id)
{
  size_t i;

  for (i = 0; i < m->nsnaps; i++)
    if (strcmp (m->snaps[i].id, id) == 0)
      return &m->snaps[i];
  return NULL;
}

static struct msnap *
add_snap (struct model *m, const char *id)
{
  struct msnap *s;

  assert_true (m->nsnaps < MAX_MODEL_SNAPS);
  s = &m->snaps[m->nsnaps++];
  memset (s, 0, sizeof *s);
  snprintf (s->id, sizeof s->id, "%.36s", id);
  s->may = m->may;
  m->may = NULL;
  m->creating = 0;
  return s;
}

static void
drop_snap (struct model *m, struct msnap *s)
{
  sets_free (s->may);
  free (s->fixed);
  *s = m->snaps[--m->nsnaps];
}

static void
apply_msg (struct model *m, const struct msg *msg)
{
  struct msnap *s;
  uint32_t b, end = msg->first + msg->nblocks;
  size_t i;

  assert_true (msg->thread < MAX_THREADS);
  assert_true (end <= NBLK);
  switch (msg->type) {
  case M_WRITE:
    for (b = msg->first; b < end; b++) {
      values_add (&m->blk[b].pending, msg->value);
      if (m->creating)
        values_add (&m->may[b], msg->value);
    }
    break;
  case M_WRITTEN:
    m->nwrites++;
    for (b = msg->first; b < end; b++) {
      m->blk[b].completed = msg->value;
      if (msg->fua)
        advance (&m->blk[b], msg->value);
    }
    break;
  case M_FLUSH_BEGIN:
    for (b = 0; b < NBLK; b++)
      m->flush_cut[msg->thread][b] = m->blk[b].completed;
    break;
  case M_FLUSHED:
    m->nflushes++;
    for (b = 0; b < NBLK; b++)
      advance (&m->blk[b], m->flush_cut[msg->thread][b]);
    break;
  case M_SNAP_BEGIN:
    /* The snapshot holds at least every write completed by now, and
     * may hold the writes in flight and those started before the call
     * returns. */
    sets_free (m->may);
    m->may = sets_new ();
    m->creating = 1;
    for (b = 0; b < NBLK; b++) {
      struct block *k = &m->blk[b];
      int after = k->completed == k->durable &&
        !values_has (&k->pending, k->completed);
      m->cut[b] = k->completed;
      values_add (&m->may[b], k->completed);
      for (i = 0; i < k->pending.n; i++) {
        if (after)
          values_add (&m->may[b], k->pending.v[i]);
        if (k->pending.v[i] == k->completed)
          after = 1;
      }
    }
    break;
  case M_SNAP_DONE:
    /* Durable on return, with the data it covers. */
    m->ncreated++;
    assert_true (m->creating);
    add_snap (m, msg->id);
    for (b = 0; b < NBLK; b++)
      advance (&m->blk[b], m->cut[b]);
    break;
  case M_DELETE_BEGIN:
    s = find_snap (m, msg->id);
    if (s == NULL)
      fail_msg ("the child deletes snapshot %s, unknown to the model",
                msg->id);
    s->state = SNAP_DELETING;
    break;
  case M_DELETE_DONE:
    m->ndeletes++;
    s = find_snap (m, msg->id);
    assert_non_null (s);
    drop_snap (m, s);
    if (m->ndeleted < MAX_MODEL_SNAPS)
      snprintf (m->deleted[m->ndeleted++], SV_UUID_STRLEN + 1, "%.36s",
                msg->id);
    break;
  case M_ERROR:
    snprintf (m->error, sizeof m->error, "%s", msg->id);
    break;
  default:
    fail_msg ("unknown message type %d from the child", msg->type);
  }
}

static void
model_free (struct model *m)
{
  uint32_t b;

  while (m->nsnaps > 0)
    drop_snap (m, &m->snaps[0]);
  for (b = 0; b < NBLK; b++)
    free (m->blk[b].pending.v);
  sets_free (m->may);
}

/* Run one child until DELAY_MS have passed, kill it, and apply every
 * message it managed to send. */
static void
run_and_kill (struct model *m, struct child *c, unsigned delay_ms)
{
  uint8_t buf[64 * sizeof (struct msg)];
  size_t have = 0;
  struct timespec start, now;
  int fds[2], status, killed = 0;
  pid_t pid;

  assert_int_equal (pipe (fds), 0);
  fflush (NULL);
  pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0) {
    close (fds[0]);
    c->fd = fds[1];
    run_child (c);
    _exit (3);
  }
  close (fds[1]);
  clock_gettime (CLOCK_MONOTONIC, &start);

  for (;;) {
    struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
    long elapsed, timeout = -1;
    ssize_t r;
    size_t off;

    if (!killed) {
      clock_gettime (CLOCK_MONOTONIC, &now);
      elapsed = (now.tv_sec - start.tv_sec) * 1000 +
        (now.tv_nsec - start.tv_nsec) / 1000000;
      if (elapsed >= (long) delay_ms) {
        kill (pid, SIGKILL);
        killed = 1;
      }
      else
        timeout = delay_ms - elapsed;
    }
    if (poll (&pfd, 1, (int) timeout) == 0)
      continue;
    r = read (fds[0], buf + have, sizeof buf - have);
    if (r == -1 && errno == EINTR)
      continue;
    assert_true (r >= 0);
    if (r == 0)
      break;
    have += r;
    for (off = 0; have - off >= sizeof (struct msg);
         off += sizeof (struct msg)) {
      struct msg msg;
      memcpy (&msg, buf + off, sizeof msg);
      apply_msg (m, &msg);
    }
    memmove (buf, buf + off, have - off);
    have -= off;
  }
  close (fds[0]);
  if (!killed)
    kill (pid, SIGKILL);
  assert_int_equal (waitpid (pid, &status, 0), pid);
  if (m->error[0])
    fail_msg ("iteration %" PRIu32 ": the child failed: %s", c->iteration,
              m->error);
  if (!WIFSIGNALED (status) || WTERMSIG (status) != SIGKILL)
    fail_msg ("iteration %" PRIu32 ": the child ended by itself (status"
              " 0x%x)", c->iteration, status);
}

static void
format_values (char *out, size_t len, const struct values *vs)
{
  size_t i, o = 0;

  out[0] = '\0';
  for (i = 0; i < vs->n && o + 24 < len; i++)
    o += snprintf (out + o, len - o, " %" PRIx64, vs->v[i]);
}

/* Read all of VIEW as block values. */
static void
read_values (struct sv_view *view, uint64_t *values)
{
  static uint8_t data[VOL_SIZE];
  uint32_t b;

  if (view_pread (view, data, VOL_SIZE, 0) == -1)
    fail_msg ("view_pread: %s", sv_errmsg ());
  for (b = 0; b < NBLK; b++)
    values[b] = decode_block (data + (size_t) b * BLK, b);
}

/* Snapshot ID holds what S says it may (its first reading) or exactly
 * what it held before (later readings). */
static void
check_snapshot (struct sv_pool *pool, struct msnap *s, uint32_t iteration)
{
  uint64_t *got = malloc (NBLK * sizeof *got);
  char export[SV_NAME_MAX + SV_UUID_STRLEN + 2], list[512];
  struct sv_view *view;
  uint32_t b;

  assert_non_null (got);
  snprintf (export, sizeof export, "%s@%s", VOL, s->id);
  view = ut_view_open (pool, export);
  read_values (view, got);
  view_close (view);
  for (b = 0; b < NBLK; b++) {
    if (s->fixed && got[b] != s->fixed[b])
      fail_msg ("iteration %" PRIu32 ": snapshot %s block %" PRIu32
                " reads %" PRIx64 ", but it held %" PRIx64 " before",
                iteration, s->id, b, got[b], s->fixed[b]);
    if (!s->fixed && !values_hold (&s->may[b], got[b])) {
      format_values (list, sizeof list, &s->may[b]);
      fail_msg ("iteration %" PRIu32 ": snapshot %s block %" PRIu32
                " reads %" PRIx64 ", pinned:%s", iteration, s->id, b,
                got[b], list);
    }
  }
  free (s->fixed);
  s->fixed = got;
}

/* Reopen the pool after a kill, check it against the model, and make
 * the model match what was recovered. */
static void
check_recovery (const char *dir, struct model *m, uint64_t checkpoint_bytes,
                uint32_t iteration)
{
  static uint64_t got[NBLK];
  struct sv_pool *pool = ut_pool_open (dir, checkpoint_bytes, 0);
  struct sv_snapshot_info *si = NULL;
  struct sv_view *view;
  size_t n = 0, i, k;
  uint32_t b;

  view = ut_view_open (pool, VOL);
  read_values (view, got);
  view_close (view);
  for (b = 0; b < NBLK; b++) {
    struct block *blk = &m->blk[b];
    if (!holds (blk->durable, got[b]) &&
        !values_hold (&blk->pending, got[b])) {
      char list[512];
      format_values (list, sizeof list, &blk->pending);
      fail_msg ("iteration %" PRIu32 ": block %" PRIu32 " reads %" PRIx64
                " (%s); durable %" PRIx64 ", written since:%s", iteration,
                b, got[b], got[b] == UINT64_MAX ? "garbage" : "a stale value",
                blk->durable, list);
    }
  }

  if (pool_snapshot_list (pool, VOL, &si, &n) == -1)
    fail_msg ("pool_snapshot_list: %s", sv_errmsg ());
  for (i = 0; i < n; i++) {
    struct msnap *s = find_snap (m, si[i].id);
    if (s == NULL) {
      /* Created, but the child was killed before it could say so. */
      for (k = 0; k < m->ndeleted; k++)
        if (strcmp (m->deleted[k], si[i].id) == 0)
          fail_msg ("iteration %" PRIu32 ": snapshot %s is back after its"
                    " deletion returned", iteration, si[i].id);
      if (!m->creating)
        fail_msg ("iteration %" PRIu32 ": unknown snapshot %s", iteration,
                  si[i].id);
      s = add_snap (m, si[i].id);
    }
    check_snapshot (pool, s, iteration);
    s->state = SNAP_SEEN;
  }
  for (i = 0; i < m->nsnaps; ) {
    struct msnap *s = &m->snaps[i];
    if (s->state == SNAP_OK)
      fail_msg ("iteration %" PRIu32 ": snapshot %s was created but is"
                " lost", iteration, s->id);
    if (s->state == SNAP_DELETING) {    /* the deletion became durable */
      drop_snap (m, s);
      continue;
    }
    s->state = SNAP_OK;
    i++;
  }
  free (si);
  sets_free (m->may);
  m->may = NULL;
  m->creating = 0;
  m->ndeleted = 0;

  /* What was recovered is now durable. */
  for (b = 0; b < NBLK; b++) {
    m->blk[b].durable = m->blk[b].completed = got[b];
    m->blk[b].pending.n = 0;
  }
  ut_pool_close (pool);
}

static unsigned
env_unsigned (const char *name, unsigned def)
{
  const char *s = getenv (name);

  return s && *s ? (unsigned) strtoul (s, NULL, 0) : def;
}

static void
run_crash_test (unsigned nthreads)
{
  unsigned seed = env_unsigned ("SNAPVOL_CRASH_SEED",
                                (unsigned) time (NULL) ^ (unsigned) getpid ());
  unsigned iterations = env_unsigned ("SNAPVOL_CRASH_ITERATIONS",
                                      DEFAULT_ITERATIONS);
  struct model *m = calloc (1, sizeof *m);
  char *dir = ut_mkdtemp ();
  struct sv_pool *pool;
  struct timespec start, now;
  unsigned rs = seed, i;

  print_message ("crash test seed %u (SNAPVOL_CRASH_SEED=%u to repeat),"
                 " %u thread(s), %u iterations, pool %s (left there if the"
                 " test fails)\n", seed, seed, nthreads, iterations, dir);
  assert_non_null (m);
  pool = ut_pool_open (dir, 0, 1);
  assert_int_equal (pool_volume_create (pool, VOL, VOL_SIZE, 0), 0);
  ut_pool_close (pool);

  clock_gettime (CLOCK_MONOTONIC, &start);
  for (i = 0; i < iterations; i++) {
    struct child c = {
      .dir = dir,
      /* Mostly a checkpoint after every flush; sometimes a longer
       * journal to replay. */
      .checkpoint_bytes = i % 4 == 3 ? 256 * KiB : 4096,
      .seed = rand_r (&rs),
      .iteration = i + 1,
      .nthreads = nthreads,
    };
    unsigned delay = 1 + rand_r (&rs) % MAX_KILL_DELAY_MS;

    run_and_kill (m, &c, delay);
    check_recovery (dir, m, c.checkpoint_bytes, c.iteration);
    clock_gettime (CLOCK_MONOTONIC, &now);
    if (now.tv_sec - start.tv_sec >= TIME_BUDGET_S) {
      i++;
      print_message ("time budget spent after %u iterations\n", i);
      break;
    }
  }
  print_message ("%u kills; acknowledged: %lu writes, %lu flushes, %lu"
                 " snapshots created, %lu deleted\n", i, m->nwrites,
                 m->nflushes, m->ncreated, m->ndeletes);

  /* A last clean close and reopen changes nothing. */
  pool = ut_pool_open (dir, 0, 0);
  ut_pool_close (pool);
  check_recovery (dir, m, 0, i + 1);

  model_free (m);
  free (m);
  ut_rmtree (dir);
  free (dir);
}

/* A deterministic crash: a snapshot deletion stopped just before its
 * journal record is written, a write to a cluster the snapshot owns
 * meanwhile, and the process dies.  The deletion never became durable,
 * so the snapshot is back, and it must hold its bytes: the write must
 * not have gone in place into the snapshot's cluster. */

struct deletion_race {
  char *dir;
  char id[SV_UUID_STRLEN + 1];
  struct sv_pool *pool;
};

static int
race_setup (void **state)
{
  struct deletion_race *dr = calloc (1, sizeof *dr);

  assert_non_null (dr);
  dr->dir = ut_mkdtemp ();
  *state = dr;
  return 0;
}

static int
race_teardown (void **state)
{
  struct deletion_race *dr = *state;

  ut_rmtree (dr->dir);
  free (dr->dir);
  free (dr);
  return 0;
}

static void *
delete_snapshot (void *arg)
{
  struct deletion_race *dr = arg;

  pool_snapshot_delete (dr->pool, dr->id, NULL);
  return NULL;
}

static int
child_write_during_deletion (void *arg)
{
  struct deletion_race *dr = arg;
  struct sv_pool_options opts = { .io = &ut_gated_io };
  static uint8_t buf[4096];
  struct sv_view *v;
  pthread_t t;

  dr->pool = pool_open (dr->dir, &opts, 0);
  ut_child_check (dr->pool != NULL, "pool_open");
  v = view_open (dr->pool, "race");
  ut_child_check (v != NULL, "view_open");
  ut_gate_arm (UT_GATE_JOURNAL);
  ut_child_check (pthread_create (&t, NULL, delete_snapshot, dr) == 0,
                  "pthread_create");
  ut_gate_wait_stopped ();
  ut_pattern (buf, sizeof buf, 0, 2);
  ut_child_check (view_pwrite (v, buf, sizeof buf, 0, 0) == 0,
                  "view_pwrite");
  return 0;                     /* dies with the deletion stopped */
}

static void
test_crash_before_deletion_is_durable_keeps_snapshot_intact (void **state)
{
  struct deletion_race *dr = *state;
  struct sv_pool *pool = ut_pool_open (dr->dir, 0, 1);
  char export[SV_NAME_MAX + SV_UUID_STRLEN + 2];
  uint8_t head[4096], old[4096], new[4096];
  struct sv_view *v;

  assert_int_equal (pool_volume_create (pool, "race", MiB, 0), 0);
  v = ut_view_open (pool, "race");
  ut_write_pattern (v, 0, 64 * KiB, 1, NULL);
  view_close (v);
  ut_snapshot (pool, "race", dr->id);
  ut_pool_close (pool);

  ut_run_child (child_write_during_deletion, dr);

  pool = ut_pool_open (dr->dir, 0, 0);
  assert_int_equal (ut_snapshot_count (pool, "race"), 1);
  snprintf (export, sizeof export, "race@%s", dr->id);
  v = ut_view_open (pool, export);
  assert_pattern (v, 0, 64 * KiB, 1);
  view_close (v);
  /* The live volume holds the unflushed write or not, nothing else. */
  v = ut_view_open (pool, "race");
  assert_int_equal (view_pread (v, head, sizeof head, 0), 0);
  ut_pattern (old, sizeof old, 0, 1);
  ut_pattern (new, sizeof new, 0, 2);
  assert_true (memcmp (head, old, sizeof head) == 0 ||
               memcmp (head, new, sizeof head) == 0);
  assert_pattern (v, 4096, 60 * KiB, 1);
  view_close (v);
  ut_pool_close (pool);
}

static void
test_sigkill_one_writer_keeps_flushed_data_and_snapshots (void **state)
{
  run_crash_test (1);
}

static void
test_sigkill_four_writers_keep_flushed_data_and_snapshots (void **state)
{
  run_crash_test (4);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown
      (test_crash_before_deletion_is_durable_keeps_snapshot_intact,
       race_setup, race_teardown),
    cmocka_unit_test
      (test_sigkill_one_writer_keeps_flushed_data_and_snapshots),
    cmocka_unit_test
      (test_sigkill_four_writers_keep_flushed_data_and_snapshots),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}

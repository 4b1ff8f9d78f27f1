/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * check.c: the offline pool checker (snapvolctl check): every checksum
 * and invariant of a pool that is not served, and safe repairs.
 *
 * Design notes
 * ------------
 * The checker reads a pool with the engine's own code, so that it sees
 * exactly what recovery would see, and then checks what recovery takes
 * on trust.  It sees the engine only through inspect.h (a volume read
 * as recovery reads it, into memory) and pool.h:
 *   1. Take the pool's lock (pool_lock): a served pool is refused, and
 *      nothing serves the pool while it is checked or repaired.
 *   2. The pool header, then every entry of volumes/: leftovers of
 *      unfinished creations and deletions, names, and each volume:
 *      a. superblock (inspect_open), checkpoint
 *         (inspect_load_checkpoint), journal (inspect_read_journal,
 *         replaying records as recovery does): the map, snapshots and
 *         snapshot holds (each checked as it is read: a hold of an
 *         unknown snapshot, a tag repeated or outside the rule, a
 *         release of a hold not there) as recovery would rebuild
 *         them, with every torn tail and
 *         leftover file reported instead of fixed;
 *      b. invariants of the result: snapshots sorted with unique
 *         generations and ids, every version valid (inspect_check_version),
 *         in generation order, not beyond the live generation, and no
 *         physical cluster owned twice;
 *      c. space: data in the data file (SEEK_DATA) that no version
 *         maps (leaked), and subclusters that no view reads under the
 *         rule of docs/design.md, "Who reads a subcluster" (reclaimable).
 *      Space is checked only when the map was read completely: with
 *      part of it missing, "unreferenced" would be a guess.
 *   3. With CHECK_REPAIR, and only in volumes whose problems are all
 *      repairable: remove a leftover checkpoint.new, then open and
 *      close the volume with the engine's recovery (inspect_recover:
 *      volume_open, volume_close): it cuts torn tails, removes stale journal files,
 *      punches what no version maps (free clusters and unmapped
 *      subclusters of mapped ones: volume_punch_unmapped, the one
 *      function both use), reclaims what no view reads and writes a
 *      checkpoint, which removes the journal files it replaces.
 *      Leftover directories of the pool are removed.  A volume with any
 *      other problem is not touched: nothing is lost before the user
 *      has dealt with it.
 *   4. Check again.  The report shows what the second check finds, and
 *      as repaired every problem of the first that it no longer finds.
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "cleanup.h"
#include "crc32c.h"
#include "errmsg.h"
#include "inspect.h"
#include "ondisk.h"
#include "policyfile.h"
#include "pool.h"
#include "vector.h"

/* Lines of one kind listed per volume; the rest are counted. */
#define MAX_LISTED 20

#define GEN_INF UINT32_MAX

/* How one volume went, for the repair and for capping lists. */
struct kind_count {
  const char *kind;
  int repairable;
  size_t listed, hidden;
};

struct volscan {
  struct checker *ck;
  struct check_volume *out;
  char *dir;                    /* DIR/volumes/NAME */
  struct inspect *in;           /* the volume as read */
  struct kind_count kinds[32];
  size_t nkinds;
  size_t unrepairable;          /* problems that forbid touching it */
  /* The repair plan beyond what recovery does. */
  int leftover_ckpt;
  int discard_journal;          /* cut a corrupt journal (asked for) */
  uint64_t jfirst, last_seq;    /* the checkpoint's, for that cut */
  /* For the check of clones' origins, across volumes (check_origins):
   * the volume as read, when it could be. */
  int read_ok;
  struct uuid uuid;
  struct inspect_origin origin;
  struct inspect_snap *snaps;
  size_t nsnaps;
};

struct checker {
  struct {
    char *dir;
    char *voldir;               /* DIR/volumes */
    const struct sv_io *io;
  } pool;
  struct check_report *rep;
  struct volscan *scans;        /* parallel to rep->volumes */
  size_t nscans;
  size_t unrepairable;          /* pool-level */
  unsigned flags;               /* check_pool's */
  int failed;                   /* errno of a failure of the checker */
};

/* Lists. */

static int
list_add (struct check_list *l, const char *kind, int repairable,
          const char *message, const char *fix)
{
  struct check_item *it;

  if (l->n == l->cap) {
    struct check_item *nv = vector_grow (l->v, l->n, &l->cap, 1,
                                         sizeof *nv);
    if (nv == NULL)
      return -1;
    l->v = nv;
  }
  it = &l->v[l->n];
  it->kind = strdup (kind);
  it->message = strdup (message);
  it->fix = fix ? strdup (fix) : NULL;
  it->repairable = repairable;
  if (it->kind == NULL || it->message == NULL || (fix && it->fix == NULL)) {
    free (it->kind);
    free (it->message);
    free (it->fix);
    return -1;
  }
  l->n++;
  return 0;
}

static void
list_free (struct check_list *l)
{
  size_t i;

  for (i = 0; i < l->n; i++) {
    free (l->v[i].kind);
    free (l->v[i].message);
    free (l->v[i].fix);
  }
  free (l->v);
  memset (l, 0, sizeof *l);
}

static int
list_has (const struct check_list *l, const struct check_item *it)
{
  size_t i;

  for (i = 0; i < l->n; i++)
    if (strcmp (l->v[i].kind, it->kind) == 0 &&
        strcmp (l->v[i].message, it->message) == 0)
      return 1;
  return 0;
}

void
check_report_free (struct check_report *r)
{
  size_t i;

  if (r == NULL)
    return;
  for (i = 0; i < r->nvolumes; i++) {
    free (r->volumes[i].name);
    list_free (&r->volumes[i].problems);
    list_free (&r->volumes[i].repaired);
  }
  free (r->volumes);
  list_free (&r->problems);
  list_free (&r->repaired);
  free (r->pool);
  free (r);
}

/* Findings. */

/* Remove every "volume NAME: " from MSG: the engine's messages name
 * the volume, and ours put the name first, once. */
static void
strip_volume_name (char *msg, const char *name)
{
  char prefix[SV_NAME_MAX + 16];
  size_t pl;
  char *p;

  snprintf (prefix, sizeof prefix, "volume %s: ", name);
  pl = strlen (prefix);
  while ((p = strstr (msg, prefix)) != NULL)
    memmove (p, p + pl, strlen (p + pl) + 1);
}

static void pool_problem (struct checker *ck, const char *kind,
                          int repairable, const char *fix,
                          const char *fmt, ...)
  __attribute__((format (printf, 5, 6)));

static void
pool_problem (struct checker *ck, const char *kind, int repairable,
              const char *fix, const char *fmt, ...)
{
  va_list ap;
  char *msg;
  int r;

  va_start (ap, fmt);
  r = vasprintf (&msg, fmt, ap);
  va_end (ap);
  if (r == -1 ||
      list_add (&ck->rep->problems, kind, repairable, msg, fix) == -1)
    ck->failed = ENOMEM;
  if (r != -1)
    free (msg);
  /* A misnamed directory says nothing about the other volumes; a bad
   * pool header or volumes/ directory puts the whole pool in doubt. */
  if (!repairable && strcmp (kind, "volume-name") != 0)
    ck->unrepairable++;
}

static struct kind_count *
kind_count (struct volscan *vs, const char *kind, int repairable)
{
  size_t i;

  for (i = 0; i < vs->nkinds; i++)
    if (strcmp (vs->kinds[i].kind, kind) == 0)
      return &vs->kinds[i];
  if (vs->nkinds == sizeof vs->kinds / sizeof vs->kinds[0])
    return NULL;                /* more kinds than exist: list them all */
  vs->kinds[vs->nkinds] = (struct kind_count) { kind, repairable, 0, 0 };
  return &vs->kinds[vs->nkinds++];
}

static void vproblem (struct volscan *vs, const char *kind, int repairable,
                      const char *fix, const char *fmt, ...)
  __attribute__((format (printf, 5, 6)));

/* Record a problem of the volume: "volume NAME: " + FMT.  FIX (or
 * NULL) says what the repair did, once done. */
static void
vproblem (struct volscan *vs, const char *kind, int repairable,
          const char *fix, const char *fmt, ...)
{
  struct kind_count *kc = kind_count (vs, kind, repairable);
  char *body = NULL, *msg = NULL, *fixmsg = NULL;
  va_list ap;
  int r;

  if (!repairable)
    vs->unrepairable++;
  if (kc != NULL && kc->listed >= MAX_LISTED) {
    kc->hidden++;
    return;
  }
  if (kc != NULL)
    kc->listed++;
  va_start (ap, fmt);
  r = vasprintf (&body, fmt, ap);
  va_end (ap);
  if (r == -1) {
    vs->ck->failed = ENOMEM;
    return;
  }
  strip_volume_name (body, vs->out->name);
  if (asprintf (&msg, "volume %s: %s", vs->out->name, body) == -1 ||
      (fix && asprintf (&fixmsg, "volume %s: %s", vs->out->name, fix) == -1) ||
      list_add (&vs->out->problems, kind, repairable, msg,
                fix ? fixmsg : NULL) == -1)
    vs->ck->failed = ENOMEM;
  free (body);
  free (msg);
  free (fixmsg);
}

/* Count what was not listed, one line per kind. */
static void
count_hidden (struct volscan *vs)
{
  size_t i;

  for (i = 0; i < vs->nkinds; i++) {
    struct kind_count *kc = &vs->kinds[i];
    char fix[256];

    if (kc->hidden == 0)
      continue;
    snprintf (fix, sizeof fix, "repaired %zu more problems of kind %s",
              kc->hidden, kc->kind);
    kc->listed = 0;             /* this line is listed whatever the count */
    vproblem (vs, kc->kind, kc->repairable, kc->repairable ? fix : NULL,
              "%zu more problems of kind %s, not listed", kc->hidden,
              kc->kind);
    if (!kc->repairable)
      vs->unrepairable--;       /* already counted one by one */
  }
}

/* What the user can do about a metadata block the engine refuses. */
static const char *
advice (int err)
{
  switch (err) {
  case EPROTONOSUPPORT:
    return "not repairable: use a snapvol that supports this format";
  case EILSEQ:
    return "not repairable: restore the volume's directory from a backup,"
      " or move it out of volumes/ to serve the other volumes";
  default:
    return "not repairable: check the file's permissions and the disk";
  }
}

/* Journal findings arrive through journal_check. */
static void
journal_found (void *opaque, const char *kind, int repairable,
               const char *message, const char *fix)
{
  struct volscan *vs = opaque;

  if (strcmp (kind, "journal-corrupt") == 0 && repairable)
    vs->discard_journal = 1;
  vproblem (vs, kind, repairable, fix, "%s", message);
}

/* The pool header. */

static void
check_pool_header (struct checker *ck)
{
  const struct sv_io *io = ck->pool.io;
  uint8_t blk[SV_BLOCK], uuid[16];
  char path[4096];
  uint32_t cs;
  ssize_t r;
  int h;

  snprintf (path, sizeof path, "%s/snapvol.pool", ck->pool.dir);
  h = io->ops->open (io->opaque, path, O_RDONLY, 0);
  if (h == -1) {
    pool_problem (ck, "pool-header", 0, NULL, "open: %s: %s", path,
                  strerror (errno));
    return;
  }
  r = io->ops->pread (io->opaque, h, blk, SV_BLOCK, 0);
  io->ops->close (io->opaque, h);
  /* The engine's own validator: the checker and pool_open cannot
   * disagree on what a valid header is. */
  if (ondisk_pool_decode (blk, r, path, uuid, &cs) == -1)
    pool_problem (ck, "pool-header", 0, NULL, "%s; not repairable: %s",
                  sv_errmsg (), errno == EPROTONOSUPPORT
                  ? "use a snapvol that reads this format"
                  : "restore it from a backup");
}

/* The policy file, read by the engine's own reader (policyfile_load):
 * a pool whose policy file it refuses is not served. */
static void
check_policy_file (struct checker *ck)
{
  struct policy_table t = { NULL, 0 };

  if (policyfile_load (ck->pool.io, ck->pool.dir, &t) == -1) {
    pool_problem (ck, "policy-file", 0, NULL, "%s; not repairable: %s",
                  sv_errmsg (), errno == EPROTONOSUPPORT
                  ? "use a snapvol that reads this format"
                  : "restore it, or remove it to serve the pool with no "
                  "retention or space policy");
    return;
  }
  policy_table_free (&t);
}

/* Snapshots and versions (step 2b). */

static int
cmp_uuid (const void *a, const void *b)
{
  return memcmp (a, b, sizeof (struct uuid));
}

/* Report ids that two snapshots share.  SET: the set ids (a volume has
 * at most one snapshot of a set). */
static void
check_unique_ids (struct volscan *vs, int set)
{
  struct inspect_info info;
  CLEANUP_FREE struct uuid *ids = NULL;
  size_t i;

  inspect_info (vs->in, &info);
  ids = malloc ((info.nsnaps + 1) * sizeof *ids);
  if (ids == NULL) {
    vs->ck->failed = ENOMEM;
    return;
  }
  for (i = 0; i < info.nsnaps; i++) {
    struct inspect_snap sn;
    inspect_snap (vs->in, i, &sn);
    ids[i] = set ? sn.set : sn.id;
  }
  qsort (ids, info.nsnaps, sizeof *ids, cmp_uuid);
  for (i = 1; i < info.nsnaps; i++)
    if (uuid_equal (&ids[i - 1], &ids[i]) &&
        (i < 2 || !uuid_equal (&ids[i - 2], &ids[i]))) {
      char s[UUID_STRLEN + 1];
      uuid_format (&ids[i], s);
      vproblem (vs, "snapshot-duplicate", 0, NULL, "two snapshots have the"
                " %s %s; not repairable: export both and delete one",
                set ? "set id" : "id", s);
    }
}

static void
check_snapshots (struct volscan *vs)
{
  struct inspect_info info;
  struct inspect_snap prev = { .gen = 0 }, cur;
  size_t i;

  inspect_info (vs->in, &info);
  for (i = 0; i < info.nsnaps; i++, prev = cur) {
    const struct inspect_snap *s = &cur;
    char id[UUID_STRLEN + 1];

    inspect_snap (vs->in, i, &cur);
    uuid_format (&s->id, id);
    if (i > 0 && prev.gen >= s->gen)
      vproblem (vs, "snapshot-order", 0, NULL, "snapshot %s (generation %"
                PRIu32 ") is listed after generation %" PRIu32 "; not"
                " repairable: restore the volume's directory from a backup",
                id, s->gen, prev.gen);
    if (s->gen >= info.live_gen)
      vproblem (vs, "snapshot-future", 0, NULL, "snapshot %s pins generation"
                " %" PRIu32 ", not older than the live generation %" PRIu32
                "; not repairable: restore the volume's directory from a"
                " backup", id, s->gen, info.live_gen);
  }
  check_unique_ids (vs, 0);
  check_unique_ids (vs, 1);
}

/* Who owns a physical cluster. */
struct owner {
  uint32_t phys, gen;
  uint64_t vci;
  uint64_t alloc;
};

static int
cmp_owner (const void *a, const void *b)
{
  const struct owner *x = a, *y = b;

  if (x->phys != y->phys)
    return x->phys < y->phys ? -1 : 1;
  if (x->vci != y->vci)
    return x->vci < y->vci ? -1 : 1;
  return x->gen < y->gen ? -1 : x->gen > y->gen;
}

/* Check every version; return the owners of physical clusters sorted by
 * cluster (NULL on ENOMEM, reported). */
static struct owner *
check_versions (struct volscan *vs, size_t *nown)
{
  struct inspect_info info;
  struct owner *own = NULL;
  size_t n = 0, cap = 0, i;
  uint64_t vci = 0;
  union extvec_buf evbuf;
  const struct extvec *ev;

  inspect_info (vs->in, &info);
  while ((ev = inspect_versions (vs->in, &vci, &evbuf)) != NULL) {
    uint32_t k;

    for (k = 0; k < ev->n; k++) {
      const struct ext *x = &ev->v[k];

      if (inspect_check_version (vs->in, vci, x) == -1)
        vproblem (vs, "version-invalid", 0, NULL, "%s (generation %" PRIu32
                  "); not repairable: restore the volume's directory from a"
                  " backup", sv_errmsg (), x->gen);
      if (k > 0 && ev->v[k - 1].gen >= x->gen)
        vproblem (vs, "version-order", 0, NULL, "cluster %" PRIu64 " has"
                  " generation %" PRIu32 " after generation %" PRIu32 "; not"
                  " repairable: restore the volume's directory from a backup",
                  vci, x->gen, ev->v[k - 1].gen);
      if (x->gen > info.live_gen)
        vproblem (vs, "version-future", 0, NULL, "cluster %" PRIu64 " has a"
                  " version at generation %" PRIu32 ", beyond the live"
                  " generation %" PRIu32 "; not repairable: restore the"
                  " volume's directory from a backup", vci, x->gen,
                  info.live_gen);
      if (x->phys == PHYS_NONE)
        continue;
      if (n == cap) {
        struct owner *no = vector_grow (own, n, &cap, 1, sizeof *no);
        if (no == NULL) {
          free (own);
          vs->ck->failed = ENOMEM;
          return NULL;
        }
        own = no;
      }
      own[n++] = (struct owner) {
        .phys = x->phys, .gen = x->gen, .vci = vci, .alloc = x->alloc,
      };
    }
    vci++;
  }
  if (own == NULL && (own = malloc (sizeof *own)) == NULL) {
    vs->ck->failed = ENOMEM;
    return NULL;
  }
  qsort (own, n, sizeof *own, cmp_owner);
  for (i = 1; i < n; i++)
    if (own[i].phys == own[i - 1].phys) {
      /* Name the first owner and each other one. */
      size_t first = i - 1;
      while (first > 0 && own[first - 1].phys == own[i].phys)
        first--;
      vproblem (vs, "cluster-shared", 0, NULL, "physical cluster %" PRIu32
                " is referenced by cluster %" PRIu64 " generation %" PRIu32
                " and cluster %" PRIu64 " generation %" PRIu32 "; not"
                " repairable: the pool does not open while it is; restore"
                " the volume's directory from a backup", own[i].phys,
                own[first].vci, own[first].gen, own[i].vci, own[i].gen);
    }
  *nown = n;
  return own;
}

/* Space: leaked data (step 2c). */

static const struct owner *
find_owner (const struct owner *own, size_t n, uint64_t p)
{
  size_t lo = 0, hi = n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (own[mid].phys < p)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < n && own[lo].phys == p ? &own[lo] : NULL;
}

struct leak_state {
  struct volscan *vs;
  const char *path;
  const struct owner *own;
  size_t nown;
  /* The run of unreferenced clusters being gathered. */
  int in_run;
  uint64_t run_first, run_last, run_bytes;
};

static void
flush_run (struct leak_state *ls)
{
  char fix[512];

  if (!ls->in_run)
    return;
  ls->in_run = 0;
  if (ls->run_first == ls->run_last) {
    snprintf (fix, sizeof fix, "%s: punched physical cluster %" PRIu64
              " (leaked)", ls->path, ls->run_first);
    vproblem (ls->vs, "leaked-cluster", 1, fix, "%s: physical cluster %"
              PRIu64 " holds %" PRIu64 " bytes of data that no version"
              " references (leaked)", ls->path, ls->run_first,
              ls->run_bytes);
  }
  else {
    snprintf (fix, sizeof fix, "%s: punched physical clusters %" PRIu64
              "-%" PRIu64 " (leaked)", ls->path, ls->run_first,
              ls->run_last);
    vproblem (ls->vs, "leaked-cluster", 1, fix, "%s: physical clusters %"
              PRIu64 "-%" PRIu64 " hold %" PRIu64 " bytes of data that no"
              " version references (leaked)", ls->path, ls->run_first,
              ls->run_last, ls->run_bytes);
  }
}

/* Physical cluster P holds data in subclusters MASK (BYTES in all). */
static void
cluster_has_data (struct leak_state *ls, uint64_t p, uint64_t mask,
                  uint64_t bytes)
{
  const struct owner *o = p < PHYS_NONE
    ? find_owner (ls->own, ls->nown, p) : NULL;
  struct inspect_info info;
  uint64_t extra;
  char fix[512];
  int n;

  if (o == NULL) {
    if (ls->in_run && p == ls->run_last + 1) {
      ls->run_last = p;
      ls->run_bytes += bytes;
      return;
    }
    flush_run (ls);
    ls->in_run = 1;
    ls->run_first = ls->run_last = p;
    ls->run_bytes = bytes;
    return;
  }
  extra = mask & ~o->alloc;
  if (extra == 0)
    return;
  inspect_info (ls->vs->in, &info);
  n = __builtin_popcountll (extra);
  snprintf (fix, sizeof fix, "%s: punched %d subcluster%s of physical"
            " cluster %" PRIu32 " that no version maps", ls->path, n,
            n == 1 ? "" : "s", o->phys);
  vproblem (ls->vs, "leaked-subclusters", 1, fix, "%s: physical cluster %"
            PRIu32 " (cluster %" PRIu64 " generation %" PRIu32 ") holds data"
            " in %d subcluster%s (%" PRIu64 " bytes) that no version maps"
            " (leaked)", ls->path, o->phys, o->vci, o->gen, n,
            n == 1 ? "" : "s", (uint64_t) n * info.subcluster_size);
}

/* Does [OFF, OFF+LEN) of FD read as zeroes?  A read error counts as
 * data (reported as such, never repaired away silently). */
static int
range_is_zero (int fd, uint64_t off, uint64_t len)
{
  static const char zero[4096];
  char buf[4096];

  while (len > 0) {
    size_t n = len < sizeof buf ? (size_t) len : sizeof buf;
    ssize_t r = pread (fd, buf, n, (off_t) off);

    if (r <= 0)
      return r == 0;
    if (memcmp (buf, zero, (size_t) r) != 0)
      return 0;
    off += (uint64_t) r;
    len -= (uint64_t) r;
  }
  return 1;
}

/* Walk the allocated extents of the data file.  The I/O interface has
 * no extent query, and the checker always works on real files: plain
 * lseek (SEEK_DATA, SEEK_HOLE). */
static void
check_data (struct volscan *vs, const struct owner *own, size_t nown)
{
  struct inspect_info info;
  uint64_t cs, ss;
  uint64_t cur = UINT64_MAX, cur_mask = 0, cur_bytes = 0;
  char path[4096];
  struct leak_state ls = { vs, path, own, nown, 0, 0, 0, 0 };
  off_t off = 0;
  int fd;

  inspect_info (vs->in, &info);
  cs = info.cluster_size;
  ss = info.subcluster_size;
  snprintf (path, sizeof path, "%s/data", vs->dir);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd == -1) {
    vproblem (vs, "data-file", 0, NULL, "open: %s: %s; not repairable: the"
              " volume's data is not there; restore the volume's directory"
              " from a backup", path, strerror (errno));
    return;
  }
  for (;;) {
    off_t data = lseek (fd, off, SEEK_DATA), hole;
    uint64_t p;

    if (data == -1) {
      if (errno != ENXIO)
        vproblem (vs, "data-file", 0, NULL, "lseek: %s: %s; the data file's"
                  " allocation could not be read", path, strerror (errno));
      break;
    }
    hole = lseek (fd, data, SEEK_HOLE);
    if (hole == -1) {
      vproblem (vs, "data-file", 0, NULL, "lseek: %s: %s; the data file's"
                " allocation could not be read", path, strerror (errno));
      break;
    }
    for (p = data / cs; p * cs < (uint64_t) hole; p++) {
      uint64_t lo = (uint64_t) data > p * cs ? (uint64_t) data : p * cs;
      uint64_t hi = (uint64_t) hole < (p + 1) * cs ? (uint64_t) hole
        : (p + 1) * cs;
      const struct owner *o = p < PHYS_NONE ? find_owner (own, nown, p)
        : NULL;
      unsigned s;

      if (p != cur) {
        if (cur != UINT64_MAX && cur_mask != 0)
          cluster_has_data (&ls, cur, cur_mask, cur_bytes);
        cur = p;
        cur_mask = cur_bytes = 0;
      }
      for (s = (lo - p * cs) / ss; s <= (hi - 1 - p * cs) / ss; s++) {
        uint64_t a = p * cs + s * ss, b = a + ss;

        a = a > lo ? a : lo;
        b = b < hi ? b : hi;
        /* Space that no version maps and that reads as zeroes is
         * reserved (sv_pool_options.prealloc), which the filesystem
         * reports as data once its pages are cached: no data leaked. */
        if (!(o && ((o->alloc >> s) & 1)) && range_is_zero (fd, a, b - a))
          continue;
        cur_mask |= 1ull << s;
        cur_bytes += b - a;
      }
    }
    off = hole;
  }
  if (cur != UINT64_MAX && cur_mask != 0)
    cluster_has_data (&ls, cur, cur_mask, cur_bytes);
  flush_run (&ls);
  /* Commit rule 1: data is durable before the record mapping it, so the
   * file always reaches every mapped cluster (the open refuses one that
   * it does not). */
  if (nown > 0 && (off = lseek (fd, 0, SEEK_END)) != -1 &&
      (uint64_t) own[nown - 1].phys * cs >= (uint64_t) off)
    vproblem (vs, "cluster-past-end", 0, NULL, "cluster %" PRIu64
              " generation %" PRIu32 " maps physical cluster %" PRIu32
              ", past the end of %s (%" PRIu64 " bytes); not repairable:"
              " restore the volume's directory from a backup",
              own[nown - 1].vci, own[nown - 1].gen, own[nown - 1].phys,
              path, (uint64_t) off);
  close (fd);
}

/* Space: what no view reads (step 2c).  The rule of docs/design.md
 * ("Who reads a subcluster", and "Revert" for a reverted volume), as
 * the engine states it: genpath_readers. */

struct unread_marks {
  struct inspect *in;
  uint64_t *read;               /* per version */
};

static void
mark_read (void *opaque, int i, unsigned s, uint32_t lo, uint32_t hi,
           int live)
{
  struct unread_marks *um = opaque;

  if (live || inspect_snaps_between (um->in, lo, hi) > 0)
    um->read[i] |= 1ull << s;
}

static void
check_reclaim (struct volscan *vs)
{
  struct inspect_info info;
  uint64_t vci = 0;
  union extvec_buf evbuf;
  const struct extvec *ev;
  const struct revert *rv;
  struct gensegs sg;
  size_t nrv;

  inspect_info (vs->in, &info);
  inspect_reverts (vs->in, &rv, &nrv);
  if (gensegs_build (&sg, rv, nrv) == -1) {
    vproblem (vs, "out-of-memory", 0, NULL, "no memory to check what no"
              " view reads");
    return;
  }
  while ((ev = inspect_versions (vs->in, &vci, &evbuf)) != NULL) {
    struct unread_marks um = { vs->in, calloc (ev->n, sizeof (uint64_t)) };
    uint32_t i;
    int n;

    if (um.read == NULL) {
      vproblem (vs, "out-of-memory", 0, NULL, "no memory to check what no"
                " view reads");
      break;
    }
    genpath_readers (ev, &sg, info.nsub, mark_read, &um);
    for (i = 0; i < ev->n; i++) {
      const struct ext *x = &ev->v[i];
      uint64_t unread = (x->alloc | x->zero) & ~um.read[i];
      char fix[256];

      if (unread == 0)
        continue;
      n = __builtin_popcountll (unread);
      snprintf (fix, sizeof fix, "cluster %" PRIu64 " generation %" PRIu32
                ": reclaimed %d subcluster%s that no view reads", vci,
                x->gen, n, n == 1 ? "" : "s");
      vproblem (vs, "unreadable-subclusters", 1, fix, "cluster %" PRIu64
                " generation %" PRIu32 " defines %d subcluster%s (%" PRIu64
                " bytes of data) that no view reads (reclaimable)", vci,
                x->gen, n, n == 1 ? "" : "s",
                (uint64_t) __builtin_popcountll (unread & x->alloc) *
                info.subcluster_size);
    }
    free (um.read);
    vci++;
  }
  gensegs_free (&sg);
}

static void
check_leftover_checkpoint (struct volscan *vs)
{
  char path[4096], fix[4200];
  struct stat st;

  snprintf (path, sizeof path, "%s/checkpoint.new", vs->dir);
  if (stat (path, &st) == -1)
    return;
  vs->leftover_ckpt = 1;
  snprintf (fix, sizeof fix, "%s: removed", path);
  vproblem (vs, "leftover-checkpoint", 1, fix, "%s: left over from a"
            " checkpoint that was interrupted (recovery ignores it)", path);
}

/* One volume (step 2). */
/* Keep what check_origins needs of the volume read. */
static void
keep_identity (struct volscan *vs)
{
  struct inspect_info info;
  size_t i;

  inspect_info (vs->in, &info);
  inspect_origin (vs->in, &vs->origin);
  vs->uuid = info.uuid;
  vs->snaps = calloc (info.nsnaps ? info.nsnaps : 1, sizeof *vs->snaps);
  if (vs->snaps == NULL)
    return;
  for (i = 0; i < info.nsnaps; i++)
    inspect_snap (vs->in, i, &vs->snaps[i]);
  vs->nsnaps = info.nsnaps;
  vs->read_ok = 1;
}

/* Why the origin O of a clone is not in the pool, or NULL if it is. */
static const char *
origin_problem (struct checker *ck, const struct inspect_origin *o)
{
  size_t i, k;

  for (i = 0; i < ck->nscans; i++) {
    struct volscan *w = &ck->scans[i];

    if (w->out->name == NULL || strcmp (w->out->name, o->name) != 0)
      continue;
    if (!w->read_ok)
      return "that volume could not be read";
    if (!uuid_equal (&w->uuid, &o->volume))
      return "that volume is another one of the same name (its UUID"
        " differs)";
    for (k = 0; k < w->nsnaps; k++)
      if (uuid_equal (&w->snaps[k].id, &o->snap))
        return w->snaps[k].gen == o->gen ? NULL
          : "that snapshot pins another generation";
    return "that volume has no such snapshot";
  }
  return "there is no volume of that name";
}

/* Every clone's origin is in the pool: a missing one is reported, and
 * not repaired (the pool opens, but does not serve that clone). */
static void
check_origins (struct checker *ck)
{
  size_t i;

  for (i = 0; i < ck->nscans; i++) {
    struct volscan *vs = &ck->scans[i];
    const struct inspect_origin *o = &vs->origin;
    const char *why;
    char sid[UUID_STRLEN + 1];

    if (!vs->read_ok || !(o->flags & SB_CLONE) ||
        (why = origin_problem (ck, o)) == NULL)
      continue;
    uuid_format (&o->snap, sid);
    vproblem (vs, "clone-origin-missing", 0, NULL, "a clone of %s@%s,"
              " which is missing: %s; not repairable: the clone is not"
              " served; restore the origin volume, or delete the clone",
              o->name, sid, why);
  }
}

static void
check_volume (struct volscan *vs)
{
  const char *name = vs->out->name;
  struct owner *own = NULL;
  uint64_t last_seq = 0, jfirst = 0;
  size_t nown = 0;
  int ckpt_ok, journal_ok;

  vs->in = inspect_open (vs->ck->pool.io, vs->dir, name);
  if (vs->in == NULL) {
    vproblem (vs, "superblock", 0, NULL, "%s; %s", sv_errmsg (),
              advice (errno));
    count_hidden (vs);
    return;
  }
  ckpt_ok = inspect_load_checkpoint (vs->in, &last_seq, &jfirst) == 0;
  if (!ckpt_ok)
    vproblem (vs, "checkpoint", 0, NULL, "%s; %s", sv_errmsg (),
              advice (errno));
  vs->jfirst = jfirst;
  vs->last_seq = last_seq;
  journal_ok = inspect_read_journal (vs->in, jfirst, last_seq, ckpt_ok,
                                     journal_found, vs,
                                     ckpt_ok && (vs->ck->flags &
                                                 CHECK_DISCARD_AFTER_CORRUPTION))
    == 0;
  check_leftover_checkpoint (vs);
  if (ckpt_ok) {
    check_snapshots (vs);
    own = check_versions (vs, &nown);
  }
  if (ckpt_ok && journal_ok)
    keep_identity (vs);
  if (ckpt_ok && journal_ok && own != NULL) {
    check_data (vs, own, nown);
    check_reclaim (vs);
  }
  else
    vproblem (vs, "not-checked", 0, NULL, "leaked and reclaimable space"
              " not checked, since the map could not be read completely");
  free (own);
  count_hidden (vs);
  inspect_close (vs->in);
  vs->in = NULL;
}

/* The pool (steps 1 and 2). */

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static void
scans_free (struct checker *ck)
{
  size_t i;

  for (i = 0; i < ck->nscans; i++) {
    free (ck->scans[i].dir);
    free (ck->scans[i].snaps);
  }
  free (ck->scans);
  ck->scans = NULL;
  ck->nscans = 0;
}

static void
check_entry (struct checker *ck, const char *name)
{
  struct check_report *rep = ck->rep;
  struct check_volume *out;
  struct volscan *vs;
  char path[4096], fix[4200];

  snprintf (path, sizeof path, "%s/%s", ck->pool.voldir, name);
  if (name[0] == '.') {
    /* What pool_open removes; it ignores every other hidden name. */
    if (strncmp (name, ".tmp-", 5) == 0 ||
        strncmp (name, ".deleted-", 9) == 0) {
      snprintf (fix, sizeof fix, "%s: removed", path);
      pool_problem (ck, "leftover-directory", 1, fix, "%s: left over from %s"
                    " that was interrupted (it holds nothing of the pool's"
                    " volumes)", path, name[1] == 't'
                    ? "a volume creation" : "a volume deletion");
    }
    return;
  }
  if (sv_check_name (name) == -1) {
    pool_problem (ck, "volume-name", 0, NULL, "%s: %s; the pool does not"
                  " open with it: rename it or move it out of %s", path,
                  sv_errmsg (), ck->pool.voldir);
    return;
  }

  out = &rep->volumes[rep->nvolumes];
  vs = &ck->scans[rep->nvolumes];
  memset (out, 0, sizeof *out);
  memset (vs, 0, sizeof *vs);
  rep->nvolumes++;
  ck->nscans++;
  vs->ck = ck;
  vs->out = out;
  if ((out->name = strdup (name)) == NULL ||
      (vs->dir = strdup (path)) == NULL) {
    ck->failed = ENOMEM;
    return;
  }
  check_volume (vs);
}

static void
scan (struct checker *ck)
{
  const struct sv_io *io = ck->pool.io;
  char **names = NULL;
  size_t n = 0, i;

  ck->unrepairable = 0;
  ck->rep = calloc (1, sizeof *ck->rep);
  if (ck->rep == NULL || (ck->rep->pool = strdup (ck->pool.dir)) == NULL) {
    ck->failed = ENOMEM;
    return;
  }
  check_pool_header (ck);
  check_policy_file (ck);
  if (io->ops->listdir (io->opaque, ck->pool.voldir, &names, &n) == -1) {
    /* pool_open creates a missing volumes/; anything else is a problem. */
    if (errno != ENOENT)
      pool_problem (ck, "volumes-directory", 0, NULL, "opendir: %s: %s;"
                    " not repairable: check its permissions and the disk",
                    ck->pool.voldir, strerror (errno));
    return;
  }
  if (n > 0)                    /* an empty listing may be NULL */
    qsort (names, n, sizeof *names, cmp_str);
  ck->rep->volumes = calloc (n ? n : 1, sizeof *ck->rep->volumes);
  ck->scans = calloc (n ? n : 1, sizeof *ck->scans);
  if (ck->rep->volumes == NULL || ck->scans == NULL)
    ck->failed = ENOMEM;
  for (i = 0; i < n; i++) {
    if (!ck->failed)
      check_entry (ck, names[i]);
    free (names[i]);
  }
  free (names);
  if (!ck->failed)
    check_origins (ck);
}

/* Repair (step 3). */

static void
note (struct check_list *l, struct checker *ck, const char *kind,
      const char *fmt, ...)
  __attribute__((format (printf, 4, 5)));

/* Append a problem the repair itself ran into (never repairable). */
static void
note (struct check_list *l, struct checker *ck, const char *kind,
      const char *fmt, ...)
{
  va_list ap;
  char *msg;
  int r;

  va_start (ap, fmt);
  r = vasprintf (&msg, fmt, ap);
  va_end (ap);
  if (r == -1 || list_add (l, kind, 0, msg, NULL) == -1)
    ck->failed = ENOMEM;
  if (r != -1)
    free (msg);
}

/* Remove a leftover directory of the pool (it has no subdirectories). */
static int
remove_tree (struct checker *ck, const char *path)
{
  const struct sv_io *io = ck->pool.io;
  char **names = NULL, file[4096 + 256];
  size_t n = 0, i;
  int r = 0;

  if (io->ops->listdir (io->opaque, path, &names, &n) == -1)
    return -1;
  for (i = 0; i < n; i++) {
    snprintf (file, sizeof file, "%s/%s", path, names[i]);
    if (io->ops->unlink (io->opaque, file) == -1)
      r = -1;
    free (names[i]);
  }
  free (names);
  if (r == -1 || io->ops->rmdir (io->opaque, path) == -1)
    return -1;
  return io->ops->syncdir (io->opaque, ck->pool.voldir);
}

/* Remove what check_entry reports as leftover directories. */
static void
remove_leftovers (struct checker *ck, struct check_list *pool_notes)
{
  const struct sv_io *io = ck->pool.io;
  char **names = NULL, path[4096];
  size_t n = 0, i;

  if (io->ops->listdir (io->opaque, ck->pool.voldir, &names, &n) == -1)
    return;                     /* reported by the check */
  for (i = 0; i < n; i++) {
    snprintf (path, sizeof path, "%s/%s", ck->pool.voldir, names[i]);
    if ((strncmp (names[i], ".tmp-", 5) == 0 ||
         strncmp (names[i], ".deleted-", 9) == 0) &&
        remove_tree (ck, path) == -1)
      note (pool_notes, ck, "repair-failed", "%s: not removed: %s", path,
            strerror (errno));
    free (names[i]);
  }
  free (names);
}

/* A finding of journal_discard_corrupt's scan: the check before it
 * found the same, so only a failure (not repairable) is news. */
static void
discard_found (void *opaque, const char *kind, int repairable,
               const char *message, const char *fix)
{
  struct check_list *notes = opaque;

  if (!repairable)
    list_add (notes, "repair-failed", 0, message, NULL);
}

/* Cut the corrupt journal of VS, as the user asked. */
static int
discard_journal (struct checker *ck, struct volscan *vs,
                 struct check_list *notes)
{
  struct inspect *in = inspect_open (ck->pool.io, vs->dir, vs->out->name);
  int r;

  if (in == NULL) {
    note (notes, ck, "repair-failed", "volume %s: repair failed: %s",
          vs->out->name, sv_errmsg ());
    return -1;
  }
  r = inspect_discard_corrupt (in, vs->jfirst, vs->last_seq, discard_found,
                               notes);
  inspect_close (in);
  if (r == -1) {
    note (notes, ck, "repair-failed", "volume %s: repair failed: the"
          " corrupt journal was not cut", vs->out->name);
    return -1;
  }
  return 0;
}

/* Repair one volume whose problems are all repairable.  Problems the
 * repair runs into go to NOTES. */
static void
repair_volume (struct checker *ck, struct volscan *vs,
               struct check_list *notes)
{
  const struct sv_io *io = ck->pool.io;
  char path[4096];

  if (vs->leftover_ckpt) {
    snprintf (path, sizeof path, "%s/checkpoint.new", vs->dir);
    if (io->ops->unlink (io->opaque, path) == -1 ||
        io->ops->syncdir (io->opaque, vs->dir) == -1)
      note (notes, ck, "repair-failed", "volume %s: repair failed: unlink"
            " %s: %s", vs->out->name, path, strerror (errno));
  }
  if (vs->discard_journal &&
      discard_journal (ck, vs, notes) == -1)
    return;
  /* The engine's recovery does the rest, as when a server opens it:
   * what it repairs is durable once volume_open returns.  The
   * checkpoint of the close only shortens the next recovery, and on a
   * full filesystem it cannot be had: that is no failed repair. */
  if (inspect_recover (io, vs->dir, vs->out->name) == -1)
    note (notes, ck, "repair-failed", "volume %s: repair failed: %s",
          vs->out->name, sv_errmsg ());
}

static void
repair (struct checker *ck, struct check_list *pool_notes,
        struct check_list *notes)
{
  struct check_report *rep = ck->rep;
  size_t i;

  if (ck->unrepairable > 0) {
    note (pool_notes, ck, "repair-skipped", "pool %s: nothing was repaired:"
          " the problems of the pool itself come first", rep->pool);
    return;
  }
  remove_leftovers (ck, pool_notes);
  for (i = 0; i < rep->nvolumes; i++) {
    struct volscan *vs = &ck->scans[i];

    if (vs->out->problems.n == 0)
      continue;
    if (vs->unrepairable > 0) {
      size_t k, repairable = 0;
      for (k = 0; k < vs->out->problems.n; k++)
        repairable += vs->out->problems.v[k].repairable;
      if (repairable > 0)
        note (&notes[i], ck, "repair-skipped", "volume %s: nothing was"
              " repaired in this volume because of its problems that are"
              " not repairable; once they are dealt with, run check"
              " --repair again", vs->out->name);
      continue;
    }
    repair_volume (ck, vs, &notes[i]);
  }
}

/* Build the final report from the first check (BEFORE), the second
 * (AFTER, returned) and the repair's notes. */
static void
merge (struct checker *ck, struct check_report *before,
       struct check_report *after, struct check_list *pool_notes,
       struct check_list *notes)
{
  size_t i, j, k;

  for (k = 0; k < before->problems.n; k++) {
    const struct check_item *it = &before->problems.v[k];
    if (it->repairable && !list_has (&after->problems, it) &&
        list_add (&after->repaired, it->kind, 0,
                  it->fix ? it->fix : it->message, NULL) == -1)
      ck->failed = ENOMEM;
  }
  for (k = 0; k < pool_notes->n; k++)
    if (list_add (&after->problems, pool_notes->v[k].kind, 0,
                  pool_notes->v[k].message, NULL) == -1)
      ck->failed = ENOMEM;
  for (i = 0; i < before->nvolumes; i++) {
    const struct check_volume *b = &before->volumes[i];
    struct check_volume *a = NULL;

    for (j = 0; j < after->nvolumes && a == NULL; j++)
      if (strcmp (after->volumes[j].name, b->name) == 0)
        a = &after->volumes[j];
    if (a == NULL)
      continue;
    for (k = 0; k < b->problems.n; k++) {
      const struct check_item *it = &b->problems.v[k];
      if (it->repairable && !list_has (&a->problems, it) &&
          list_add (&a->repaired, it->kind, 0,
                    it->fix ? it->fix : it->message, NULL) == -1)
        ck->failed = ENOMEM;
    }
    for (k = 0; k < notes[i].n; k++)
      if (list_add (&a->problems, notes[i].v[k].kind, 0,
                    notes[i].v[k].message, NULL) == -1)
        ck->failed = ENOMEM;
  }
}

static void
set_clean (struct check_report *rep)
{
  size_t i;

  rep->clean = rep->problems.n == 0;
  for (i = 0; i < rep->nvolumes; i++)
    if (rep->volumes[i].problems.n > 0)
      rep->clean = 0;
}

struct check_report *
check_pool (const char *dir, unsigned flags)
{
  struct checker ck;
  struct check_report *before = NULL;
  struct check_list pool_notes = { NULL, 0, 0 }, *notes = NULL;
  size_t i, nvol = 0;
  int lock_fd;

  /* 1. */
  lock_fd = pool_lock (dir);
  if (lock_fd == -1) {
    if (errno == ENOENT)
      sv_error (ENOENT, "%s is not a snapvol pool (no snapvol.pool file)",
                dir);
    return NULL;
  }
  memset (&ck, 0, sizeof ck);
  ck.flags = flags;
  ck.pool.io = &sio_posix;
  if ((ck.pool.dir = strdup (dir)) == NULL ||
      asprintf (&ck.pool.voldir, "%s/volumes", dir) == -1) {
    ck.pool.voldir = NULL;
    ck.failed = ENOMEM;
    goto out;
  }

  /* 2. */
  scan (&ck);
  if (ck.failed || !(flags & CHECK_REPAIR))
    goto out;

  /* 3. */
  before = ck.rep;
  nvol = before->nvolumes;
  notes = calloc (nvol ? nvol : 1, sizeof *notes);
  if (notes == NULL) {
    ck.failed = ENOMEM;
    goto out;
  }
  repair (&ck, &pool_notes, notes);

  /* 4. */
  scans_free (&ck);
  scan (&ck);
  if (!ck.failed)
    merge (&ck, before, ck.rep, &pool_notes, notes);

 out:
  if (!ck.failed)
    set_clean (ck.rep);
  scans_free (&ck);
  check_report_free (before);
  for (i = 0; i < nvol; i++)
    list_free (&notes[i]);
  free (notes);
  list_free (&pool_notes);
  free (ck.pool.dir);
  free (ck.pool.voldir);
  close (lock_fd);
  if (ck.failed) {
    check_report_free (ck.rep);
    sv_error (ck.failed, "checking %s: %m", dir);
    return NULL;
  }
  return ck.rep;
}

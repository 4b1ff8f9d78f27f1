/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * ctl-backup.c: snapvolctl backup: a snapshot to a file, to an NBD
 * export, or to a volume of another snapvol server (replication), in
 * full or since an earlier snapshot (docs/backup.md).
 *
 * The steps, in order (each failure is reported once and ends the run
 * after the holds are released):
 *   1. resolve SOURCE (and BASE) through the control socket: volume
 *      uuid, snapshot id, set id, size, generation, the export's URI;
 *   2. check DEST: a file's manifest (--since, --resume), a replica's
 *      latest snapshot (--since);
 *   3. hold SOURCE and BASE (snapshot.hold, tag backup-RANDOM);
 *   4. the ranges: block status (full) or snapshot.diff (--since);
 *   5. a file: mark its manifest in progress before the first write;
 *   6. copy (copy.c), recording the progress in the manifest;
 *   7. a file: its manifest, complete; a replica: snapshot.create;
 *   8. release the holds (also on failure and on SIGINT/SIGTERM).
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "copy.h"
#include "ctl.h"
#include "humansize.h"
#include "log.h"
#include "manifest.h"
#include "output.h"
#include "proto.h"
#include "uuid.h"

/* A hold outlives a crashed backup by this much at most. */
#define HOLD_EXPIRES_DEFAULT_S 86400
#define CONNECTIONS_DEFAULT 4
#define DIFF_PAGE 65536
#define CHECKPOINT_MS 2000
#define REPLICA_PREFIX "replica-of:"

enum { OPT_SINCE, OPT_CONNECTIONS, OPT_NBD, OPT_QUIET, OPT_RESUME,
       OPT_DEST_SOCKET, OPT_HOLD_EXPIRES };

struct snap {
  char volume[PROTO_NAME_MAX + 1];
  char id[UUID_STRLEN + 1];
  char set_id[UUID_STRLEN + 1];
  uint64_t size, generation;
};

struct backup {
  struct ctl *ctl;
  struct ctl dest_ctl;          /* --dest-socket */
  bool replica;
  const char *dest;             /* the file, URI or replica volume */
  bool dest_is_uri;
  bool quiet, resume;
  unsigned connections;
  int64_t hold_expires;
  char volume_uuid[UUID_STRLEN + 1];
  struct snap src, base;
  json_t *snaps;                /* snapshot.list of the source volume */
  bool since;
  char *src_uri, *dst_uri;
  char tag[32];
  bool held_src, held_base;
  struct copy_range *ranges;
  size_t nranges;
  /* A file destination. */
  char *manifest_path, *sums_path;
  struct manifest m;
  int fd, sums_fd;
  unsigned char *sums;
  size_t sums_len;
  /* Progress. */
  struct timespec t0, last_draw, last_checkpoint;
  bool bar;
  char ckpt_err[512];
};

static volatile sig_atomic_t stop_signal;

static void
on_signal (int sig)
{
  stop_signal = sig;
}

static double
seconds_since (const struct timespec *t0)
{
  struct timespec now;

  clock_gettime (CLOCK_MONOTONIC, &now);
  return (now.tv_sec - t0->tv_sec) + (now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* 1. SOURCE and BASE. */

/* snapshot.list of VOLUME (of every volume if NULL) through CTL: the
 * array, or NULL after a reported error. */
static json_t *
list_snapshots (struct ctl *ctl, const char *volume)
{
  json_t *list = ctl_call (ctl, "snapshot.list",
                           volume ? json_pack ("{s:s}", "volume", volume)
                           : json_object ());

  if (list != NULL && !json_is_array (list)) {
    json_decref (list);
    ctl_bad_answer (ctl, "the result is not an array");
    return NULL;
  }
  return list;
}

/* The snapshot of LIST (snapshot.list's result) whose id or set id is
 * ID, into OUT.  0, or 1 if there is none. */
static int
pick_snapshot (json_t *list, const char *id, struct snap *out)
{
  json_t *s;
  size_t i;

  json_array_foreach (list, i, s) {
    if (strcasecmp (out_str (s, "id"), id) != 0 &&
        strcasecmp (out_str (s, "set_id"), id) != 0)
      continue;
    snprintf (out->volume, sizeof out->volume, "%s", out_str (s, "volume"));
    snprintf (out->id, sizeof out->id, "%s", out_str (s, "id"));
    snprintf (out->set_id, sizeof out->set_id, "%s", out_str (s, "set_id"));
    out->size = out_u64 (s, "size");
    out->generation = out_u64 (s, "generation");
    return 0;
  }
  return 1;
}

/* "VOLUME@ID" into VOLUME and ID (canonical).  -1 after a usage error. */
static int
split_source (struct ctl *ctl, const char *what, const char *arg,
              char *volume, size_t vlen, char id[UUID_STRLEN + 1])
{
  const char *at = strrchr (arg, '@');
  struct uuid u;

  if (at == NULL || at == arg || (size_t) (at - arg) >= vlen ||
      uuid_parse (at + 1, &u) == -1)
    return ctl_usage_error (ctl, "invalid %s '%s': expected VOLUME@ID (ID: a "
                            "snapshot or set UUID)", what, arg), -1;
  snprintf (volume, vlen, "%.*s", (int) (at - arg), arg);
  uuid_format (&u, id);
  return 0;
}

static int
resolve_source (struct backup *b, const char *source)
{
  char volume[PROTO_NAME_MAX + 1], id[UUID_STRLEN + 1];
  json_t *vols;

  if (split_source (b->ctl, "SOURCE", source, volume, sizeof volume, id) == -1)
    return -1;
  /* Kept for BASE: snapshot.list costs the server a walk of the
   * volume's map (the space columns), once is enough. */
  b->snaps = list_snapshots (b->ctl, volume);
  if (b->snaps == NULL)
    return -1;
  if (pick_snapshot (b->snaps, id, &b->src) == 1)
    return ctl_error (b->ctl, CTL_EXIT_FAILURE, "volume %s has no snapshot "
                      "%s", volume, id), -1;
  vols = ctl_call (b->ctl, "volume.list", json_pack ("{s:s}", "name", volume));
  if (vols == NULL)
    return -1;
  snprintf (b->volume_uuid, sizeof b->volume_uuid, "%s",
            out_str (json_array_get (vols, 0), "uuid"));
  json_decref (vols);
  if (strlen (b->volume_uuid) != UUID_STRLEN)
    return ctl_bad_answer (b->ctl, "volume.list gave no uuid"), -1;
  return 0;
}

static int
resolve_base (struct backup *b, const char *arg)
{
  struct uuid u;
  char id[UUID_STRLEN + 1];
  struct snap other;
  json_t *all;
  int r;

  if (uuid_parse (arg, &u) == -1)
    return ctl_usage_error (b->ctl, "invalid --since '%s': expected a "
                            "snapshot or set UUID", arg), -1;
  uuid_format (&u, id);
  if (pick_snapshot (b->snaps, id, &b->base) == 1) {
    all = list_snapshots (b->ctl, NULL);
    if (all == NULL)
      return -1;
    r = pick_snapshot (all, id, &other);
    json_decref (all);
    if (r == 0)
      ctl_error (b->ctl, CTL_EXIT_FAILURE, "--since %s is a snapshot of "
                 "volume %s, not %s", id, other.volume, b->src.volume);
    else
      ctl_error (b->ctl, CTL_EXIT_FAILURE, "--since %s: volume %s has no "
                 "snapshot %s", id, b->src.volume, id);
    return -1;
  }
  if (b->base.generation >= b->src.generation)
    return ctl_error (b->ctl, CTL_EXIT_FAILURE, "--since %s (generation %"
                      PRIu64 ") is not older than %s (generation %" PRIu64 ")",
                      b->base.id, b->base.generation, b->src.id,
                      b->src.generation), -1;
  b->since = true;
  return 0;
}

/* The export URI of EXPORT on the server of CTL: OVERRIDE, else its
 * pool.info nbd_uri.  NULL after a reported error. */
static char *
export_uri (struct ctl *ctl, const char *override, const char *export,
            const char *what)
{
  json_t *info = NULL;
  const char *base = override;
  char *uri;

  if (base == NULL) {
    info = ctl_call (ctl, "pool.info", json_object ());
    if (info == NULL)
      return NULL;
    base = json_string_value (json_object_get (info, "nbd_uri"));
  }
  if (base == NULL) {
    ctl_error (ctl, CTL_EXIT_FAILURE, "no NBD URI for the %s: the server at "
               "%s has no nbd_uri (start it with nbd-uri=URI) and no --nbd "
               "URI was given", what, ctl->socket);
    json_decref (info);
    return NULL;
  }
  uri = proto_export_uri (base, export);
  json_decref (info);
  if (uri == NULL)
    ctl_error (ctl, CTL_EXIT_FAILURE, "out of memory");
  return uri;
}

/* 2. The destination. */

static bool
is_nbd_uri (const char *s)
{
  return strncmp (s, "nbd://", 6) == 0 || strncmp (s, "nbds://", 7) == 0 ||
    strncmp (s, "nbd+unix://", 11) == 0 || strncmp (s, "nbds+unix://", 12) == 0;
}

/* --since on a replica: the destination volume's latest snapshot must
 * be the replica of BASE. */
static int
check_replica_base (struct backup *b)
{
  json_t *list = ctl_call (&b->dest_ctl, "snapshot.list",
                           json_pack ("{s:s}", "volume", b->dest));
  json_t *s, *latest = NULL;
  char want[sizeof REPLICA_PREFIX + UUID_STRLEN];
  size_t i;
  int r = 0;

  if (list == NULL)
    return -1;
  json_array_foreach (list, i, s)
    if (latest == NULL ||
        out_u64 (s, "generation") > out_u64 (latest, "generation"))
      latest = s;
  snprintf (want, sizeof want, REPLICA_PREFIX "%s", b->base.id);
  if (latest == NULL)
    r = ctl_error (b->ctl, CTL_EXIT_FAILURE, "--since %s: the destination "
                   "volume %s has no snapshot, so no replica of it",
                   b->base.id, b->dest);
  else if (strcmp (out_str (latest, "label"), want) != 0)
    r = ctl_error (b->ctl, CTL_EXIT_FAILURE, "--since %s: the latest snapshot"
                   " of the destination volume %s is %s (label \"%s\"), not "
                   "the replica of %s", b->base.id, b->dest,
                   out_str (latest, "id"), out_str (latest, "label"),
                   b->base.id);
  json_decref (list);
  return r ? -1 : 0;
}

/* --since and --resume against a file's manifest. */
static int
check_manifest (struct backup *b)
{
  struct manifest *m = &b->m;
  char err[512];
  struct stat st;
  int r = manifest_read (b->manifest_path, m, err, sizeof err);

  if (r == -1)
    return ctl_error (b->ctl, CTL_EXIT_FAILURE, "%s", err), -1;
  if (r == 1) {
    if (b->resume)
      return ctl_error (b->ctl, CTL_EXIT_FAILURE, "--resume: %s has no "
                        "manifest (%s): there is no backup to resume",
                        b->dest, b->manifest_path), -1;
    if (b->since)
      return ctl_error (b->ctl, CTL_EXIT_FAILURE, "--since %s: %s has no "
                        "manifest (%s): nothing says it holds %s", b->base.id,
                        b->dest, b->manifest_path, b->base.id), -1;
    return 0;
  }
  if ((b->since || b->resume) && strcmp (m->volume_uuid, b->volume_uuid) != 0)
    return ctl_error (b->ctl, CTL_EXIT_FAILURE, "the manifest %s is for volume"
                      " %s (uuid %s), not %s (uuid %s)", b->manifest_path,
                      m->volume, m->volume_uuid, b->src.volume,
                      b->volume_uuid), -1;
  if (b->resume) {
    if (m->complete)
      return ctl_error (b->ctl, CTL_EXIT_FAILURE, "--resume: %s holds a "
                        "complete backup of %s: there is nothing to resume",
                        b->dest, m->snapshot), -1;
    if (strcmp (m->snapshot, b->src.id) != 0 ||
        strcmp (m->since, b->since ? b->base.id : "") != 0)
      return ctl_error (b->ctl, CTL_EXIT_FAILURE, "--resume: %s holds an "
                        "interrupted backup of %s%s%s, not of %s%s%s",
                        b->dest, m->snapshot, m->since[0] ? " since " : "",
                        m->since, b->src.id, b->since ? " since " : "",
                        b->since ? b->base.id : ""), -1;
    return 0;
  }
  if (!b->since)
    return 0;
  if (!m->complete)
    return ctl_error (b->ctl, CTL_EXIT_FAILURE, "--since %s: %s holds an "
                      "interrupted backup of %s (finish it with --resume)",
                      b->base.id, b->dest, m->snapshot), -1;
  if (strcmp (m->snapshot, b->base.id) != 0)
    return ctl_error (b->ctl, CTL_EXIT_FAILURE, "--since %s: %s holds "
                      "snapshot %s, not %s", b->base.id, b->dest, m->snapshot,
                      b->base.id), -1;
  /* Size and mtime, not the hash: hashing the image again would read
   * all of it, which an incremental backup exists to avoid. */
  if (stat (b->dest, &st) == -1)
    return ctl_error (b->ctl, CTL_EXIT_FAILURE, "%s: %s", b->dest,
                      strerror (errno)), -1;
  if ((uint64_t) st.st_size != m->image_size ||
      (int64_t) st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec
      != m->image_mtime_ns)
    return ctl_error (b->ctl, CTL_EXIT_FAILURE, "--since %s: %s was changed "
                      "after its backup of %s (its size or modification time "
                      "differs from the manifest's)", b->base.id, b->dest,
                      b->base.id), -1;
  if (m->size != b->src.size)
    return ctl_error (b->ctl, CTL_EXIT_FAILURE, "--since %s: %s is %" PRIu64
                      " bytes, the source %" PRIu64, b->base.id, b->dest,
                      m->size, b->src.size), -1;
  /* Before the manifest is touched: a refusal leaves it complete. */
  if (stat (b->sums_path, &st) == -1 || (uint64_t) st.st_size
      != (b->src.size + COPY_BLOCK - 1) / COPY_BLOCK * COPY_DIGEST)
    return ctl_error (b->ctl, CTL_EXIT_FAILURE, "--since %s: %s is missing "
                      "or has the wrong size: take a full backup", b->base.id,
                      b->sums_path), -1;
  return 0;
}

static int
prepare_dest (struct backup *b)
{
  if (b->replica) {
    char export[PROTO_NAME_MAX + 1];

    snprintf (export, sizeof export, "%s", b->dest);
    if (!proto_is_name (b->dest))
      return ctl_usage_error (b->ctl, "invalid DEST '%s': with --dest-socket "
                              "DEST is a volume name", b->dest), -1;
    if (b->resume)
      return ctl_usage_error (b->ctl, "--resume needs a file destination (the"
                              " progress is kept in its manifest)"), -1;
    if (b->since && check_replica_base (b) == -1)
      return -1;
    b->dst_uri = export_uri (&b->dest_ctl, NULL, export, "destination");
    return b->dst_uri ? 0 : -1;
  }
  if (b->dest_is_uri) {
    if (b->resume)
      return ctl_usage_error (b->ctl, "--resume needs a file destination (the"
                              " progress is kept in its manifest)"), -1;
    b->dst_uri = strdup (b->dest);
    return b->dst_uri ? 0 : (ctl_error (b->ctl, 1, "out of memory"), -1);
  }
  if (asprintf (&b->manifest_path, "%s" MANIFEST_SUFFIX, b->dest) == -1 ||
      asprintf (&b->sums_path, "%s" SUMS_SUFFIX, b->dest) == -1) {
    b->manifest_path = b->sums_path = NULL;
    return ctl_error (b->ctl, CTL_EXIT_FAILURE, "out of memory"), -1;
  }
  return check_manifest (b);
}

/* 3. Holds. */

static int
hold (struct backup *b, const char *id, bool *held)
{
  json_t *res = ctl_call (b->ctl, "snapshot.hold",
                          json_pack ("{s:s, s:s, s:I}", "id", id,
                                     "tag", b->tag,
                                     "expires_in",
                                     (json_int_t) b->hold_expires));

  if (res == NULL)
    return -1;
  json_decref (res);
  *held = true;
  return 0;
}

/* Release our holds; a failure is a warning (the expiry ends them). */
static void
release_holds (struct backup *b)
{
  const char *ids[2] = { b->held_src ? b->src.id : NULL,
                         b->held_base ? b->base.id : NULL };
  int i;

  for (i = 0; i < 2; i++) {
    json_t *res;

    if (ids[i] == NULL)
      continue;
    res = ctl_call (b->ctl, "snapshot.release",
                    json_pack ("{s:s, s:s}", "id", ids[i], "tag", b->tag));
    if (res == NULL)
      log_warnx ("%s: the hold %s on %s stays until it expires", b->ctl->command,
                 b->tag, ids[i]);
    json_decref (res);
  }
  b->held_src = b->held_base = false;
}

static int
take_holds (struct backup *b)
{
  unsigned char r[6];
  int i;

  if (getrandom (r, sizeof r, 0) != (ssize_t) sizeof r)
    return ctl_error (b->ctl, CTL_EXIT_FAILURE, "getrandom: %s",
                      strerror (errno)), -1;
  i = snprintf (b->tag, sizeof b->tag, "backup-");
  for (size_t k = 0; k < sizeof r; k++)
    i += snprintf (b->tag + i, sizeof b->tag - i, "%02x", r[k]);
  if (hold (b, b->src.id, &b->held_src) == -1 ||
      (b->since && hold (b, b->base.id, &b->held_base) == -1))
    return -1;
  return 0;
}

/* 4. The ranges. */

static int
add_diff_page (struct backup *b, json_t *ranges, struct copy_range **v,
               size_t *n, size_t *cap)
{
  json_t *r;
  size_t i;

  json_array_foreach (ranges, i, r) {
    const char *kind = out_str (r, "kind");
    uint64_t off = out_u64 (r, "offset"), len = out_u64 (r, "length");

    if (len == 0 || off + len > b->src.size || off + len < off ||
        (strcmp (kind, "data") != 0 && strcmp (kind, "zero") != 0) ||
        (*n > 0 && off < (*v)[*n - 1].offset + (*v)[*n - 1].length))
      return ctl_bad_answer (b->ctl, "snapshot.diff gave a range out of "
                             "order, past the end, or of an unknown kind"), -1;
    if (*n == *cap) {
      size_t c = *cap ? *cap * 2 : 1024;
      struct copy_range *nv = realloc (*v, c * sizeof *nv);

      if (nv == NULL)
        return ctl_error (b->ctl, CTL_EXIT_FAILURE, "out of memory"), -1;
      *v = nv;
      *cap = c;
    }
    (*v)[(*n)++] = (struct copy_range) {
      off, len, kind[0] == 'd' ? COPY_DATA : COPY_ZERO };
  }
  return 0;
}

static int
diff_ranges (struct backup *b, struct copy_range **v, size_t *n)
{
  json_int_t cursor = 0;
  size_t cap = 0;

  *v = NULL;
  *n = 0;
  for (;;) {
    json_t *res = ctl_call (b->ctl, "snapshot.diff",
                            json_pack ("{s:s, s:s, s:s, s:I, s:i}",
                                       "volume", b->src.volume,
                                       "from", b->base.id, "to", b->src.id,
                                       "cursor", cursor,
                                       "max_ranges", DIFF_PAGE));
    json_t *next;
    int r;

    if (res == NULL)
      return -1;
    r = add_diff_page (b, json_object_get (res, "ranges"), v, n, &cap);
    next = json_object_get (res, "next");
    if (r == 0 && !json_is_null (next) &&
        (!json_is_integer (next) || json_integer_value (next) <= cursor))
      r = ctl_bad_answer (b->ctl, "snapshot.diff's next does not advance");
    cursor = json_integer_value (next);
    json_decref (res);
    if (r == -1)
      return -1;
    if (json_is_null (next) || next == NULL)
      return 0;
    if (stop_signal)
      return ctl_error (b->ctl, CTL_EXIT_FAILURE, "interrupted by signal %d",
                        (int) stop_signal), -1;
  }
}

static int
make_ranges (struct backup *b)
{
  struct copy_range *raw = NULL;
  size_t n = 0;
  char err[512];

  if (b->since) {
    if (diff_ranges (b, &raw, &n) == -1) {
      free (raw);
      return -1;
    }
  }
  else if (copy_map (b->src_uri, b->src.size, &raw, &n, err, sizeof err) == -1)
    return ctl_error (b->ctl, CTL_EXIT_FAILURE, "%s", err), -1;
  b->ranges = copy_align (raw, n, b->src.size, &b->nranges);
  free (raw);
  if (b->ranges == NULL)
    return ctl_error (b->ctl, CTL_EXIT_FAILURE, "out of memory"), -1;
  return 0;
}

/* 5. and 7. A file destination. */

static void
fill_manifest (struct backup *b, bool complete, uint64_t resume)
{
  struct manifest *m = &b->m;

  memset (m, 0, sizeof *m);
  m->complete = complete;
  snprintf (m->volume, sizeof m->volume, "%s", b->src.volume);
  snprintf (m->volume_uuid, sizeof m->volume_uuid, "%s", b->volume_uuid);
  snprintf (m->snapshot, sizeof m->snapshot, "%s", b->src.id);
  snprintf (m->set_id, sizeof m->set_id, "%s", b->src.set_id);
  snprintf (m->since, sizeof m->since, "%s", b->since ? b->base.id : "");
  m->generation = b->src.generation;
  m->size = b->src.size;
  m->resume_offset = resume;
  m->time = time (NULL);
}

static int
open_file_dest (struct backup *b)
{
  bool fresh = !b->since && !b->resume;
  uint64_t nblocks = (b->src.size + COPY_BLOCK - 1) / COPY_BLOCK;
  struct stat st;
  char err[512];

  /* Before the first write: nothing may claim the old content. */
  fill_manifest (b, false, b->resume ? b->m.resume_offset : 0);
  if (manifest_write (b->manifest_path, &b->m, err, sizeof err) == -1)
    return ctl_error (b->ctl, CTL_EXIT_FAILURE, "%s", err), -1;
  b->fd = open (b->dest, O_RDWR | O_CREAT | O_CLOEXEC | (fresh ? O_TRUNC : 0),
                0644);
  if (b->fd == -1 || fstat (b->fd, &st) == -1 ||
      (fresh && ftruncate (b->fd, (off_t) b->src.size) == -1))
    return ctl_error (b->ctl, CTL_EXIT_FAILURE, "%s: %s", b->dest,
                      strerror (errno)), -1;
  if (!fresh && (uint64_t) st.st_size != b->src.size)
    return ctl_error (b->ctl, CTL_EXIT_FAILURE, "%s is %jd bytes, not the %"
                      PRIu64 " its manifest promises", b->dest,
                      (intmax_t) st.st_size, b->src.size), -1;
  b->sums_len = nblocks * COPY_DIGEST;
  b->sums_fd = open (b->sums_path, O_RDWR | O_CREAT | O_CLOEXEC
                     | (fresh ? O_TRUNC : 0), 0644);
  if (b->sums_fd == -1 || fstat (b->sums_fd, &st) == -1)
    return ctl_error (b->ctl, CTL_EXIT_FAILURE, "%s: %s", b->sums_path,
                      strerror (errno)), -1;
  if (!fresh && (uint64_t) st.st_size != b->sums_len && !b->resume)
    return ctl_error (b->ctl, CTL_EXIT_FAILURE, "%s is missing or has the "
                      "wrong size: take a full backup", b->sums_path), -1;
  if (b->sums_len == 0)
    return 0;
  if (ftruncate (b->sums_fd, (off_t) b->sums_len) == -1)
    return ctl_error (b->ctl, CTL_EXIT_FAILURE, "ftruncate: %s: %s",
                      b->sums_path, strerror (errno)), -1;
  b->sums = mmap (NULL, b->sums_len, PROT_READ | PROT_WRITE, MAP_SHARED,
                  b->sums_fd, 0);
  if (b->sums == MAP_FAILED) {
    b->sums = NULL;
    return ctl_error (b->ctl, CTL_EXIT_FAILURE, "mmap: %s: %s", b->sums_path,
                      strerror (errno)), -1;
  }
  return 0;
}

/* Make everything written so far durable, then record RESUME. */
static int
checkpoint (struct backup *b, uint64_t resume, char *err, size_t errlen)
{
  if (fdatasync (b->fd) == -1 ||
      (b->sums && msync (b->sums, b->sums_len, MS_SYNC) == -1)) {
    snprintf (err, errlen, "fdatasync: %s: %s", b->dest, strerror (errno));
    return -1;
  }
  fill_manifest (b, false, resume);
  return manifest_write (b->manifest_path, &b->m, err, errlen);
}

static int
finish_file (struct backup *b, char sha[65])
{
  struct stat st;
  char err[512];

  /* The hash first: its CPU time overlaps the writeback that tick ()
   * started, which the syncs then wait for. */
  manifest_image_hash (b->sums ? b->sums : (unsigned char *) "",
                       b->sums_len / COPY_DIGEST, sha);
  if (fsync (b->fd) == -1 ||
      (b->sums && msync (b->sums, b->sums_len, MS_SYNC) == -1) ||
      fsync (b->sums_fd) == -1 || fstat (b->fd, &st) == -1)
    return ctl_error (b->ctl, CTL_EXIT_FAILURE, "fsync: %s: %s", b->dest,
                      strerror (errno)), -1;
  fill_manifest (b, true, 0);
  snprintf (b->m.sha256, sizeof b->m.sha256, "%s", sha);
  b->m.image_size = st.st_size;
  b->m.image_mtime_ns = (int64_t) st.st_mtim.tv_sec * 1000000000
    + st.st_mtim.tv_nsec;
  if (manifest_write (b->manifest_path, &b->m, err, sizeof err) == -1)
    return ctl_error (b->ctl, CTL_EXIT_FAILURE, "%s", err), -1;
  return 0;
}

/* 6. The copy, its progress bar and checkpoints. */

static void
draw_bar (struct backup *b, const struct copy_stats *st, bool last)
{
  char done[HUMANSIZE_BUFLEN], total[HUMANSIZE_BUFLEN], rate[HUMANSIZE_BUFLEN];
  double secs = seconds_since (&b->t0);
  double bps = secs > 0 ? st->done / secs : 0;
  unsigned pct = st->total ? (unsigned) (st->done * 100 / st->total) : 100;
  char left[32] = "-";

  if (bps > 0 && st->total >= st->done) {
    uint64_t s = (uint64_t) ((st->total - st->done) / bps);
    snprintf (left, sizeof left, "%" PRIu64 ":%02" PRIu64, s / 60, s % 60);
  }
  humansize_format (st->done, done, sizeof done);
  humansize_format (st->total, total, sizeof total);
  humansize_format ((uint64_t) bps, rate, sizeof rate);
  fprintf (stderr, "\r%3u%% %s / %s  %s/s  %s left\033[K%s", pct, done, total,
           rate, left, last ? "\n" : "");
  fflush (stderr);
}

static int
tick (const struct copy_stats *st, void *opaque)
{
  struct backup *b = opaque;

  if (b->bar && seconds_since (&b->last_draw) >= 0.2) {
    draw_bar (b, st, false);
    clock_gettime (CLOCK_MONOTONIC, &b->last_draw);
  }
  /* Writes too small for the copy's writing behind (an incremental's
   * blocks) and the digest table go through the page cache: start
   * their writeback as the copy goes, so that the final fsync waits
   * for little.  A hint: the syncs report failures. */
  if (b->manifest_path) {
    sync_file_range (b->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    sync_file_range (b->sums_fd, 0, 0, SYNC_FILE_RANGE_WRITE);
  }
  if (b->manifest_path && seconds_since (&b->last_checkpoint) * 1000
      >= CHECKPOINT_MS) {
    clock_gettime (CLOCK_MONOTONIC, &b->last_checkpoint);
    if (checkpoint (b, st->resume, b->ckpt_err, sizeof b->ckpt_err) == -1)
      return -1;
  }
  return 0;
}

static int
run_copy (struct backup *b, struct copy_stats *st)
{
  struct copy_params p = {
    .src_uri = b->src_uri, .dst_uri = b->dst_uri, .dst_fd = b->fd,
    .dst_zeroed = b->manifest_path && !b->since,
    .size = b->src.size, .ranges = b->ranges, .nranges = b->nranges,
    .start = b->resume ? b->m.resume_offset : 0,
    .connections = b->connections, .sums = b->sums,
    .tick = tick, .opaque = b, .tick_ms = 100, .stop = &stop_signal,
  };
  char err[512], ck[512];
  int r;

  if (b->resume && b->m.resume_offset > b->src.size)
    return ctl_error (b->ctl, CTL_EXIT_FAILURE, "the manifest %s says the "
                      "backup stopped at %" PRIu64 ", past the end",
                      b->manifest_path, b->m.resume_offset), -1;
  clock_gettime (CLOCK_MONOTONIC, &b->last_checkpoint);
  r = copy_run (&p, st, err, sizeof err);
  if (b->bar)
    draw_bar (b, st, true);
  if (r == 0)
    return 0;
  if (b->ckpt_err[0])
    snprintf (err, sizeof err, "%s", b->ckpt_err);
  if (!st->started && b->manifest_path == NULL)
    /* Refused at connection: nothing was written. */
    return ctl_error (b->ctl, CTL_EXIT_FAILURE, "%s", err), -1;
  if (b->manifest_path && checkpoint (b, st->resume, ck, sizeof ck) == 0)
    return ctl_error (b->ctl, CTL_EXIT_FAILURE, "%s (%s is incomplete: done "
                      "below offset %" PRIu64 "; run the same command with "
                      "--resume to continue)", err, b->dest, st->resume), -1;
  return ctl_error (b->ctl, CTL_EXIT_FAILURE, "%s (%s is incomplete)", err,
                    b->dest), -1;
}

/* 7. A replica's snapshot. */

static int
snapshot_replica (struct backup *b)
{
  char label[sizeof REPLICA_PREFIX + UUID_STRLEN];
  json_t *res;

  snprintf (label, sizeof label, REPLICA_PREFIX "%s", b->src.id);
  res = ctl_call (&b->dest_ctl, "snapshot.create",
                  json_pack ("{s:[s], s:s}", "volumes", b->dest,
                             "label", label));
  if (res == NULL)
    return -1;
  json_decref (res);
  return 0;
}

/* 8. The summary. */

static int
print_summary (struct backup *b, const struct copy_stats *st, const char *sha)
{
  double secs = seconds_since (&b->t0);
  uint64_t rate = secs > 0 ? (uint64_t) (st->bytes_read / secs) : 0;
  uint64_t skipped = b->src.size > st->bytes_read
    ? b->src.size - st->bytes_read : 0;
  char r[HUMANSIZE_BUFLEN], w[HUMANSIZE_BUFLEN], s[HUMANSIZE_BUFLEN];
  char rt[HUMANSIZE_BUFLEN];
  json_t *j;
  int ret;

  if (b->ctl->json) {
    j = json_pack ("{s:I, s:I, s:I, s:f, s:I, s:o}",
                   "bytes_read", (json_int_t) st->bytes_read,
                   "bytes_written", (json_int_t) st->bytes_written,
                   "bytes_skipped", (json_int_t) skipped,
                   "seconds", secs,
                   "rate", (json_int_t) rate,
                   "sha256", sha && *sha ? json_string (sha) : json_null ());
    if (j == NULL)
      return ctl_error (b->ctl, CTL_EXIT_FAILURE, "out of memory");
    ret = out_json (j) == 0 ? CTL_EXIT_OK : CTL_EXIT_FAILURE;
    json_decref (j);
    return ret;
  }
  if (b->quiet)
    return CTL_EXIT_OK;
  printf ("Backed up %s@%s%s%s to %s: %s read, %s written, %s skipped in "
          "%.1f s (%s/s).\n", b->src.volume, b->src.id,
          b->since ? " since " : "", b->since ? b->base.id : "", b->dest,
          humansize_format (st->bytes_read, r, sizeof r),
          humansize_format (st->bytes_written, w, sizeof w),
          humansize_format (skipped, s, sizeof s), secs,
          humansize_format (rate, rt, sizeof rt));
  if (sha && *sha)
    printf ("sha256 %s\n", sha);
  return CTL_EXIT_OK;
}

static int
parse_options (struct backup *b, const struct ctl_args *a)
{
  const char *c = a->opt[OPT_CONNECTIONS], *e = a->opt[OPT_HOLD_EXPIRES];
  char *end;
  long v;

  b->connections = CONNECTIONS_DEFAULT;
  if (c) {
    errno = 0;
    v = strtol (c, &end, 10);
    if (errno || end == c || *end || v < 1 || v > COPY_MAX_CONNECTIONS)
      return ctl_usage_error (b->ctl, "invalid --connections '%s': expected "
                              "1 to %d", c, COPY_MAX_CONNECTIONS), -1;
    b->connections = v;
  }
  b->hold_expires = HOLD_EXPIRES_DEFAULT_S;
  if (e) {
    errno = 0;
    v = strtol (e, &end, 10);
    if (errno || end == e || *end || v < 1 || v > 365L * 86400)
      return ctl_usage_error (b->ctl, "invalid --hold-expires '%s': expected "
                              "whole seconds from 1 to %ld", e, 365L * 86400),
        -1;
    b->hold_expires = v;
  }
  b->quiet = a->opt[OPT_QUIET] != NULL;
  b->resume = a->opt[OPT_RESUME] != NULL;
  b->bar = !b->quiet && isatty (STDERR_FILENO);
  if (a->opt[OPT_DEST_SOCKET]) {
    b->replica = true;
    b->dest_ctl = *b->ctl;
    b->dest_ctl.socket = a->opt[OPT_DEST_SOCKET];
  }
  b->dest_is_uri = !b->replica && is_nbd_uri (b->dest);
  if (b->resume && b->replica)
    return ctl_usage_error (b->ctl, "--resume needs a file destination (the "
                            "progress is kept in its manifest)"), -1;
  return 0;
}

static void
backup_free (struct backup *b)
{
  if (b->sums)
    munmap (b->sums, b->sums_len);
  if (b->sums_fd != -1)
    close (b->sums_fd);
  if (b->fd != -1)
    close (b->fd);
  json_decref (b->snaps);
  free (b->ranges);
  free (b->src_uri);
  free (b->dst_uri);
  free (b->manifest_path);
  free (b->sums_path);
}

static int
backup_steps (struct backup *b, const struct ctl_args *a, char sha[65],
              struct copy_stats *st)
{
  char export[PROTO_NAME_MAX + UUID_STRLEN + 2];

  if (resolve_source (b, a->argv[0]) == -1 ||
      (a->opt[OPT_SINCE] && resolve_base (b, a->opt[OPT_SINCE]) == -1))
    return -1;
  snprintf (export, sizeof export, "%s@%s", b->src.volume, b->src.id);
  b->src_uri = export_uri (b->ctl, a->opt[OPT_NBD], export, "source");
  if (b->src_uri == NULL || prepare_dest (b) == -1 || take_holds (b) == -1 ||
      make_ranges (b) == -1)
    return -1;
  if (b->manifest_path && open_file_dest (b) == -1)
    return -1;
  if (run_copy (b, st) == -1)
    return -1;
  if (b->manifest_path)
    return finish_file (b, sha);
  if (b->replica)
    return snapshot_replica (b);
  return 0;
}

static int
backup (struct ctl *ctl, const struct ctl_args *a)
{
  struct backup b = { .ctl = ctl, .dest = a->argv[1], .fd = -1,
                      .sums_fd = -1 };
  struct sigaction sa = { .sa_handler = on_signal }, old_int, old_term;
  struct copy_stats st = { 0 };
  char sha[65] = "";
  int r;

  if (parse_options (&b, a) == -1)
    return CTL_EXIT_USAGE;
  clock_gettime (CLOCK_MONOTONIC, &b.t0);
  b.last_draw = b.t0;
  sigemptyset (&sa.sa_mask);
  sigaction (SIGINT, &sa, &old_int);
  sigaction (SIGTERM, &sa, &old_term);
  r = backup_steps (&b, a, sha, &st);
  release_holds (&b);
  sigaction (SIGINT, &old_int, NULL);
  sigaction (SIGTERM, &old_term, NULL);
  if (r == 0)
    r = print_summary (&b, &st, sha);
  else
    r = CTL_EXIT_FAILURE;
  backup_free (&b);
  return r;
}

const struct ctl_command ctl_backup_commands[] = {
  { "backup", "", "SOURCE DEST [--since BASE] [--connections N] [--nbd URI] "
    "[--quiet] [--resume] [--dest-socket SOCKET] [--hold-expires SECONDS]",
    "Copy snapshot SOURCE (VOLUME@ID) to DEST: a file (raw, sparse, with a "
    "manifest DEST.snapvol.json), an NBD URI, or with --dest-socket a volume "
    "of another server (replication); with --since BASE only what changed "
    "since snapshot BASE.",
    2, 2, { "since", "connections", "nbd", "quiet", "resume", "dest-socket",
            "hold-expires", NULL },
    backup, (1u << OPT_QUIET) | (1u << OPT_RESUME), false },
  { NULL },
};

/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * ctl-setbackup.c: snapvolctl set backup: every snapshot of a
 * committed snapshot set, through the coordinator, into
 * DIR/PROVIDER/VOLUME.img, with one set manifest DIR/snapvol-set.json
 * (docs/backup.md).
 *
 * The steps, in order:
 *   1. the set (set.get; committed), and with --since the set DIR's
 *      manifest must hold, complete, and set.diff's pairs;
 *   2. each volume's uuid and size (volume.list);
 *   3. set.hold SET (and the --since set) with one tag;
 *   4. DIR's set manifest rewritten "in-progress" before any image is
 *      touched: from here until step 6 nothing in DIR claims a
 *      complete set;
 *   5. the volumes, by WORKERS threads at once (min (--connections,
 *      volumes)), each copy with --connections / WORKERS connections,
 *      so the total stays within --connections; each volume is
 *      backup_volume (ctl-backup.c): full where set.diff gives no
 *      `from` or the image has no manifest, else incremental; a volume
 *      that fails does not stop the others;
 *   6. all copied and no signal: the set manifest, complete, written
 *      last and atomically;
 *   7. set.release of the holds, also after a failure or a signal.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "ctl.h"
#include "humansize.h"
#include "log.h"
#include "manifest.h"
#include "output.h"
#include "proto.h"
#include "uuid.h"

#define SET_MANIFEST "snapvol-set.json"
#define SET_MANIFEST_FORMAT 1

enum { OPT_SINCE, OPT_CONNECTIONS, OPT_QUIET, OPT_HOLD_EXPIRES, OPT_NBD_TLS };

/* One snapshot of the set. */
struct member {
  char provider[PROTO_NAME_MAX + 1], volume[PROTO_NAME_MAX + 1];
  char pv[2 * PROTO_NAME_MAX + 2];
  char snapshot[UUID_STRLEN + 1], from[UUID_STRLEN + 1];  /* "": full */
  char uuid[UUID_STRLEN + 1];
  const char *uri;              /* in set_backup.set */
  uint64_t size, generation;
  char image[PATH_MAX];
  struct backup_result res;
  int status;                   /* backup_volume's */
};

struct set_backup {
  struct ctl *ctl;
  const char *set_id, *dir;
  char since[UUID_STRLEN + 1];  /* "": a full backup */
  json_t *set;                  /* set.get's answer */
  struct member *m;
  size_t n;
  unsigned connections, workers;
  int64_t hold_expires;
  const char *tls_certificates;
  bool quiet;
  char tag[32];
  bool held, held_since;
  char manifest[PATH_MAX];
  struct timespec t0;
  /* The next member a worker takes. */
  pthread_mutex_t lock;
  size_t next;
};

static int
parse_id (struct ctl *ctl, const char *what, const char *arg,
          char out[UUID_STRLEN + 1])
{
  struct uuid u;

  if (uuid_parse (arg, &u) == -1)
    return ctl_usage_error (ctl, "invalid %s '%s': expected a snapshot set "
                            "UUID", what, arg), -1;
  uuid_format (&u, out);
  return 0;
}

/* 1. The set, and what DIR holds. */

static int
get_set (struct set_backup *sb)
{
  json_t *snaps, *s;
  size_t i;

  sb->set = ctl_coord_call (sb->ctl, "set.get",
                            json_pack ("{s:s}", "set_id", sb->set_id));
  if (sb->set == NULL)
    return -1;
  snaps = json_object_get (sb->set, "snapshots");
  if (!json_is_object (sb->set) || !json_is_array (snaps))
    return ctl_bad_answer (sb->ctl, "set.get gave no snapshots"), -1;
  if (strcmp (out_str (sb->set, "state"), "committed") != 0)
    return ctl_error (sb->ctl, CTL_EXIT_FAILURE, "snapshot set %s is %s, not "
                      "committed", sb->set_id, out_str (sb->set, "state")), -1;
  sb->n = json_array_size (snaps);
  sb->m = calloc (sb->n ? sb->n : 1, sizeof *sb->m);
  if (sb->m == NULL)
    return ctl_error (sb->ctl, CTL_EXIT_FAILURE, "out of memory"), -1;
  json_array_foreach (snaps, i, s) {
    struct member *m = &sb->m[i];

    snprintf (m->provider, sizeof m->provider, "%s", out_str (s, "provider"));
    snprintf (m->volume, sizeof m->volume, "%s", out_str (s, "volume"));
    snprintf (m->pv, sizeof m->pv, "%s/%s", m->provider, m->volume);
    snprintf (m->snapshot, sizeof m->snapshot, "%s", out_str (s, "id"));
    m->uri = out_str (s, "uri");
    m->generation = out_u64 (s, "generation");
    if (!proto_is_name (m->provider) || !proto_is_name (m->volume) ||
        strlen (m->snapshot) != UUID_STRLEN || *m->uri == '\0')
      return ctl_bad_answer (sb->ctl, "set.get gave a snapshot without "
                             "provider, volume, id or uri"), -1;
    if ((size_t) snprintf (m->image, sizeof m->image, "%s/%s/%s.img",
                           sb->dir, m->provider, m->volume)
        >= sizeof m->image)
      return ctl_error (sb->ctl, CTL_EXIT_FAILURE, "DIR '%s' is too long",
                        sb->dir), -1;
  }
  return 0;
}

/* --since: DIR's set manifest must be a complete backup of that set. */
static int
check_since (struct set_backup *sb)
{
  json_error_t jerr;
  json_t *j = json_load_file (sb->manifest, 0, &jerr);
  const char *state, *id;
  int r = -1;

  if (j == NULL) {
    if (access (sb->manifest, F_OK) == -1 && errno == ENOENT)
      return ctl_error (sb->ctl, CTL_EXIT_FAILURE, "--since %s: %s has no "
                        "set manifest (%s): nothing says it holds set %s",
                        sb->since, sb->dir, sb->manifest, sb->since), -1;
    return ctl_error (sb->ctl, CTL_EXIT_FAILURE, "cannot read the set "
                      "manifest %s: %s", sb->manifest, jerr.text), -1;
  }
  state = json_string_value (json_object_get (j, "state"));
  id = json_string_value (json_object_get (j, "set_id"));
  if (json_integer_value (json_object_get (j, "format"))
      != SET_MANIFEST_FORMAT || state == NULL || id == NULL)
    ctl_error (sb->ctl, CTL_EXIT_FAILURE, "%s is not a snapvol set manifest "
               "of format %d", sb->manifest, SET_MANIFEST_FORMAT);
  else if (strcmp (state, "complete") != 0)
    ctl_error (sb->ctl, CTL_EXIT_FAILURE, "--since %s: %s holds an "
               "interrupted backup of set %s (%s is %s): take a full set "
               "backup", sb->since, sb->dir, id, sb->manifest, state);
  else if (strcasecmp (id, sb->since) != 0)
    ctl_error (sb->ctl, CTL_EXIT_FAILURE, "--since %s: %s holds snapshot set "
               "%s (%s), not %s", sb->since, sb->dir, id, sb->manifest,
               sb->since);
  else
    r = 0;
  json_decref (j);
  return r;
}

/* set.diff's `from` of each member. */
static int
get_pairs (struct set_backup *sb)
{
  json_t *res = ctl_coord_call (sb->ctl, "set.diff",
                                json_pack ("{s:s, s:s}", "set_id", sb->set_id,
                                           "since", sb->since));
  json_t *v;
  size_t i, k;

  if (res == NULL)
    return -1;
  json_array_foreach (json_object_get (res, "volumes"), i, v)
    for (k = 0; k < sb->n; k++)
      if (strcmp (out_str (v, "to"), sb->m[k].snapshot) == 0 &&
          json_is_string (json_object_get (v, "from")))
        snprintf (sb->m[k].from, sizeof sb->m[k].from, "%s",
                  out_str (v, "from"));
  json_decref (res);
  return 0;
}

/* 4. and 6. The set manifest. */

static int
write_set_manifest (struct set_backup *sb, bool complete)
{
  json_t *j, *vols = json_array ();
  char err[512];
  size_t i;
  int r;

  for (i = 0; vols && i < sb->n; i++) {
    const struct member *m = &sb->m[i];
    json_t *v = json_pack ("{s:s, s:s, s:s, s:s, s:I, s:s, s:o}",
                           "provider", m->provider, "volume", m->volume,
                           "uuid", m->uuid, "snapshot", m->snapshot,
                           "size", (json_int_t) m->size,
                           "image", m->image + strlen (sb->dir) + 1,
                           "sha256", complete ? json_string (m->res.sha256)
                           : json_null ());

    if (v == NULL || json_array_append_new (vols, v) == -1) {
      json_decref (vols);
      vols = NULL;
    }
  }
  j = vols ? json_pack ("{s:i, s:s, s:s, s:s, s:I, s:o, s:I, s:o}",
                        "format", SET_MANIFEST_FORMAT,
                        "state", complete ? "complete" : "in-progress",
                        "set_id", sb->set_id,
                        "label", out_str (sb->set, "label"),
                        "created", (json_int_t) out_u64 (sb->set, "created"),
                        "since", *sb->since ? json_string (sb->since)
                        : json_null (),
                        "time", (json_int_t) time (NULL),
                        "volumes", vols) : NULL;
  if (j == NULL)
    return ctl_error (sb->ctl, CTL_EXIT_FAILURE, "cannot build the set "
                      "manifest: out of memory"), -1;
  r = manifest_write_json (sb->manifest, j, err, sizeof err);
  json_decref (j);
  if (r == -1)
    ctl_error (sb->ctl, CTL_EXIT_FAILURE, "%s", err);
  return r;
}

/* 5. The copies. */

static int
make_dir (struct ctl *ctl, const char *path)
{
  if (mkdir (path, 0755) == -1 && errno != EEXIST)
    return ctl_error (ctl, CTL_EXIT_FAILURE, "mkdir: %s: %s", path,
                      strerror (errno)), -1;
  return 0;
}

static void
run_member (struct set_backup *sb, struct member *m)
{
  struct ctl c = *sb->ctl;
  struct backup_job job = {
    .volume = m->pv, .volume_uuid = m->uuid, .snapshot = m->snapshot,
    .set_id = sb->set_id, .size = m->size, .generation = m->generation,
    .uri = m->uri, .since = *m->from ? m->from : NULL, .image = m->image,
    .connections = sb->connections / sb->workers,
    .tls_certificates = sb->tls_certificates,
  };

  /* Errors of one volume go to stderr, naming it; the set's own error
   * is the one JSON error of the run. */
  c.json = c.json_errors = false;
  snprintf (c.command, sizeof c.command, "set backup %s", m->pv);
  m->status = backup_volume (&c, &job, &m->res);
}

static void *
worker (void *arg)
{
  struct set_backup *sb = arg;

  for (;;) {
    struct member *m = NULL;

    pthread_mutex_lock (&sb->lock);
    if (sb->next < sb->n && !backup_stopped ())
      m = &sb->m[sb->next++];
    pthread_mutex_unlock (&sb->lock);
    if (m == NULL)
      return NULL;
    run_member (sb, m);
  }
}

/* Run the members on sb->workers threads.  The number of members that
 * failed or were not run. */
static size_t
run_members (struct set_backup *sb)
{
  pthread_t t[COPY_MAX_CONNECTIONS];
  unsigned i, started = 0;
  size_t k, failed = 0;
  int err;

  for (k = 0; k < sb->n; k++)
    sb->m[k].status = -1;
  for (i = 0; i < sb->workers; i++) {
    err = pthread_create (&t[i], NULL, worker, sb);
    if (err != 0) {
      log_warnx ("%s: pthread_create: %s", sb->ctl->command, strerror (err));
      break;
    }
    started++;
  }
  if (started == 0)
    worker (sb);
  for (i = 0; i < started; i++)
    pthread_join (t[i], NULL);
  for (k = 0; k < sb->n; k++)
    if (sb->m[k].status != 0)
      failed++;
  return failed;
}

/* 7. The summary. */

static double
elapsed (const struct timespec *t0)
{
  struct timespec now;

  clock_gettime (CLOCK_MONOTONIC, &now);
  return (now.tv_sec - t0->tv_sec) + (now.tv_nsec - t0->tv_nsec) / 1e9;
}

static uint64_t
skipped (const struct member *m)
{
  return m->size > m->res.st.bytes_read ? m->size - m->res.st.bytes_read : 0;
}

static int
print_json_summary (struct set_backup *sb, double secs)
{
  json_t *vols = json_array (), *j;
  uint64_t rd = 0, wr = 0, sk = 0;
  size_t i;
  int r;

  for (i = 0; vols && i < sb->n; i++) {
    const struct member *m = &sb->m[i];
    json_t *v = json_pack ("{s:s, s:s, s:s, s:o, s:s, s:I, s:I, s:I, s:f,"
                           " s:s}",
                           "provider", m->provider, "volume", m->volume,
                           "snapshot", m->snapshot,
                           "from", *m->from ? json_string (m->from)
                           : json_null (),
                           "mode", *m->from ? "incremental" : "full",
                           "bytes_read", (json_int_t) m->res.st.bytes_read,
                           "bytes_written",
                           (json_int_t) m->res.st.bytes_written,
                           "bytes_skipped", (json_int_t) skipped (m),
                           "seconds", m->res.seconds,
                           "sha256", m->res.sha256);

    if (v == NULL || json_array_append_new (vols, v) == -1) {
      json_decref (vols);
      vols = NULL;
    }
    rd += m->res.st.bytes_read;
    wr += m->res.st.bytes_written;
    sk += skipped (m);
  }
  j = vols ? json_pack ("{s:s, s:o, s:o, s:I, s:I, s:I, s:f, s:I}",
                        "set_id", sb->set_id,
                        "since", *sb->since ? json_string (sb->since)
                        : json_null (),
                        "volumes", vols,
                        "bytes_read", (json_int_t) rd,
                        "bytes_written", (json_int_t) wr,
                        "bytes_skipped", (json_int_t) sk,
                        "seconds", secs,
                        "rate", (json_int_t) (secs > 0 ? rd / secs : 0))
    : NULL;
  if (j == NULL)
    return ctl_error (sb->ctl, CTL_EXIT_FAILURE, "out of memory");
  r = out_json (j) == 0 ? CTL_EXIT_OK : CTL_EXIT_FAILURE;
  json_decref (j);
  return r;
}

static int
print_summary (struct set_backup *sb)
{
  static const struct out_column cols[] = {
    { "VOLUME", 0 }, { "MODE", 0 }, { "READ", 1 }, { "WRITTEN", 1 },
    { "SKIPPED", 1 }, { "SHA256", 0 },
  };
  char r[HUMANSIZE_BUFLEN], w[HUMANSIZE_BUFLEN], s[HUMANSIZE_BUFLEN];
  char rt[HUMANSIZE_BUFLEN];
  double secs = elapsed (&sb->t0);
  uint64_t rd = 0, wr = 0, sk = 0;
  struct out_table *t;
  size_t i;

  if (sb->ctl->json)
    return print_json_summary (sb, secs);
  if (sb->quiet)
    return CTL_EXIT_OK;
  t = out_table_new (cols, sizeof cols / sizeof cols[0]);
  for (i = 0; t && i < sb->n; i++) {
    const struct member *m = &sb->m[i];

    if (out_table_add (t, m->pv, *m->from ? "incremental" : "full",
                       humansize_format (m->res.st.bytes_read, r, sizeof r),
                       humansize_format (m->res.st.bytes_written, w,
                                         sizeof w),
                       humansize_format (skipped (m), s, sizeof s),
                       m->res.sha256) == -1) {
      out_table_free (t);
      t = NULL;
    }
    rd += m->res.st.bytes_read;
    wr += m->res.st.bytes_written;
    sk += skipped (m);
  }
  if (t == NULL)
    return ctl_error (sb->ctl, CTL_EXIT_FAILURE, "out of memory");
  printf ("Backed up snapshot set %s%s%s (%zu volume%s) to %s: %s read, %s "
          "written, %s skipped in %.1f s (%s/s).\n", sb->set_id,
          *sb->since ? " since " : "", sb->since, sb->n, sb->n == 1 ? "" : "s",
          sb->dir, humansize_format (rd, r, sizeof r),
          humansize_format (wr, w, sizeof w),
          humansize_format (sk, s, sizeof s), secs,
          humansize_format (secs > 0 ? (uint64_t) (rd / secs) : 0, rt,
                            sizeof rt));
  out_table_print (t);
  out_table_free (t);
  return CTL_EXIT_OK;
}

/* Steps 1 to 6.  0, or -1 after reporting the failure. */
static int
steps (struct set_backup *sb)
{
  size_t i, failed;
  bool incremental;

  if (get_set (sb) == -1 ||
      (*sb->since && (check_since (sb) == -1 || get_pairs (sb) == -1)))
    return -1;
  for (i = 0; i < sb->n; i++)
    if (backup_coord_volume (sb->ctl, sb->m[i].pv, sb->m[i].uuid,
                             &sb->m[i].size) == -1)
      return -1;
  if (backup_make_tag (sb->tag) == -1)
    return ctl_error (sb->ctl, CTL_EXIT_FAILURE, "getrandom: %s",
                      strerror (errno)), -1;
  if (backup_set_hold (sb->ctl, sb->set_id, sb->tag, sb->hold_expires) == -1)
    return -1;
  sb->held = true;
  if (*sb->since) {
    if (backup_set_hold (sb->ctl, sb->since, sb->tag, sb->hold_expires) == -1)
      return -1;
    sb->held_since = true;
  }
  if (make_dir (sb->ctl, sb->dir) == -1)
    return -1;
  for (i = 0; i < sb->n; i++) {
    struct member *m = &sb->m[i];
    char manifest[PATH_MAX + sizeof MANIFEST_SUFFIX];
    char sub[PATH_MAX];

    snprintf (sub, sizeof sub, "%s/%s", sb->dir, m->provider);
    if (make_dir (sb->ctl, sub) == -1)
      return -1;
    /* No image yet: a full copy, whatever set.diff says. */
    snprintf (manifest, sizeof manifest, "%s" MANIFEST_SUFFIX, m->image);
    incremental = *m->from && access (manifest, F_OK) == 0;
    if (!incremental)
      m->from[0] = '\0';
  }
  if (write_set_manifest (sb, false) == -1)
    return -1;
  sb->workers = sb->connections < sb->n ? sb->connections : sb->n;
  if (sb->workers == 0)
    sb->workers = 1;
  failed = run_members (sb);
  if (backup_stopped ())
    return ctl_error (sb->ctl, CTL_EXIT_FAILURE, "interrupted by signal %d: "
                      "%s records an incomplete backup of set %s",
                      backup_stopped (), sb->manifest, sb->set_id), -1;
  if (failed > 0)
    return ctl_error (sb->ctl, CTL_EXIT_FAILURE, "%zu of %zu volumes failed: "
                      "%s records an incomplete backup of set %s", failed,
                      sb->n, sb->manifest, sb->set_id), -1;
  return write_set_manifest (sb, true);
}

static void
release (struct set_backup *sb)
{
  const char *ids[2] = { sb->held ? sb->set_id : NULL,
                         sb->held_since ? sb->since : NULL };
  int i;

  for (i = 0; i < 2; i++)
    if (ids[i] && backup_set_release (sb->ctl, ids[i], sb->tag) == -1)
      log_warnx ("%s: the hold %s on snapshot set %s stays until it expires "
                 "(or snapvolctl set release %s %s)", sb->ctl->command,
                 sb->tag, ids[i], ids[i], sb->tag);
  sb->held = sb->held_since = false;
}

int
ctl_set_backup (struct ctl *ctl, const struct ctl_args *a)
{
  struct set_backup sb = { .ctl = ctl, .dir = a->argv[1],
                           .lock = PTHREAD_MUTEX_INITIALIZER };
  char set_id[UUID_STRLEN + 1];
  struct backup_signals old;
  int r;

  if (parse_id (ctl, "SET", a->argv[0], set_id) == -1 ||
      (a->opt[OPT_SINCE] &&
       parse_id (ctl, "--since", a->opt[OPT_SINCE], sb.since) == -1) ||
      backup_parse_connections (ctl, a->opt[OPT_CONNECTIONS],
                                &sb.connections) == -1 ||
      backup_parse_hold_expires (ctl, a->opt[OPT_HOLD_EXPIRES],
                                 &sb.hold_expires) == -1)
    return CTL_EXIT_USAGE;
  sb.set_id = set_id;
  sb.quiet = a->opt[OPT_QUIET] != NULL;
  sb.tls_certificates = a->opt[OPT_NBD_TLS];
  if ((size_t) snprintf (sb.manifest, sizeof sb.manifest, "%s/" SET_MANIFEST,
                         sb.dir) >= sizeof sb.manifest)
    return ctl_usage_error (ctl, "DIR '%s' is too long", sb.dir);
  clock_gettime (CLOCK_MONOTONIC, &sb.t0);
  backup_catch_signals (&old);
  r = steps (&sb);
  release (&sb);
  backup_restore_signals (&old);
  r = r == 0 ? print_summary (&sb) : CTL_EXIT_FAILURE;
  json_decref (sb.set);
  free (sb.m);
  return r;
}

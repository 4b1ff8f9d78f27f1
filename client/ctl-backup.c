/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * ctl-backup.c: snapvolctl backup: a snapshot to a file, to an NBD
 * export, or to a volume of another snapvol server (replication), in
 * full or since an earlier snapshot (docs/backup.md).
 *
 * The steps, in order (each failure is reported once and ends the run
 * after the holds are released):
 *   1. resolve SOURCE (and BASE) through the source (below): volume
 *      uuid, snapshot id, set id, size, generation, the export's URI;
 *   2. check DEST: a file's manifest (--since, --resume), a replica's
 *      latest snapshot (--since);
 *   3. hold SOURCE and BASE (tag backup-RANDOM);
 *   4. the ranges: block status (full) or snapshot.diff (--since);
 *   5. a file: mark its manifest in progress before the first write;
 *   6. copy (copy.c), recording the progress in the manifest;
 *   7. a file: its manifest, complete; a replica: a snapshot of it;
 *   8. release the holds (also on failure and on SIGINT/SIGTERM).
 *
 * Two seams keep the steps free of "local or coordinator" tests: the
 * source (struct source_ops: a server's control socket, or the
 * coordinator with PROVIDER/VOLUME and set ids) and a replica
 * destination (struct replica_ops: --dest-socket, or
 * --dest-coordinator).  Steps 2 and 4 to 7 for one volume are
 * backup_volume (backup.h), which snapvolctl set backup
 * (ctl-setbackup.c) runs for every volume of a set.
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

#include "backup.h"
#include "copy.h"
#include "ctl.h"
#include "humansize.h"
#include "log.h"
#include "manifest.h"
#include "output.h"
#include "proto.h"
#include "uuid.h"

/* A hold outlives a crashed backup by this much at most. */
#define HOLD_EXPIRES_DEFAULT_S BACKUP_HOLD_EXPIRES_DEFAULT_S
#define CONNECTIONS_DEFAULT BACKUP_CONNECTIONS_DEFAULT
#define DIFF_PAGE 65536
#define CHECKPOINT_MS 2000
#define REPLICA_PREFIX "replica-of:"
#define PV_MAX (2 * PROTO_NAME_MAX + 1)   /* "PROVIDER/VOLUME" */

enum { OPT_SINCE, OPT_CONNECTIONS, OPT_NBD, OPT_QUIET, OPT_RESUME,
       OPT_DEST_SOCKET, OPT_HOLD_EXPIRES, OPT_DEST_COORDINATOR,
       OPT_NBD_TLS };

struct snap {
  char volume[PV_MAX + 1];      /* VOLUME, or PROVIDER/VOLUME */
  char id[UUID_STRLEN + 1];
  char set_id[UUID_STRLEN + 1];
  uint64_t size, generation;
  char uri[2048];               /* through the coordinator: its export */
};

struct backup;

/* Where the snapshots come from.  Each function reports its own
 * errors through b->ctl. */
struct source_ops {
  /* The snapshot ID (a snapshot or set id) of VOLUME into b->src, and
   * the volume's uuid into b->volume_uuid.  0, or -1. */
  int (*resolve) (struct backup *b, const char *volume, const char *id);
  /* The snapshot of VOLUME (NULL: of any volume) whose id or set id
   * is ID, into OUT.  0; 1 if there is none; -1. */
  int (*find) (struct backup *b, const char *volume, const char *id,
               struct snap *out);
  /* The NBD URI of b->src (OVERRIDE: --nbd).  NULL after an error. */
  char *(*export_uri) (struct backup *b, const char *override);
  /* How snapshot.diff, set.hold and the others are called. */
  json_t *(*call) (struct ctl *ctl, const char *method, json_t *params);
  /* Hold and release S with b->tag. */
  int (*hold) (struct backup *b, const struct snap *s);
  int (*release) (struct backup *b, const struct snap *s);
};

/* A destination that is a volume of another snapvol server. */
struct replica_ops {
  /* DEST's syntax.  0, or -1 after a usage error. */
  int (*check) (struct backup *b);
  /* The newest snapshot of the destination volume: its id and label.
   * 0; 1 if it has none; -1. */
  int (*latest) (struct backup *b, char id[UUID_STRLEN + 1], char *label,
                 size_t len);
  /* The volume's NBD URI, to write to.  NULL after an error. */
  char *(*uri) (struct backup *b);
  /* A snapshot of the volume labelled LABEL.  0, or -1. */
  int (*snapshot) (struct backup *b, const char *label);
};

struct backup {
  struct ctl *ctl;
  const struct source_ops *source;
  struct ctl dest_ctl;          /* --dest-socket, --dest-coordinator */
  const struct replica_ops *replica;    /* NULL: not a replica */
  const char *dest;             /* the file, URI or replica volume */
  bool dest_is_uri;
  bool quiet, resume;
  unsigned connections;
  int64_t hold_expires;
  const char *tls_certificates; /* --nbd-tls-certificates */
  char volume_uuid[UUID_STRLEN + 1];
  struct snap src, base;
  json_t *snap_list;            /* snapshot.list of snap_list_volume */
  char snap_list_volume[PV_MAX + 1];
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

void
backup_catch_signals (struct backup_signals *old)
{
  struct sigaction sa = { .sa_handler = on_signal };

  sigemptyset (&sa.sa_mask);
  sigaction (SIGINT, &sa, &old->sigint);
  sigaction (SIGTERM, &sa, &old->sigterm);
}

void
backup_restore_signals (const struct backup_signals *old)
{
  sigaction (SIGINT, &old->sigint, NULL);
  sigaction (SIGTERM, &old->sigterm, NULL);
}

int
backup_stopped (void)
{
  return stop_signal;
}

static double
seconds_since (const struct timespec *t0)
{
  struct timespec now;

  clock_gettime (CLOCK_MONOTONIC, &now);
  return (now.tv_sec - t0->tv_sec) + (now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* 1. SOURCE and BASE: the control socket. */

/* snapshot.list of VOLUME (NULL: of every volume).  The list of the
 * source's volume is kept for the run: SOURCE and BASE are looked up
 * in one answer, since each snapshot.list costs the server a scan of
 * the volume's extent map for its space columns. */
static json_t *
local_list (struct backup *b, const char *volume)
{
  json_t *list;

  if (volume && b->snap_list && strcmp (b->snap_list_volume, volume) == 0)
    return json_incref (b->snap_list);
  list = ctl_call (b->ctl, "snapshot.list",
                   volume ? json_pack ("{s:s}", "volume", volume)
                   : json_object ());
  if (list == NULL)
    return NULL;
  if (!json_is_array (list)) {
    json_decref (list);
    return ctl_bad_answer (b->ctl, "the result is not an array"), NULL;
  }
  if (volume && b->snap_list == NULL) {
    snprintf (b->snap_list_volume, sizeof b->snap_list_volume, "%s", volume);
    b->snap_list = json_incref (list);
  }
  return list;
}

static int
local_find (struct backup *b, const char *volume, const char *id,
            struct snap *out)
{
  json_t *list = local_list (b, volume);
  json_t *s;
  size_t i;
  int r = 1;

  if (list == NULL)
    return -1;
  json_array_foreach (list, i, s) {
    if (strcasecmp (out_str (s, "id"), id) != 0 &&
        strcasecmp (out_str (s, "set_id"), id) != 0)
      continue;
    memset (out, 0, sizeof *out);
    snprintf (out->volume, sizeof out->volume, "%s", out_str (s, "volume"));
    snprintf (out->id, sizeof out->id, "%s", out_str (s, "id"));
    snprintf (out->set_id, sizeof out->set_id, "%s", out_str (s, "set_id"));
    out->size = out_u64 (s, "size");
    out->generation = out_u64 (s, "generation");
    r = 0;
    break;
  }
  json_decref (list);
  return r;
}

static int
local_resolve (struct backup *b, const char *volume, const char *id)
{
  json_t *vols;
  int r = local_find (b, volume, id, &b->src);

  if (r == 1)
    ctl_error (b->ctl, CTL_EXIT_FAILURE, "volume %s has no snapshot %s",
               volume, id);
  if (r != 0)
    return -1;
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

static char *
local_export_uri (struct backup *b, const char *override)
{
  char export[PV_MAX + UUID_STRLEN + 2];

  snprintf (export, sizeof export, "%s@%s", b->src.volume, b->src.id);
  return export_uri (b->ctl, override, export, "source");
}

static int
local_hold (struct backup *b, const struct snap *s)
{
  json_t *res = ctl_call (b->ctl, "snapshot.hold",
                          json_pack ("{s:s, s:s, s:I}", "id", s->id,
                                     "tag", b->tag, "expires_in",
                                     (json_int_t) b->hold_expires));

  json_decref (res);
  return res ? 0 : -1;
}

static int
local_release (struct backup *b, const struct snap *s)
{
  json_t *res = ctl_call (b->ctl, "snapshot.release",
                          json_pack ("{s:s, s:s}", "id", s->id,
                                     "tag", b->tag));

  json_decref (res);
  return res ? 0 : -1;
}

static const struct source_ops local_source = {
  local_resolve, local_find, local_export_uri, ctl_call, local_hold,
  local_release,
};

/* 1. SOURCE and BASE: the coordinator.  A snapshot is found in the
 * committed sets of set.list, by its own id or its set's; it is held
 * by holding its whole set (set.hold), the one way the coordinator
 * holds. */

/* The committed sets, newest first.  NULL after a reported error. */
static json_t *
coord_sets (struct ctl *ctl)
{
  json_t *sets = ctl_coord_call (ctl, "set.list",
                                 json_pack ("{s:s}", "state", "committed"));

  if (sets != NULL && !json_is_array (sets)) {
    json_decref (sets);
    ctl_bad_answer (ctl, "set.list's result is not an array");
    return NULL;
  }
  return sets;
}

/* "PROVIDER/VOLUME" of snapshot S of a set object. */
static const char *
snap_pv (json_t *s, char pv[PV_MAX + 1])
{
  snprintf (pv, PV_MAX + 1, "%s/%s", out_str (s, "provider"),
            out_str (s, "volume"));
  return pv;
}

static int
coord_find (struct backup *b, const char *volume, const char *id,
            struct snap *out)
{
  json_t *sets = coord_sets (b->ctl), *set, *s;
  char pv[PV_MAX + 1];
  size_t i, k;
  int r = 1;

  if (sets == NULL)
    return -1;
  json_array_foreach (sets, i, set) {
    bool is_set = strcasecmp (out_str (set, "set_id"), id) == 0;

    json_array_foreach (json_object_get (set, "snapshots"), k, s) {
      if ((!is_set && strcasecmp (out_str (s, "id"), id) != 0) ||
          (volume && strcmp (snap_pv (s, pv), volume) != 0))
        continue;
      memset (out, 0, sizeof *out);
      snprintf (out->volume, sizeof out->volume, "%s", snap_pv (s, pv));
      snprintf (out->id, sizeof out->id, "%s", out_str (s, "id"));
      snprintf (out->set_id, sizeof out->set_id, "%s",
                out_str (set, "set_id"));
      snprintf (out->uri, sizeof out->uri, "%s", out_str (s, "uri"));
      out->generation = out_u64 (s, "generation");
      r = 0;
      goto out;
    }
    if (is_set && volume) {
      ctl_error (b->ctl, CTL_EXIT_FAILURE, "snapshot set %s has no "
                 "snapshot of %s", id, volume);
      r = -1;
      goto out;
    }
  }
 out:
  json_decref (sets);
  return r;
}

/* Why PROVIDER (of PV) has no volume in volume.list, from
 * provider.list. */
static void
coord_no_volume (struct ctl *ctl, const char *pv)
{
  const char *slash = strchr (pv, '/');
  json_t *list = ctl_coord_call (ctl, "provider.list", json_object ());
  json_t *p = NULL, *each;
  size_t i;

  if (list == NULL)
    return;
  json_array_foreach (list, i, each)
    if (strncmp (out_str (each, "name"), pv, slash - pv) == 0 &&
        out_str (each, "name")[slash - pv] == '\0') {
      p = each;
      break;
    }
  if (p == NULL)
    ctl_error (ctl, CTL_EXIT_FAILURE, "no provider named %.*s",
               (int) (slash - pv), pv);
  else if (!json_is_true (json_object_get (p, "connected")))
    ctl_error (ctl, CTL_EXIT_FAILURE, "provider %.*s is not connected",
               (int) (slash - pv), pv);
  else
    ctl_error (ctl, CTL_EXIT_FAILURE, "provider %.*s has no volume %s",
               (int) (slash - pv), pv, slash + 1);
  json_decref (list);
}

int
backup_coord_volume (struct ctl *ctl, const char *pv,
                     char uuid[UUID_STRLEN + 1], uint64_t *size)
{
  json_t *list = ctl_coord_call (ctl, "volume.list", json_object ());
  json_t *v = NULL, *each;
  char name[PV_MAX + 1];
  size_t i;

  if (list == NULL)
    return -1;
  json_array_foreach (list, i, each)
    if (strcmp (snap_pv (each, name), pv) == 0) {
      v = each;
      break;
    }
  if (v == NULL) {
    json_decref (list);
    coord_no_volume (ctl, pv);
    return -1;
  }
  snprintf (uuid, UUID_STRLEN + 1, "%s", out_str (v, "uuid"));
  *size = out_u64 (v, "size");
  json_decref (list);
  if (strlen (uuid) != UUID_STRLEN)
    return ctl_bad_answer (ctl, "volume.list gave no uuid"), -1;
  return 0;
}

static int
coord_resolve (struct backup *b, const char *volume, const char *id)
{
  uint64_t size;
  int r;

  if (backup_coord_volume (b->ctl, volume, b->volume_uuid, &size) == -1)
    return -1;
  r = coord_find (b, volume, id, &b->src);
  if (r == 1)
    ctl_error (b->ctl, CTL_EXIT_FAILURE, "volume %s has no snapshot %s (no "
               "committed snapshot set or snapshot of it has that id)",
               volume, id);
  if (r != 0)
    return -1;
  /* Volumes keep their size: a snapshot has its volume's. */
  b->src.size = size;
  return 0;
}

static char *
coord_export_uri (struct backup *b, const char *override)
{
  char export[PV_MAX + UUID_STRLEN + 2];
  char *uri;

  if (override == NULL) {
    uri = strdup (b->src.uri);
    if (uri == NULL)
      ctl_error (b->ctl, CTL_EXIT_FAILURE, "out of memory");
    return uri;
  }
  snprintf (export, sizeof export, "%s@%s", strchr (b->src.volume, '/') + 1,
            b->src.id);
  uri = proto_export_uri (override, export);
  if (uri == NULL)
    ctl_error (b->ctl, CTL_EXIT_FAILURE, "out of memory");
  return uri;
}

int
backup_set_hold (struct ctl *ctl, const char *set_id, const char *tag,
                 int64_t expires)
{
  json_t *res = ctl_coord_call (ctl, "set.hold",
                                json_pack ("{s:s, s:s, s:I}", "set_id",
                                           set_id, "tag", tag, "expires_in",
                                           (json_int_t) expires));

  json_decref (res);
  return res ? 0 : -1;
}

int
backup_set_release (struct ctl *ctl, const char *set_id, const char *tag)
{
  json_t *res = ctl_coord_call (ctl, "set.release",
                                json_pack ("{s:s, s:s}", "set_id", set_id,
                                           "tag", tag));

  json_decref (res);
  return res ? 0 : -1;
}

static int
coord_hold (struct backup *b, const struct snap *s)
{
  return backup_set_hold (b->ctl, s->set_id, b->tag, b->hold_expires);
}

static int
coord_release (struct backup *b, const struct snap *s)
{
  return backup_set_release (b->ctl, s->set_id, b->tag);
}

static const struct source_ops coord_source = {
  coord_resolve, coord_find, coord_export_uri, ctl_coord_call, coord_hold,
  coord_release,
};

/* "VOLUME@ID" into VOLUME and ID (canonical).  -1 after a usage error. */
static int
split_source (struct backup *b, const char *arg, char *volume, size_t vlen,
              char id[UUID_STRLEN + 1])
{
  const char *at = strrchr (arg, '@');
  struct uuid u;

  if (at == NULL || at == arg || (size_t) (at - arg) >= vlen ||
      uuid_parse (at + 1, &u) == -1)
    return ctl_usage_error (b->ctl, "invalid SOURCE '%s': expected %s@ID "
                            "(ID: a snapshot or set UUID)", arg,
                            b->source == &coord_source ? "PROVIDER/VOLUME"
                            : "VOLUME"), -1;
  snprintf (volume, vlen, "%.*s", (int) (at - arg), arg);
  uuid_format (&u, id);
  if (b->source == &coord_source && ctl_check_pv (b->ctl, volume) == -1)
    return -1;
  return 0;
}

static int
resolve_source (struct backup *b, const char *source)
{
  char volume[PV_MAX + 1], id[UUID_STRLEN + 1];

  if (split_source (b, source, volume, sizeof volume, id) == -1)
    return -1;
  return b->source->resolve (b, volume, id);
}

static int
resolve_base (struct backup *b, const char *arg)
{
  struct uuid u;
  char id[UUID_STRLEN + 1];
  struct snap other;
  int r;

  if (uuid_parse (arg, &u) == -1)
    return ctl_usage_error (b->ctl, "invalid --since '%s': expected a "
                            "snapshot or set UUID", arg), -1;
  uuid_format (&u, id);
  r = b->source->find (b, b->src.volume, id, &b->base);
  if (r == -1)
    return -1;
  if (r == 1) {
    r = b->source->find (b, NULL, id, &other);
    if (r == 0)
      ctl_error (b->ctl, CTL_EXIT_FAILURE, "--since %s is a snapshot of "
                 "volume %s, not %s", id, other.volume, b->src.volume);
    else if (r == 1)
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

/* 2. The destination. */

static bool
is_nbd_uri (const char *s)
{
  return strncmp (s, "nbd://", 6) == 0 || strncmp (s, "nbds://", 7) == 0 ||
    strncmp (s, "nbd+unix://", 11) == 0 || strncmp (s, "nbds+unix://", 12) == 0;
}

/* A replica on another server's control socket (--dest-socket). */

static int
socket_check (struct backup *b)
{
  if (!proto_is_name (b->dest))
    return ctl_usage_error (b->ctl, "invalid DEST '%s': with --dest-socket "
                            "DEST is a volume name", b->dest), -1;
  return 0;
}

static int
socket_latest (struct backup *b, char id[UUID_STRLEN + 1], char *label,
               size_t len)
{
  json_t *list = ctl_call (&b->dest_ctl, "snapshot.list",
                           json_pack ("{s:s}", "volume", b->dest));
  json_t *s, *latest = NULL;
  size_t i;

  if (list == NULL)
    return -1;
  json_array_foreach (list, i, s)
    if (latest == NULL ||
        out_u64 (s, "generation") > out_u64 (latest, "generation"))
      latest = s;
  if (latest != NULL) {
    snprintf (id, UUID_STRLEN + 1, "%s", out_str (latest, "id"));
    snprintf (label, len, "%s", out_str (latest, "label"));
  }
  json_decref (list);
  return latest ? 0 : 1;
}

static char *
socket_uri (struct backup *b)
{
  return export_uri (&b->dest_ctl, NULL, b->dest, "destination");
}

static int
socket_snapshot (struct backup *b, const char *label)
{
  json_t *res = ctl_call (&b->dest_ctl, "snapshot.create",
                          json_pack ("{s:[s], s:s}", "volumes", b->dest,
                                     "label", label));

  json_decref (res);
  return res ? 0 : -1;
}

static const struct replica_ops socket_replica = {
  socket_check, socket_latest, socket_uri, socket_snapshot,
};

/* A replica through a coordinator (--dest-coordinator): DEST is
 * PROVIDER/VOLUME, written through the provider's nbd_uri; its
 * snapshots are sets of that one volume, its latest the newest
 * committed set that has it. */

static int
coord_dest_check (struct backup *b)
{
  return ctl_check_pv (&b->dest_ctl, b->dest);
}

static int
coord_dest_latest (struct backup *b, char id[UUID_STRLEN + 1], char *label,
                   size_t len)
{
  json_t *sets = coord_sets (&b->dest_ctl), *set, *s;
  char pv[PV_MAX + 1];
  size_t i, k;
  int r = 1;

  if (sets == NULL)
    return -1;
  json_array_foreach (sets, i, set)
    json_array_foreach (json_object_get (set, "snapshots"), k, s)
      if (r == 1 && strcmp (snap_pv (s, pv), b->dest) == 0) {
        snprintf (id, UUID_STRLEN + 1, "%s", out_str (s, "id"));
        snprintf (label, len, "%s", out_str (set, "label"));
        r = 0;
      }
  json_decref (sets);
  return r;
}

static char *
coord_dest_uri (struct backup *b)
{
  const char *slash = strchr (b->dest, '/');
  char uuid[UUID_STRLEN + 1];
  uint64_t size;
  json_t *list, *p;
  char *uri = NULL;
  bool found = false;
  size_t i;

  /* The volume exists (or the error says which part does not). */
  if (backup_coord_volume (&b->dest_ctl, b->dest, uuid, &size) == -1)
    return NULL;
  list = ctl_coord_call (&b->dest_ctl, "provider.list", json_object ());
  json_array_foreach (list, i, p)
    if (strncmp (out_str (p, "name"), b->dest, slash - b->dest) == 0 &&
        out_str (p, "name")[slash - b->dest] == '\0' &&
        json_is_string (json_object_get (p, "nbd_uri"))) {
      found = true;
      uri = proto_export_uri (out_str (p, "nbd_uri"), slash + 1);
      if (uri == NULL)
        ctl_error (b->ctl, CTL_EXIT_FAILURE, "out of memory");
      break;
    }
  if (list != NULL && !found)
    ctl_bad_answer (&b->dest_ctl, "provider.list lacks the provider of "
                    "volume.list");
  json_decref (list);
  return uri;
}

static int
coord_dest_snapshot (struct backup *b, const char *label)
{
  struct ctl c = b->dest_ctl;
  json_t *res;

  if (!c.timeout_given)
    c.timeout_ms = CTL_SET_CREATE_TIMEOUT_S * 1000;
  /* "none": a replica has no writer of its own to freeze; what wrote
   * it is this copy, finished and flushed. */
  res = ctl_coord_call (&c, "set.create",
                        json_pack ("{s:[s], s:s, s:s}", "volumes", b->dest,
                                   "label", label, "writers", "none"));
  json_decref (res);
  return res ? 0 : -1;
}

static const struct replica_ops coord_replica = {
  coord_dest_check, coord_dest_latest, coord_dest_uri, coord_dest_snapshot,
};

/* --since on a replica: the destination volume's latest snapshot must
 * be the replica of BASE. */
static int
check_replica_base (struct backup *b)
{
  char want[sizeof REPLICA_PREFIX + UUID_STRLEN];
  char id[UUID_STRLEN + 1], label[512];
  int r = b->replica->latest (b, id, label, sizeof label);

  if (r == -1)
    return -1;
  snprintf (want, sizeof want, REPLICA_PREFIX "%s", b->base.id);
  if (r == 1)
    return ctl_error (b->ctl, CTL_EXIT_FAILURE, "--since %s: the destination "
                      "volume %s has no snapshot, so no replica of it",
                      b->base.id, b->dest), -1;
  if (strcmp (label, want) != 0)
    return ctl_error (b->ctl, CTL_EXIT_FAILURE, "--since %s: the latest "
                      "snapshot of the destination volume %s is %s (label "
                      "\"%s\"), not the replica of %s", b->base.id, b->dest,
                      id, label, b->base.id), -1;
  return 0;
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
    if (b->replica->check (b) == -1)
      return -1;
    if (b->resume)
      return ctl_usage_error (b->ctl, "--resume needs a file destination (the"
                              " progress is kept in its manifest)"), -1;
    if (b->since && check_replica_base (b) == -1)
      return -1;
    b->dst_uri = b->replica->uri (b);
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

/* Release our holds; a failure is a warning (the expiry ends them). */
static void
release_holds (struct backup *b)
{
  const struct snap *held[2] = { b->held_src ? &b->src : NULL,
                                 b->held_base ? &b->base : NULL };
  int i;

  for (i = 0; i < 2; i++)
    if (held[i] && b->source->release (b, held[i]) == -1)
      log_warnx ("%s: the hold %s on %s stays until it expires",
                 b->ctl->command, b->tag, b->source == &coord_source
                 ? held[i]->set_id : held[i]->id);
  b->held_src = b->held_base = false;
}

int
backup_make_tag (char tag[32])
{
  unsigned char r[6];
  int i;

  if (getrandom (r, sizeof r, 0) != (ssize_t) sizeof r)
    return -1;
  i = snprintf (tag, 32, "backup-");
  for (size_t k = 0; k < sizeof r; k++)
    i += snprintf (tag + i, 32 - i, "%02x", r[k]);
  return 0;
}

static int
take_holds (struct backup *b)
{
  if (backup_make_tag (b->tag) == -1)
    return ctl_error (b->ctl, CTL_EXIT_FAILURE, "getrandom: %s",
                      strerror (errno)), -1;
  if (b->source->hold (b, &b->src) == -1)
    return -1;
  b->held_src = true;
  if (b->since) {
    if (b->source->hold (b, &b->base) == -1)
      return -1;
    b->held_base = true;
  }
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
    json_t *res = b->source->call (b->ctl, "snapshot.diff",
                                   json_pack ("{s:s, s:s, s:s, s:I, s:i}",
                                              "volume", b->src.volume,
                                              "from", b->base.id,
                                              "to", b->src.id,
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
  else if (copy_map (b->src_uri, b->tls_certificates, b->src.size, &raw, &n,
                     err, sizeof err) == -1)
    return ctl_error (b->ctl, CTL_EXIT_FAILURE, "%s", err), -1;
  /* An incremental of a volume nothing wrote has no ranges, and raw
   * stays NULL: copy_align takes a non-NULL array even when N is 0. */
  b->ranges = copy_align (raw ? raw : &(struct copy_range) { 0 }, n,
                          b->src.size, &b->nranges);
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
    .tls_certificates = b->tls_certificates,
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

  snprintf (label, sizeof label, REPLICA_PREFIX "%s", b->src.id);
  return b->replica->snapshot (b, label);
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

int
backup_parse_connections (struct ctl *ctl, const char *arg, unsigned *out)
{
  char *end;
  long v;

  *out = CONNECTIONS_DEFAULT;
  if (arg == NULL)
    return 0;
  errno = 0;
  v = strtol (arg, &end, 10);
  if (errno || end == arg || *end || v < 1 || v > COPY_MAX_CONNECTIONS)
    return ctl_usage_error (ctl, "invalid --connections '%s': expected 1 to "
                            "%d", arg, COPY_MAX_CONNECTIONS), -1;
  *out = v;
  return 0;
}

int
backup_parse_hold_expires (struct ctl *ctl, const char *arg, int64_t *out)
{
  char *end;
  long v;

  *out = HOLD_EXPIRES_DEFAULT_S;
  if (arg == NULL)
    return 0;
  errno = 0;
  v = strtol (arg, &end, 10);
  if (errno || end == arg || *end || v < 1 || v > 365L * 86400)
    return ctl_usage_error (ctl, "invalid --hold-expires '%s': expected "
                            "whole seconds from 1 to %ld", arg, 365L * 86400),
      -1;
  *out = v;
  return 0;
}

static int
parse_options (struct backup *b, const struct ctl_args *a)
{
  if (backup_parse_connections (b->ctl, a->opt[OPT_CONNECTIONS],
                                &b->connections) == -1 ||
      backup_parse_hold_expires (b->ctl, a->opt[OPT_HOLD_EXPIRES],
                                 &b->hold_expires) == -1)
    return -1;
  b->source = b->ctl->coordinator ? &coord_source : &local_source;
  b->quiet = a->opt[OPT_QUIET] != NULL;
  b->resume = a->opt[OPT_RESUME] != NULL;
  b->bar = !b->quiet && isatty (STDERR_FILENO);
  b->tls_certificates = a->opt[OPT_NBD_TLS];
  if (a->opt[OPT_DEST_SOCKET] && a->opt[OPT_DEST_COORDINATOR])
    return ctl_usage_error (b->ctl, "give --dest-socket or "
                            "--dest-coordinator, not both"), -1;
  b->dest_ctl = *b->ctl;
  if (a->opt[OPT_DEST_SOCKET]) {
    b->replica = &socket_replica;
    b->dest_ctl.coordinator = NULL;
    b->dest_ctl.socket = a->opt[OPT_DEST_SOCKET];
  }
  if (a->opt[OPT_DEST_COORDINATOR]) {
    b->replica = &coord_replica;
    b->dest_ctl.socket = NULL;
    b->dest_ctl.coordinator = a->opt[OPT_DEST_COORDINATOR];
    if (ctl_coordinator_settings (&b->dest_ctl) != 0)
      return -1;
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
  json_decref (b->snap_list);
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
  if (resolve_source (b, a->argv[0]) == -1 ||
      (a->opt[OPT_SINCE] && resolve_base (b, a->opt[OPT_SINCE]) == -1))
    return -1;
  b->src_uri = b->source->export_uri (b, a->opt[OPT_NBD]);
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

int
backup_volume (struct ctl *ctl, const struct backup_job *job,
               struct backup_result *res)
{
  struct backup b = {
    .ctl = ctl, .source = &coord_source, .dest = job->image, .fd = -1,
    .sums_fd = -1, .connections = job->connections, .quiet = true,
    .tls_certificates = job->tls_certificates,
  };
  int r;

  memset (res, 0, sizeof *res);
  clock_gettime (CLOCK_MONOTONIC, &b.t0);
  b.last_draw = b.t0;
  snprintf (b.volume_uuid, sizeof b.volume_uuid, "%s", job->volume_uuid);
  snprintf (b.src.volume, sizeof b.src.volume, "%s", job->volume);
  snprintf (b.src.id, sizeof b.src.id, "%s", job->snapshot);
  snprintf (b.src.set_id, sizeof b.src.set_id, "%s", job->set_id);
  b.src.size = job->size;
  b.src.generation = job->generation;
  if (job->since) {
    b.since = true;
    snprintf (b.base.volume, sizeof b.base.volume, "%s", job->volume);
    snprintf (b.base.id, sizeof b.base.id, "%s", job->since);
  }
  b.src_uri = strdup (job->uri);
  r = -1;
  if (b.src_uri == NULL)
    ctl_error (ctl, CTL_EXIT_FAILURE, "out of memory");
  else if (prepare_dest (&b) == 0 && make_ranges (&b) == 0 &&
           open_file_dest (&b) == 0 && run_copy (&b, &res->st) == 0 &&
           finish_file (&b, res->sha256) == 0)
    r = 0;
  res->seconds = seconds_since (&b.t0);
  backup_free (&b);
  return r;
}

static int
backup (struct ctl *ctl, const struct ctl_args *a)
{
  struct backup b = { .ctl = ctl, .dest = a->argv[1], .fd = -1,
                      .sums_fd = -1 };
  struct backup_signals old;
  struct copy_stats st = { 0 };
  char sha[65] = "";
  int r;

  if (parse_options (&b, a) == -1)
    return CTL_EXIT_USAGE;
  clock_gettime (CLOCK_MONOTONIC, &b.t0);
  b.last_draw = b.t0;
  backup_catch_signals (&old);
  r = backup_steps (&b, a, sha, &st);
  release_holds (&b);
  backup_restore_signals (&old);
  if (r == 0)
    r = print_summary (&b, &st, sha);
  else
    r = CTL_EXIT_FAILURE;
  backup_free (&b);
  return r;
}

const struct ctl_command ctl_backup_commands[] = {
  { "backup", "", "SOURCE DEST [--since BASE] [--connections N] [--nbd URI] "
    "[--quiet] [--resume] [--dest-socket SOCKET | --dest-coordinator "
    "HOST:PORT] [--hold-expires SECONDS] [--nbd-tls-certificates DIR]",
    "Copy snapshot SOURCE (VOLUME@ID; with --coordinator PROVIDER/VOLUME@ID, "
    "ID a snapshot or set id) to DEST: a file (raw, sparse, with a manifest "
    "DEST.snapvol.json), an NBD URI, or a volume of another server "
    "(replication: VOLUME with --dest-socket, PROVIDER/VOLUME with "
    "--dest-coordinator); with --since BASE only what changed since "
    "snapshot BASE.",
    2, 2, { "since", "connections", "nbd", "quiet", "resume", "dest-socket",
            "hold-expires", "dest-coordinator", "nbd-tls-certificates",
            NULL },
    backup, (1u << OPT_QUIET) | (1u << OPT_RESUME), CTL_EITHER },
  { NULL },
};

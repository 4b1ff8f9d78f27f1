/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * proto.h: the rules of the protocol's parameters (docs/protocol.md),
 * in one place for the coordinator (coordinator/params.c,
 * coordinator/methods.c) and the providers (plugin/rpc-methods.c): the
 * name and label rules, the limits, and the parameter tables that
 * every request is checked against before anything runs.
 *
 * The engine (server/) keeps its own copy of the name and label rules
 * (sv_check_name, check_label in server/pool.c), since it never
 * depends on the protocol; the rules here must stay the same.
 */

#ifndef SNAPVOL_PROTO_H
#define SNAPVOL_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* Limits of the protocol. */
#define PROTO_NAME_MAX 64               /* provider, volume, writer names */
#define PROTO_LABEL_MAX 256             /* a snapshot (set) label, bytes */
#define PROTO_TAG_MAX 64                /* a snapshot hold's tag, bytes */
#define PROTO_HOLDS_MAX 64              /* holds on one snapshot */
#define PROTO_HOLD_EXPIRES_MAX_S 315360000 /* snapshot.hold's expires_in:
                                         * ten years, in seconds */
#define PROTO_SET_VOLUMES_MAX 1024      /* volumes of a set or a hold */
#define PROTO_HOLD_TIMEOUT_MAX_MS 60000 /* hold.begin's timeout_ms */
#define PROTO_HOLD_WAIT_MAX_MS 60000    /* hold.begin's wait_ms */
#define PROTO_FREEZE_WINDOW_MIN_MS 1000
#define PROTO_FREEZE_WINDOW_MAX_MS 600000
#define PROTO_FREEZE_TIMEOUT_MIN_MS 100 /* writer.register */
#define PROTO_FREEZE_TIMEOUT_MAX_MS 600000
/* snapshot.diff's max_ranges: the range, the default, and the most
 * ranges one answer carries whatever max_ranges asks, so that the
 * answer fits in JSONRPC_MAX_MESSAGE (a range is at most 75 bytes of
 * compact JSON: two 19-digit integers). */
#define PROTO_DIFF_RANGES_MAX 65536
#define PROTO_DIFF_RANGES_DEFAULT 4096
#define PROTO_DIFF_RANGES_PER_ANSWER 12288
/* policy.set: keep_last, keep_daily, keep_weekly at most, and
 * keep_younger at most (a hundred years, in seconds). */
#define PROTO_KEEP_MAX 1000000
#define PROTO_KEEP_YOUNGER_MAX_S 3153600000
/* coordinator.status: the newest sets it lists (its "sets" parameter:
 * at most, and by default), and the most queued deletions, releases
 * and undos it lists among its failures. */
#define PROTO_STATUS_SETS_MAX 100
#define PROTO_STATUS_SETS_DEFAULT 5
#define PROTO_STATUS_QUEUED_MAX 100
/* The label of the snapshots an undoable revert pins (hold.revert's
 * undo set): a set no coordinator commits. */
#define PROTO_REVERT_UNDO_LABEL "revert-undo"

/* What a parameter must be. */
enum proto_type {
  PROTO_STRING,         /* MIN..MAX bytes, no NUL */
  PROTO_LABEL,          /* 0..PROTO_LABEL_MAX bytes, no control character */
  PROTO_NAME,           /* a provider or volume name */
  PROTO_WRITER_NAME,    /* a writer name */
  PROTO_INT,            /* an integer in MIN..MAX */
  PROTO_UUID,           /* a UUID in text form */
  PROTO_TAG,            /* a snapshot hold's tag (proto_check_tag) */
  PROTO_NAMES,          /* an array of MIN..MAX distinct strings of 1 to
                         * PROTO_NAME_MAX bytes (the engine checks the
                         * name rule and names the volume) */
  PROTO_ANY,            /* checked by the method itself */
};

struct proto_param {
  const char *name;
  enum proto_type type;
  bool required;
  json_int_t min, max;
};
#define PROTO_END_PARAMS { NULL, 0, false, 0, 0 }

/* The parameters of snapshot.diff, which the coordinator passes on to
 * a provider: one table for both. */
extern const struct proto_param proto_snapshot_diff_params[];

/* Check PARAMS (NULL when the request had none) against TABLE: an
 * object whose members are all in TABLE, with the required ones
 * present and each of its type.  -1 with a message naming the member
 * in WHY (the caller answers -32602 with it); never allocates. */
extern int proto_check_params (json_t *params, const struct proto_param *table,
                               char *why, size_t len)
  __attribute__((nonnull (2, 3)));

/* Check that V is a string of MIN..MAX bytes without a NUL (C strings
 * must agree with JSON).  -1 with a message naming MEMBER in WHY. */
extern int proto_check_string (const char *member, json_t *v, json_int_t min,
                               json_int_t max, char *why, size_t len)
  __attribute__((nonnull (1, 5)));

/* Check S against the name rule: 1 to PROTO_NAME_MAX bytes of A-Z a-z
 * 0-9 . _ -, not starting with '.' unless DOT_OK (writer names).  0, or
 * -1 with a message naming WHAT ("volume name") and the fault in WHY. */
extern int proto_check_name (const char *what, const char *s, bool dot_ok,
                             char *why, size_t len)
  __attribute__((nonnull));

/* Whether S is a provider or volume name: 1 to PROTO_NAME_MAX bytes of
 * A-Z a-z 0-9 . _ -, not starting with '.'. */
extern bool proto_is_name (const char *s) __attribute__((nonnull));
/* Whether S is a writer name: 1 to PROTO_NAME_MAX bytes of
 * A-Z a-z 0-9 . _ - (it may start with '.'). */
extern bool proto_is_writer_name (const char *s) __attribute__((nonnull));

/* Check the label S of LEN bytes: at most PROTO_LABEL_MAX bytes, no
 * NUL, no control character (bytes 0x00-0x1f and 0x7f).  -1 with a
 * message naming MEMBER in WHY. */
extern int proto_check_label (const char *member, const char *s, size_t len,
                              char *why, size_t whylen)
  __attribute__((nonnull));

/* The NBD URI of EXPORT on a server reached at NBD_URI (a provider's
 * nbd_uri, pool.info's nbd_uri): the export name becomes the path,
 * before any query ("nbd+unix:///?socket=P" ->
 * "nbd+unix:///EXPORT?socket=P").  The caller frees the result; NULL
 * with errno ENOMEM. */
extern char *proto_export_uri (const char *nbd_uri, const char *export)
  __attribute__((nonnull));

/* Check the hold tag S against the tag rule: 1 to PROTO_TAG_MAX bytes
 * of A-Z a-z 0-9 . _ : @ -.  0, or -1 with a message naming MEMBER and
 * the fault in WHY. */
extern int proto_check_tag (const char *member, const char *s, char *why,
                            size_t len)
  __attribute__((nonnull));

#endif /* SNAPVOL_PROTO_H */

/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * ctl-coord.c: snapvolctl's commands to snapvol-coordinator (the
 * requester and admin roles of docs/protocol.md, Part 2): snapshot
 * sets, writers, providers and the volumes they serve.
 *
 * Each command is one call on a new TLS connection.  Errors of the
 * coordinator are printed as one line naming the code's meaning; a
 * failed snapshot set adds one line per participant.
 */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "humansize.h"
#include "jsonrpc.h"
#include "log.h"
#include "output.h"
#include "proto.h"
#include "rpcconn.h"
#include "tls.h"
#include "uuid.h"

#define CONNECT_TIMEOUT_MS 10000

/* What an error code of docs/protocol.md, Parts 1 and 2, means. */
static const char *
code_meaning (int code)
{
  switch (code) {
  case JSONRPC_PARSE_ERROR: return "parse error";
  case JSONRPC_INVALID_REQUEST: return "invalid request";
  case JSONRPC_METHOD_NOT_FOUND: return "method not found";
  case JSONRPC_INVALID_PARAMS: return "invalid params";
  case JSONRPC_INTERNAL_ERROR: return "internal error";
  case SV_RPC_NOT_FOUND: return "not found";
  case SV_RPC_EXISTS: return "exists";
  case SV_RPC_BUSY: return "busy";
  case SV_RPC_IO_ERROR: return "I/O error";
  case SV_RPC_NO_SPACE: return "no space";
  case SV_RPC_EXPIRED: return "expired";
  case SV_RPC_FORBIDDEN: return "forbidden";
  case SV_RPC_TIMEOUT: return "timeout";
  case SV_RPC_NOT_REGISTERED: return "not registered";
  case SV_RPC_SET_FAILED: return "snapshot set failed";
  case SV_RPC_NAME_BOUND: return "name bound to another certificate";
  case SV_RPC_NOT_LEADER: return "not the leader";
  case SV_RPC_STALE_TERM: return "stale term";
  default: return "error";
  }
}

/* TEXT with control characters replaced, into BUF. */
static const char *
one_line (const char *text, char *buf, size_t len)
{
  char *p;

  snprintf (buf, len, "%s", text ? text : "");
  for (p = buf; *p; p++)
    if ((unsigned char) *p < 0x20 || *p == 0x7f)
      *p = '?';
  return buf;
}

/* The coordinator answered with an error: one line on stderr naming
 * the code's meaning, and with --json the error object on stdout; but
 * a failed snapshot set is a set, with its participants' states: it
 * gets one more line per participant, and with --json the set object
 * (state "failed", with its reason) instead of the error object. */
static void
report_error (struct ctl *ctl, int code, const char *message, json_t *data)
{
  json_t *participants = json_object_get (data, "participants"), *p;
  char buf[1024], line[1400], name[1024], state[64], error[1024];
  size_t i;

  snprintf (line, sizeof line, "%s: %s (%s, error %d)", ctl->command,
            one_line (message, buf, sizeof buf), code_meaning (code), code);
  if (code != SV_RPC_SET_FAILED || !json_is_object (data)) {
    ctl_report (ctl, code, message ? message : "", line);
    return;
  }
  log_warnx ("%s", line);
  json_array_foreach (participants, i, p) {
    const char *err = json_string_value (json_object_get (p, "error"));

    snprintf (buf, sizeof buf, "%s %s", out_str (p, "kind"),
              out_str (p, "name"));
    log_warnx ("%s:   %s: %s%s%s", ctl->command,
               one_line (buf, name, sizeof name),
               one_line (out_str (p, "state"), state, sizeof state),
               err ? ": " : "", err ? one_line (err, error, sizeof error) : "");
  }
  if (ctl->json) {
    ctl_error_printed ();
    out_json (data);
  }
}

/* One attempt at the coordinator at ADDRESS: 1 if it is not the leader
 * or cannot be reached (T records why and the leader it named), else
 * 0 with its response in *RESP, or -1 (reported) when the call failed
 * on the way: the request may have taken effect, so it is not sent
 * again elsewhere.  PARAMS stays the caller's. */
static int
attempt (struct ctl *ctl, SSL_CTX *tls, struct rpcconn_targets *t,
         const char *address, const char *method, json_t *params,
         json_t **resp)
{
  struct rpcconn *c;
  const char *message, *leader;
  char err[1024], why[1400];
  int code, r = 0;

  c = rpcconn_open (tls, "coordinator", address,
                    ctl->timeout_ms < CONNECT_TIMEOUT_MS ? ctl->timeout_ms
                    : CONNECT_TIMEOUT_MS, -1, err, sizeof err);
  if (c == NULL) {
    rpcconn_targets_failed (t, err, NULL);
    return 1;
  }
  *resp = rpcconn_call (c, method, json_incref (params), ctl->timeout_ms,
                        NULL, NULL, err, sizeof err);
  if (*resp == NULL) {
    ctl_error (ctl, CTL_EXIT_FAILURE, "%s", err);
    r = -1;
  }
  else if (rpcconn_not_leader (*resp, &leader)) {
    rpcconn_response_error (*resp, &code, &message, NULL);
    snprintf (why, sizeof why, "%s: %s (error %d)", rpcconn_name (c),
              message, code);
    rpcconn_targets_failed (t, why, leader);
    json_decref (*resp);
    *resp = NULL;
    r = 1;
  }
  rpcconn_close (c);
  return r;
}

/* Find the leader among ctl->coordinator's addresses (rpcconn.h: each
 * once, plus the leader one of them names) and call METHOD there.  The
 * response, or NULL when reported. */
static json_t *
call_leader (struct ctl *ctl, SSL_CTX *tls, const char *method,
             json_t *params)
{
  struct rpcconn_targets *t;
  const char *address;
  json_t *resp = NULL;
  char err[1024];
  int attempts = 0, r = 1;

  t = rpcconn_targets_new (ctl->coordinator, err, sizeof err);
  if (t == NULL) {
    ctl_report (ctl, CTL_EXIT_FAILURE, err, err);
    return NULL;
  }
  while (r == 1 && (address = rpcconn_targets_next (t)) != NULL) {
    attempts++;
    r = attempt (ctl, tls, t, address, method, params, &resp);
  }
  if (r == 1 && attempts == 1)  /* one coordinator: its reason alone */
    ctl_report (ctl, CTL_EXIT_FAILURE, rpcconn_targets_why (t),
                rpcconn_targets_why (t));
  else if (r == 1)
    ctl_error (ctl, CTL_EXIT_FAILURE, "no leading coordinator at %s: %s",
               ctl->coordinator, rpcconn_targets_why (t));
  rpcconn_targets_free (t);
  return resp;
}

json_t *
ctl_coord_call (struct ctl *ctl, const char *method, json_t *params)
{
  const struct tls_files files = {
    .certificate = ctl->cert, .key = ctl->key, .ca = ctl->ca,
  };
  json_t *resp, *result = NULL, *data;
  const char *message;
  SSL_CTX *tls;
  char err[1024];
  int code;

  if (params == NULL) {
    ctl_error (ctl, CTL_EXIT_FAILURE,
               "cannot build the request: out of memory");
    return NULL;
  }
  tls = tls_client_context (&files, err, sizeof err);
  if (tls == NULL) {
    json_decref (params);
    ctl_report (ctl, CTL_EXIT_FAILURE, err, err);
    return NULL;
  }
  resp = call_leader (ctl, tls, method, params);
  json_decref (params);
  if (resp != NULL && rpcconn_response_error (resp, &code, &message, &data))
    report_error (ctl, code, message, data);
  else if (resp != NULL)
    result = json_incref (json_object_get (resp, "result"));
  json_decref (resp);
  SSL_CTX_free (tls);
  return result;
}

/* Printing. */

static const char *
yes_no (json_t *obj, const char *key)
{
  json_t *v = json_object_get (obj, key);

  return json_is_boolean (v) ? (json_is_true (v) ? "yes" : "no") : "-";
}

static const char *
int_str (json_t *obj, const char *key, char *buf, size_t len)
{
  snprintf (buf, len, "%ju", (uintmax_t) out_u64 (obj, key));
  return buf;
}

/* "freeze 12 ms, hold 3 ms, total 40 ms", or NULL without timings. */
static const char *
timings (json_t *set, char *buf, size_t len)
{
  json_t *t = json_object_get (set, "timings");

  if (!json_is_object (t))
    return NULL;
  snprintf (buf, len, "freeze %ju ms, hold %ju ms, total %ju ms",
            (uintmax_t) out_u64 (t, "freeze_ms"),
            (uintmax_t) out_u64 (t, "hold_ms"),
            (uintmax_t) out_u64 (t, "total_ms"));
  return buf;
}

/* Join the strings of the array member KEY with ", ". */
static char *
joined (json_t *obj, const char *key)
{
  json_t *list = json_object_get (obj, key), *v;
  size_t len = 1, i;
  char *s;

  json_array_foreach (list, i, v)
    len += json_string_length (v) + 2;
  s = calloc (1, len);
  if (s == NULL)
    return NULL;
  json_array_foreach (list, i, v) {
    if (!json_is_string (v))
      continue;
    if (*s)
      strcat (s, ", ");
    strcat (s, json_string_value (v));
  }
  return s;
}

static int
nomem (const struct ctl *ctl)
{
  return ctl_error (ctl, CTL_EXIT_FAILURE, "out of memory");
}

static int
print_snapshot_table (const struct ctl *ctl, json_t *set)
{
  static const struct out_column cols[] = {
    { "PROVIDER", 0 }, { "VOLUME", 0 }, { "SNAPSHOT", 0 },
    { "GENERATION", 1 }, { "URI", 0 },
  };
  json_t *snaps = json_object_get (set, "snapshots"), *s;
  struct out_table *t = out_table_new (cols, sizeof cols / sizeof cols[0]);
  size_t i;

  if (t == NULL)
    return nomem (ctl);
  json_array_foreach (snaps, i, s) {
    char gen[24];

    if (out_table_add (t, out_str (s, "provider"), out_str (s, "volume"),
                       out_str (s, "id"), int_str (s, "generation", gen,
                                                   sizeof gen),
                       out_str (s, "uri")) == -1) {
      out_table_free (t);
      return nomem (ctl);
    }
  }
  out_table_print (t);
  out_table_free (t);
  return CTL_EXIT_OK;
}

static int
print_participant_table (const struct ctl *ctl, json_t *set)
{
  static const struct out_column cols[] = {
    { "KIND", 0 }, { "NAME", 0 }, { "STATE", 0 }, { "ERROR", 0 },
  };
  json_t *list = json_object_get (set, "participants"), *p;
  struct out_table *t = out_table_new (cols, sizeof cols / sizeof cols[0]);
  size_t i;

  if (t == NULL)
    return nomem (ctl);
  json_array_foreach (list, i, p)
    if (out_table_add (t, out_str (p, "kind"), out_str (p, "name"),
                       out_str (p, "state"), out_str (p, "error")) == -1) {
      out_table_free (t);
      return nomem (ctl);
    }
  out_table_print (t);
  out_table_free (t);
  return CTL_EXIT_OK;
}

/* Arguments. */

int
ctl_check_pv (const struct ctl *ctl, const char *v)
{
  const char *slash = strchr (v, '/');

  if (slash == NULL || slash == v || slash[1] == '\0' ||
      strchr (slash + 1, '/') != NULL) {
    ctl_usage_error (ctl, "invalid volume '%s': expected PROVIDER/VOLUME", v);
    return -1;
  }
  return 0;
}

/* Milliseconds for OPTION in MIN..MAX.  -1 after a usage error. */
static int
parse_ms (const struct ctl *ctl, const char *option, const char *arg,
          long min, long max, json_int_t *out)
{
  char *end;
  long v;

  errno = 0;
  v = strtol (arg, &end, 10);
  if (errno || end == arg || *end || v < min || v > max) {
    ctl_usage_error (ctl, "invalid %s '%s': expected milliseconds from %ld "
                     "to %ld", option, arg, min, max);
    return -1;
  }
  *out = v;
  return 0;
}

static int
check_set_id (const struct ctl *ctl, const char *arg)
{
  struct uuid u;

  if (uuid_parse (arg, &u) == -1)
    return ctl_usage_error (ctl, "invalid ID '%s': expected a snapshot set "
                            "UUID", arg);
  return 0;
}

/* set create */

enum { SC_VOLUME, SC_ALL, SC_WRITERS, SC_LABEL, SC_FREEZE_WINDOW,
       SC_HOLD_TIMEOUT };

/* The "writers" member from --writers auto|none|NAME,NAME...; NULL
 * after a usage error (or ENOMEM, reported). */
static json_t *
writers_param (const struct ctl *ctl, const char *arg)
{
  json_t *list;
  const char *p = arg;

  if (strcmp (arg, "auto") == 0 || strcmp (arg, "none") == 0)
    return json_string (arg);
  list = json_array ();
  while (list != NULL) {
    size_t n = strcspn (p, ",");

    if (n == 0) {
      ctl_usage_error (ctl, "invalid --writers '%s': expected auto, none or "
                       "a comma-separated list of writer names", arg);
      json_decref (list);
      return NULL;
    }
    if (json_array_append_new (list, json_stringn (p, n)) == -1) {
      json_decref (list);
      list = NULL;
      break;
    }
    if (p[n] == '\0')
      return list;
    p += n + 1;
  }
  nomem (ctl);
  return NULL;
}

/* The params of set.create from the command line; NULL after an error
 * (reported). */
static json_t *
set_create_params (struct ctl *ctl, const struct ctl_args *a)
{
  json_t *params = json_object (), *volumes, *v;
  json_int_t ms;
  int i, n = a->argc + a->nvalues[SC_VOLUME];

  if (params == NULL) {
    nomem (ctl);
    return NULL;
  }
  if (a->opt[SC_ALL] && n > 0) {
    ctl_usage_error (ctl, "give volumes or --all, not both");
    goto err;
  }
  if (!a->opt[SC_ALL] && n == 0) {
    ctl_usage_error (ctl, "no volume: give PROVIDER/VOLUME arguments, "
                     "--volume PROVIDER/VOLUME or --all");
    goto err;
  }
  if (a->opt[SC_ALL])
    volumes = json_string ("all");
  else {
    volumes = json_array ();
    for (i = 0; volumes && i < n; i++) {
      const char *s = i < a->argc ? a->argv[i]
        : a->values[SC_VOLUME][i - a->argc];

      if (ctl_check_pv (ctl, s) == -1) {
        json_decref (volumes);
        goto err;
      }
      if (json_array_append_new (volumes, json_string (s)) == -1) {
        json_decref (volumes);
        volumes = NULL;
      }
    }
  }
  if (json_object_set_new (params, "volumes", volumes) == -1)
    goto nomem;
  if (a->opt[SC_WRITERS]) {
    v = writers_param (ctl, a->opt[SC_WRITERS]);
    if (v == NULL || json_object_set_new (params, "writers", v) == -1)
      goto err;
  }
  if (a->opt[SC_LABEL] &&
      json_object_set_new (params, "label", json_string (a->opt[SC_LABEL]))
      == -1)
    goto nomem;
  if (a->opt[SC_FREEZE_WINDOW]) {
    if (parse_ms (ctl, "--freeze-window", a->opt[SC_FREEZE_WINDOW], 1000,
                  600000, &ms) == -1)
      goto err;
    if (json_object_set_new (params, "freeze_window_ms", json_integer (ms))
        == -1)
      goto nomem;
  }
  if (a->opt[SC_HOLD_TIMEOUT]) {
    if (parse_ms (ctl, "--hold-timeout", a->opt[SC_HOLD_TIMEOUT], 1, 60000,
                  &ms) == -1)
      goto err;
    if (json_object_set_new (params, "hold_timeout_ms", json_integer (ms))
        == -1)
      goto nomem;
  }
  return params;

 nomem:
  nomem (ctl);
 err:
  json_decref (params);
  return NULL;
}

static int
set_create (struct ctl *ctl, const struct ctl_args *a)
{
  json_t *params = set_create_params (ctl, a), *res, *snaps;
  const char *label;
  char t[128];
  size_t n;
  int r;

  if (params == NULL)
    return errno == ENOMEM ? CTL_EXIT_FAILURE : CTL_EXIT_USAGE;
  if (!ctl->timeout_given)
    ctl->timeout_ms = CTL_SET_CREATE_TIMEOUT_S * 1000;
  res = ctl_coord_call (ctl, "set.create", params);
  if (res == NULL)
    return CTL_EXIT_FAILURE;
  if (!json_is_object (res)) {
    json_decref (res);
    return ctl_bad_answer (ctl, "the result is not an object");
  }
  if (ctl->json) {
    r = out_json (res) == 0 ? CTL_EXIT_OK : CTL_EXIT_FAILURE;
    json_decref (res);
    return r;
  }
  out_sanitize (res);
  snaps = json_object_get (res, "snapshots");
  n = json_array_size (snaps);
  label = json_string_value (json_object_get (res, "label"));
  printf ("Created snapshot set %s of %zu volume%s", out_str (res, "set_id"),
          n, n == 1 ? "" : "s");
  if (label && *label)
    printf (", label \"%s\"", label);
  if (timings (res, t, sizeof t))
    printf (" (%s)", t);
  printf (":\n");
  r = print_snapshot_table (ctl, res);
  json_decref (res);
  return r;
}

/* set list */

/* One row of the set list table. */
static int
sets_row (struct out_table *t, json_t *s)
{
  char created[OUT_TIME_BUFLEN], n[24];

  snprintf (n, sizeof n, "%zu",
            json_array_size (json_object_get (s, "snapshots")));
  return out_table_add (t, out_str (s, "set_id"), out_str (s, "state"),
                        out_time (s, "created", created, sizeof created), n,
                        out_str (s, "label"));
}

/* The same with the HOLDS column (the holds taken through the
 * coordinator). */
static int
held_sets_row (struct out_table *t, json_t *s)
{
  char created[OUT_TIME_BUFLEN], n[24];
  char holds[PROTO_HOLDS_MAX * (PROTO_TAG_MAX + 12) + 2];

  snprintf (n, sizeof n, "%zu",
            json_array_size (json_object_get (s, "snapshots")));
  ctl_format_holds (json_object_get (s, "holds"), holds, sizeof holds);
  return out_table_add (t, out_str (s, "set_id"), out_str (s, "state"),
                        out_time (s, "created", created, sizeof created), n,
                        holds, out_str (s, "label"));
}

/* The HOLDS column is shown when a listed set is held. */
static int
print_sets (json_t *list)
{
  static const struct out_column cols[] = {
    { "SET", 0 }, { "STATE", 0 }, { "CREATED", 0 }, { "SNAPSHOTS", 1 },
    { "LABEL", 0 },
  };
  static const struct out_column held_cols[] = {
    { "SET", 0 }, { "STATE", 0 }, { "CREATED", 0 }, { "SNAPSHOTS", 1 },
    { "HOLDS", 0 }, { "LABEL", 0 },
  };
  bool held = false;
  json_t *s;
  size_t i;

  json_array_foreach (list, i, s)
    held |= json_array_size (json_object_get (s, "holds")) > 0;
  return (held
          ? out_list (list, held_cols, sizeof held_cols / sizeof held_cols[0],
                      "No snapshot sets.", "set list", held_sets_row)
          : out_list (list, cols, sizeof cols / sizeof cols[0],
                      "No snapshot sets.", "set list", sets_row)) == 0
    ? CTL_EXIT_OK : CTL_EXIT_FAILURE;
}

static int
set_list (struct ctl *ctl, const struct ctl_args *a)
{
  json_t *params = a->opt[0] ? json_pack ("{s:s}", "state", a->opt[0])
    : json_object ();

  return ctl_print_result (ctl, ctl_coord_call (ctl, "set.list", params),
                           true, print_sets);
}

/* set show */

static int
print_set (json_t *set)
{
  /* ctl_print_result's callbacks have no ctl: messages name the command. */
  static const struct ctl ctl = { .command = "set show" };
  char created[OUT_TIME_BUFLEN], finished[OUT_TIME_BUFLEN], t[128];
  json_t *reason = json_object_get (set, "reason");
  int r;

  printf ("Set:       %s\n", out_str (set, "set_id"));
  printf ("Label:     %s\n", out_str (set, "label"));
  printf ("State:     %s\n", out_str (set, "state"));
  printf ("Created:   %s\n", out_time (set, "created", created,
                                       sizeof created));
  printf ("Finished:  %s\n", out_time (set, "finished", finished,
                                       sizeof finished));
  if (json_is_string (reason))
    printf ("Reason:    %s\n", json_string_value (reason));
  if (timings (set, t, sizeof t))
    printf ("Timings:   %s\n", t);
  printf ("\nSnapshots:\n");
  if (json_array_size (json_object_get (set, "snapshots")) == 0)
    printf ("  none\n");
  else if ((r = print_snapshot_table (&ctl, set)) != CTL_EXIT_OK)
    return r;
  printf ("\nParticipants:\n");
  if (json_array_size (json_object_get (set, "participants")) == 0) {
    printf ("  none\n");
    return CTL_EXIT_OK;
  }
  return print_participant_table (&ctl, set);
}

static int
set_show (struct ctl *ctl, const struct ctl_args *a)
{
  if (check_set_id (ctl, a->argv[0]) != 0)
    return CTL_EXIT_USAGE;
  return ctl_print_result (ctl, ctl_coord_call (ctl, "set.get",
                                                json_pack ("{s:s}", "set_id",
                                                           a->argv[0])),
                           false, print_set);
}

/* set revert */

static int
print_set_reverted (json_t *res)
{
  json_t *v;
  size_t i, n = json_array_size (json_object_get (res, "volumes"));

  printf ("Reverted %zu volume%s to snapshot set %s:\n", n, n == 1 ? "" : "s",
          out_str (res, "set_id"));
  json_array_foreach (json_object_get (res, "volumes"), i, v)
    printf ("  %s\n", json_is_string (v) ? json_string_value (v) : "?");
  return CTL_EXIT_OK;
}

static int
set_revert (struct ctl *ctl, const struct ctl_args *a)
{
  if (check_set_id (ctl, a->argv[0]) != 0)
    return CTL_EXIT_USAGE;
  if (!ctl->timeout_given)
    ctl->timeout_ms = CTL_SET_CREATE_TIMEOUT_S * 1000;
  return ctl_print_result (ctl, ctl_coord_call (ctl, "set.revert",
                                                json_pack ("{s:s, s:b}",
                                                           "set_id",
                                                           a->argv[0],
                                                           "force",
                                                           a->opt[0] != NULL)),
                           false, print_set_reverted);
}

/* set delete */

static int
print_set_deleted (json_t *res)
{
  uint64_t n = out_u64 (res, "deleted");

  printf ("Deleted snapshot set %s: %ju snapshot%s.\n",
          out_str (res, "set_id"), (uintmax_t) n, n == 1 ? "" : "s");
  return CTL_EXIT_OK;
}

static int
set_delete (struct ctl *ctl, const struct ctl_args *a)
{
  if (check_set_id (ctl, a->argv[0]) != 0)
    return CTL_EXIT_USAGE;
  return ctl_print_result (ctl, ctl_coord_call (ctl, "set.delete",
                                                json_pack ("{s:s}", "set_id",
                                                           a->argv[0])),
                           false, print_set_deleted);
}

/* set hold, set release */

static int
print_set_held (json_t *res)
{
  uint64_t n = out_u64 (res, "held");

  printf ("Held snapshot set %s with tag %s: %ju snapshot%s.\n",
          out_str (res, "set_id"), out_str (res, "tag"), (uintmax_t) n,
          n == 1 ? "" : "s");
  return CTL_EXIT_OK;
}

static int
print_set_released (json_t *res)
{
  uint64_t n = out_u64 (res, "released");

  json_t *queued = json_object_get (res, "queued"), *p;
  size_t i;

  printf ("Released hold %s of snapshot set %s: %ju snapshot%s.\n",
          out_str (res, "tag"), out_str (res, "set_id"), (uintmax_t) n,
          n == 1 ? "" : "s");
  if (json_array_size (queued) > 0) {
    printf ("Queued for the provider%s not connected, done when %s "
            "back:", json_array_size (queued) == 1 ? "" : "s",
            json_array_size (queued) == 1 ? "it is" : "each is");
    json_array_foreach (queued, i, p)
      printf (" %s", json_is_string (p) ? json_string_value (p) : "?");
    printf (".\n");
  }
  return CTL_EXIT_OK;
}

static int
set_hold (struct ctl *ctl, const struct ctl_args *a)
{
  json_int_t secs = 0;
  json_t *params;

  if (check_set_id (ctl, a->argv[0]) != 0 ||
      (a->opt[0] && ctl_parse_expires (ctl, a->opt[0], &secs) == -1))
    return CTL_EXIT_USAGE;
  params = json_pack ("{s:s, s:s}", "set_id", a->argv[0], "tag", a->argv[1]);
  if (params && secs &&
      json_object_set_new (params, "expires_in", json_integer (secs)) == -1) {
    json_decref (params);
    params = NULL;
  }
  return ctl_print_result (ctl, ctl_coord_call (ctl, "set.hold", params),
                           false, print_set_held);
}

static int
set_release (struct ctl *ctl, const struct ctl_args *a)
{
  if (check_set_id (ctl, a->argv[0]) != 0)
    return CTL_EXIT_USAGE;
  return ctl_print_result (ctl, ctl_coord_call (ctl, "set.release",
                                                json_pack ("{s:s, s:s}",
                                                           "set_id",
                                                           a->argv[0], "tag",
                                                           a->argv[1])),
                           false, print_set_released);
}

/* writer list */

/* One row of the writer list table. */
static int
writers_row (struct out_table *t, json_t *w)
{
  char at[OUT_TIME_BUFLEN];
  char *volumes = joined (w, "volumes");
  int r;

  if (volumes == NULL)
    return -1;
  r = out_table_add (t, out_str (w, "name"), out_str (w, "state"),
                     yes_no (w, "connected"), out_str (w, "last_event"),
                     out_time (w, "last_event_time", at, sizeof at),
                     *volumes ? volumes : "-", out_str (w, "last_error"));
  free (volumes);
  return r;
}

static int
print_writers (json_t *list)
{
  static const struct out_column cols[] = {
    { "NAME", 0 }, { "STATE", 0 }, { "CONNECTED", 0 }, { "LAST-EVENT", 0 },
    { "AT", 0 }, { "VOLUMES", 0 }, { "LAST-ERROR", 0 },
  };

  return out_list (list, cols, sizeof cols / sizeof cols[0], "No writers.",
                   "writer list", writers_row) == 0
    ? CTL_EXIT_OK : CTL_EXIT_FAILURE;
}

static int
writer_list (struct ctl *ctl, const struct ctl_args *a)
{
  return ctl_print_result (ctl, ctl_coord_call (ctl, "writer.list",
                                                json_object ()),
                           true, print_writers);
}

/* writer forget, provider forget */

/* The result is {}: the line is printed by forget. */
static int
print_nothing (json_t *res)
{
  return CTL_EXIT_OK;
}

/* METHOD ("writer.forget" or "provider.forget") of NAME, as KIND. */
static int
forget (struct ctl *ctl, const char *method, const char *kind,
        const char *name)
{
  int r = ctl_print_result (ctl, ctl_coord_call (ctl, method,
                                                 json_pack ("{s:s}", "name",
                                                            name)),
                            false, print_nothing);

  if (r == CTL_EXIT_OK && !ctl->json)
    printf ("Forgot %s %s.\n", kind, name);
  return r;
}

static int
writer_forget (struct ctl *ctl, const struct ctl_args *a)
{
  return forget (ctl, "writer.forget", "writer", a->argv[0]);
}

static int
provider_forget (struct ctl *ctl, const struct ctl_args *a)
{
  return forget (ctl, "provider.forget", "provider", a->argv[0]);
}

/* provider list */

/* One row of the provider list table. */
static int
providers_row (struct out_table *t, json_t *p)
{
  char since[OUT_TIME_BUFLEN], seen[OUT_TIME_BUFLEN], n[24];

  return out_table_add (t, out_str (p, "name"), yes_no (p, "connected"),
                        out_time (p, "connected_since", since, sizeof since),
                        out_time (p, "last_seen", seen, sizeof seen),
                        int_str (p, "volumes", n, sizeof n),
                        out_str (p, "nbd_uri"), out_str (p, "subject"));
}

static int
print_providers (json_t *list)
{
  static const struct out_column cols[] = {
    { "NAME", 0 }, { "CONNECTED", 0 }, { "SINCE", 0 }, { "LAST-SEEN", 0 },
    { "VOLUMES", 1 }, { "NBD-URI", 0 }, { "SUBJECT", 0 },
  };

  return out_list (list, cols, sizeof cols / sizeof cols[0], "No providers.",
                   "provider list", providers_row) == 0
    ? CTL_EXIT_OK : CTL_EXIT_FAILURE;
}

static int
provider_list (struct ctl *ctl, const struct ctl_args *a)
{
  return ctl_print_result (ctl, ctl_coord_call (ctl, "provider.list",
                                                json_object ()),
                           true, print_providers);
}

/* volumes */

/* One row of the volumes table. */
static int
volumes_row (struct out_table *t, json_t *v)
{
  char size[HUMANSIZE_BUFLEN];

  return out_table_add (t, out_str (v, "provider"), out_str (v, "volume"),
                        out_size (v, "size", size, sizeof size),
                        out_str (v, "uuid"));
}

static int
print_volumes (json_t *list)
{
  static const struct out_column cols[] = {
    { "PROVIDER", 0 }, { "VOLUME", 0 }, { "SIZE", 1 }, { "UUID", 0 },
  };

  return out_list (list, cols, sizeof cols / sizeof cols[0], "No volumes.",
                   "volumes", volumes_row) == 0
    ? CTL_EXIT_OK : CTL_EXIT_FAILURE;
}

static int
volumes (struct ctl *ctl, const struct ctl_args *a)
{
  return ctl_print_result (ctl, ctl_coord_call (ctl, "volume.list",
                                                json_object ()),
                           true, print_volumes);
}

const struct ctl_command ctl_set_commands[] = {
  { "set", "create", "[PROVIDER/VOLUME]... [--volume PROVIDER/VOLUME]... "
    "[--all] [--writers auto|none|NAME,...] [--label TEXT] "
    "[--freeze-window MS] [--hold-timeout MS]",
    "Take a snapshot set through the coordinator, after freezing the "
    "writers.",
    0, -1,
    { "volume", "all", "writers", "label", "freeze-window", "hold-timeout",
      NULL },
    set_create, 1u << SC_ALL, true },
  { "set", "list", "[--state STATE]",
    "List the coordinator's snapshot sets, newest first.",
    0, 0, { "state", NULL }, set_list, 0, true },
  { "set", "show", "ID",
    "Describe a snapshot set: its snapshots and participants.",
    1, 1, { NULL }, set_show, 0, true },
  { "set", "delete", "ID",
    "Delete the snapshots of a set on every provider, and the set.",
    1, 1, { NULL }, set_delete, 0, true },
  { "set", "revert", "[--force] ID",
    "Revert every volume of a committed set to its snapshot, on every "
    "provider, all or none (admin), after the writers' pre_restore; "
    "--force reverts under connected clients.",
    1, 1, { "force", NULL }, set_revert, 1u << 0, true },
  { "set", "hold", "[--expires SECONDS] ID TAG",
    "Hold every snapshot of a set on its providers, all or none, so that "
    "none can be deleted until the hold is released (or expires).",
    2, 2, { "expires", NULL }, set_hold, 0, true },
  { "set", "release", "ID TAG",
    "Release the hold TAG of every snapshot of a set.",
    2, 2, { NULL }, set_release, 0, true },
  { "set", "backup", "SET DIR [--since SET] [--connections N] [--quiet] "
    "[--hold-expires SECONDS] [--nbd-tls-certificates DIR]",
    "Back up every snapshot of a set into DIR/PROVIDER/VOLUME.img, in "
    "parallel, holding the set meanwhile, with one manifest "
    "DIR/snapvol-set.json written last; with --since SET (the set DIR "
    "holds) only what changed.",
    2, 2, { "since", "connections", "quiet", "hold-expires",
            "nbd-tls-certificates", NULL },
    ctl_set_backup, 1u << 2, true },
  { NULL },
};

const struct ctl_command ctl_writer_commands[] = {
  { "writer", "list", "",
    "List the writers known to the coordinator and their state.",
    0, 0, { NULL }, writer_list, 0, true },
  { "writer", "forget", "NAME",
    "Forget a disconnected writer (admin): it no longer takes part in "
    "sets, and its name is free for any writer certificate.",
    1, 1, { NULL }, writer_forget, 0, true },
  { NULL },
};

const struct ctl_command ctl_provider_commands[] = {
  { "provider", "list", "",
    "List the providers known to the coordinator.",
    0, 0, { NULL }, provider_list, 0, true },
  { "provider", "forget", "NAME",
    "Forget a disconnected provider (admin), with the deletions queued "
    "for it; its name is free for any provider certificate.",
    1, 1, { NULL }, provider_forget, 0, true },
  { NULL },
};

const struct ctl_command ctl_volumes_commands[] = {
  { "volumes", "", "",
    "List the volumes of every connected provider.",
    0, 0, { NULL }, volumes, 0, true },
  { NULL },
};

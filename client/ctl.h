/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * ctl.h: what snapvolctl's command files share with its dispatcher.
 *
 * Each command is a row of a table (struct ctl_command): the
 * dispatcher parses its options and checks its argument count, so a
 * command's run function only builds the request and prints the
 * answer.  Run functions return the process exit status.
 */

#ifndef SNAPVOL_CTL_H
#define SNAPVOL_CTL_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#define CTL_EXIT_OK      0
#define CTL_EXIT_FAILURE 1      /* the command failed */
#define CTL_EXIT_USAGE   2      /* the command line is wrong */

#define CTL_MAX_OPTIONS  10     /* options of one command */

/* set create waits this long by default: a set may wait for the one
 * before it, and its writers may take the whole freeze window. */
#define CTL_SET_CREATE_TIMEOUT_S 600

struct ctl {
  const char *socket;           /* control socket path */
  const char *coordinator;      /* the coordinator's HOST:PORT, */
  const char *cert, *key, *ca;  /* and our TLS files for it */
  int timeout_ms;               /* time to wait for an answer */
  bool timeout_given;           /* --timeout was given */
  bool json;                    /* --json: print the result as JSON */
  bool json_errors;             /* --json is on the command line: errors
                                 * are JSON even before it is parsed */
  char command[160];            /* "volume create", to prefix messages */
};

struct ctl_args {
  int argc;                     /* positional arguments */
  char **argv;
  const char *opt[CTL_MAX_OPTIONS]; /* option values, NULL if absent;
                                     * "" for a flag given */
  /* Every value of each option, in order (an option may be repeated). */
  const char **values[CTL_MAX_OPTIONS];
  int nvalues[CTL_MAX_OPTIONS];
};

struct ctl_command {
  const char *group, *verb;     /* "volume", "create" */
  const char *synopsis;         /* "NAME SIZE [--cluster-size SIZE]" */
  const char *summary;          /* one sentence for --help */
  int min_args, max_args;       /* positional arguments; max -1: any */
  /* Long options of the command ("cluster-size" for --cluster-size),
   * each taking an argument; NULL-terminated.  Their values land in
   * struct ctl_args opt[] at the same index. */
  const char *options[CTL_MAX_OPTIONS + 1];
  int (*run) (struct ctl *ctl, const struct ctl_args *args);
  /* Bit I set: options[I] is a flag, taking no argument. */
  unsigned flags;
  /* Whom the command talks to: enum ctl_target (false and true in the
   * tables stand for CTL_SOCKET and CTL_COORDINATOR). */
  unsigned char coordinator;
};

/* Whom a command talks to.  A CTL_EITHER command (snapvolctl diff)
 * talks to the coordinator when --coordinator is given, or when neither
 * --socket nor $SNAPVOL_SOCKET is and $SNAPVOL_COORDINATOR is; else to
 * the control socket.  Every run function finds ctl->coordinator set
 * for the coordinator and ctl->socket for a control socket, never
 * both. */
enum ctl_target {
  CTL_SOCKET = 0,               /* the control socket (--socket) */
  CTL_COORDINATOR = 1,          /* the coordinator (--coordinator, TLS) */
  CTL_EITHER = 2,
};

/* Command tables, each ending with a row whose group is NULL. */
extern const struct ctl_command ctl_pool_commands[];
extern const struct ctl_command ctl_volume_commands[];
extern const struct ctl_command ctl_snapshot_commands[];
/* snapvolctl policy (ctl-policy.c). */
extern const struct ctl_command ctl_policy_commands[];
/* snapvolctl diff (ctl-diff.c). */
extern const struct ctl_command ctl_diff_commands[];
/* A command with an empty verb has its options parsed like the others
 * (snapvolctl volumes, diff, backup), except check, which is run
 * with its whole command line and without a control socket. */
extern const struct ctl_command ctl_check_commands[];
/* snapvolctl backup (ctl-backup.c). */
extern const struct ctl_command ctl_backup_commands[];
/* snapvolctl set backup (ctl-setbackup.c), a row of ctl_set_commands. */
extern int ctl_set_backup (struct ctl *ctl, const struct ctl_args *args);
/* The coordinator's requester commands (ctl-coord.c). */
extern const struct ctl_command ctl_set_commands[];
extern const struct ctl_command ctl_writer_commands[];
extern const struct ctl_command ctl_provider_commands[];
extern const struct ctl_command ctl_volumes_commands[];
/* snapvolctl status (ctl-status.c). */
extern const struct ctl_command ctl_status_commands[];

/* Call METHOD with PARAMS (stolen; NULL means allocation failed) and
 * return its result (a new reference), or report the failure on
 * stderr and return NULL. */
extern json_t *ctl_call (struct ctl *ctl, const char *method, json_t *params);

/* Call METHOD with PARAMS (stolen; NULL means allocation failed) on the
 * coordinator, over TLS with our certificate, and return its result (a
 * new reference).  On failure report it on stderr (a coordinator error
 * as one line naming the code's meaning; for a failed snapshot set,
 * one more line per participant, and with --json the failed set
 * object on stdout) and return NULL. */
extern json_t *ctl_coord_call (struct ctl *ctl, const char *method,
                               json_t *params);

/* With --json print RES as it is, else through PRINT; either way RES
 * must be an array (ARRAY) or an object, or the answer is reported as
 * invalid.  Consumes RES; NULL (a failed call) gives CTL_EXIT_FAILURE.
 * Returns the exit status. */
extern int ctl_print_result (struct ctl *ctl, json_t *res, bool array,
                             int (*print) (json_t *res));

/* Errors.  Each is reported once, as one line on stderr ("snapvolctl:
 * COMMAND: MESSAGE") and, with --json, also as one object on stdout:
 *
 *   {"error": {"code": CODE, "message": MESSAGE}}
 *
 * CODE is the server's or the coordinator's JSON-RPC error code
 * (negative) when it answered with an error, else the exit status:
 * CTL_EXIT_USAGE for a wrong command line, CTL_EXIT_FAILURE for any
 * other failure snapvolctl found itself.  Only the first error of a run
 * is printed as JSON, so stdout holds one value whatever happens.
 * CTL may be NULL before the command line is read. */

/* Report a failure: LINE on stderr (after "snapvolctl: "), MESSAGE in
 * the JSON object.  Returns CTL_EXIT_USAGE if CODE is CTL_EXIT_USAGE,
 * else CTL_EXIT_FAILURE. */
extern int ctl_report (const struct ctl *ctl, int code, const char *message,
                       const char *line)
  __attribute__((nonnull (3, 4)));

/* Report a failure of the command with code CODE, naming the command on
 * stderr.  Returns as ctl_report. */
extern int ctl_error (const struct ctl *ctl, int code, const char *fmt, ...)
  __attribute__((format (printf, 3, 4)));

/* Report a command line error.  Returns CTL_EXIT_USAGE. */
extern int ctl_usage_error (const struct ctl *ctl, const char *fmt, ...)
  __attribute__((format (printf, 2, 3)));

/* Report an answer from the server that lacks what the command needs.
 * Returns CTL_EXIT_FAILURE. */
extern int ctl_bad_answer (const struct ctl *ctl, const char *why);

/* Mark the run's error as printed on stdout by the caller (a failed
 * snapshot set prints the set itself), so that no error object
 * follows. */
extern void ctl_error_printed (void);

/* Parse the size ARG given for WHAT ("SIZE", "--cluster-size").
 * -1 after ctl_usage_error. */
extern int ctl_parse_size (const struct ctl *ctl, const char *what,
                           const char *arg, uint64_t *out);

/* The coordinator and our TLS files of CTL, from the options or the
 * environment ($SNAPVOL_COORDINATOR, $SNAPVOL_CERT, $SNAPVOL_KEY,
 * $SNAPVOL_CA).  0, or CTL_EXIT_USAGE after ctl_usage_error. */
extern int ctl_coordinator_settings (struct ctl *ctl);

/* Check a PROVIDER/VOLUME argument V.  -1 after ctl_usage_error. */
extern int ctl_check_pv (const struct ctl *ctl, const char *v);

/* Parse --expires ARG, seconds from 1 to PROTO_HOLD_EXPIRES_MAX_S (the
 * expires_in of snapshot.hold and set.hold).  -1 after
 * ctl_usage_error. */
extern int ctl_parse_expires (const struct ctl *ctl, const char *arg,
                              json_int_t *out);

/* The HOLDS column of snapshots and sets (ctl-snapshot.c): the tags of
 * HOLDS ([{"tag", "expires"}]), an expired hold marked, "-" for none. */
extern void ctl_format_holds (json_t *holds, char *buf, size_t len);

/* Print policy.events' answer LIST as a table (ctl-policy.c). */
extern int ctl_print_policy_events (json_t *list);

#endif /* SNAPVOL_CTL_H */

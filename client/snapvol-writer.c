/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * snapvol-writer.c: the writer agent: registers with the coordinator
 * through libsnapvol-writer and runs a shell command (hook) for each
 * event of a snapshot set (docs/writers.md).
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "fsfreeze.h"
#include "hook.h"
#include "log.h"
#include "pgbackup.h"
#include "qga.h"
#include "snapvol-writer.h"
#include "timespec.h"

#define PROGNAME "snapvol-writer"
#define EXIT_USAGE 2
/* The coordinator's deadline for thaw, post_snapshot and abort. */
#define LATE_CALL_DEADLINE_MS 30000
/* Hooks must end this much before the coordinator's deadline, so that
 * the refusal reaches it in time. */
#define ANSWER_MARGIN_MS 1000

enum { HOOK_PREPARE, HOOK_FREEZE, HOOK_THAW, HOOK_POST_SNAPSHOT, HOOK_ABORT,
       HOOK_PRE_RESTORE, HOOK_POST_RESTORE, NHOOKS };

/* Something the agent freezes itself (--postgres, --fsfreeze, --qga),
 * between the hooks: its handle and its event function, with the
 * contract of qga_event. */
struct integration {
  void *handle;
  int (*event) (void *handle, const struct snapvol_writer_event *ev,
                int timeout_ms, char *message, size_t len);
};

#define MAX_INTEGRATIONS 3

struct agent {
  const char *hooks[NHOOKS];
  unsigned freeze_timeout_ms;
  int event_log;                /* -1 if none */
  const char *event_log_path;
  const char *postgres;         /* --postgres CONNINFO, or NULL */
  const char *postgres_label_dir;       /* --postgres-label-dir, or NULL */
  struct pgbackup *pgbackup;    /* made from those two, or NULL */
  struct fsfreeze *fsfreeze;    /* --fsfreeze, or NULL */
  struct qga *qga;              /* --qga, or NULL */
  /* The ones given, in the order they freeze (they thaw in reverse):
   * PostgreSQL's backup (its checkpoint writes to the filesystems, so
   * it comes before they freeze, and pg_backup_stop after they thaw),
   * the filesystems, then a VM's. */
  struct integration integrations[MAX_INTEGRATIONS];
  size_t nintegrations;
};

static struct snapvol_writer *writer;   /* for the signal handler */

static void
on_signal (int sig)
{
  snapvol_writer_stop (writer);
}

static void
log_line (void *opaque, int priority, const char *message)
{
  if (priority <= SNAPVOL_WRITER_LOG_WARNING)
    log_warnx ("%s", message);
  else if (priority <= SNAPVOL_WRITER_LOG_INFO)
    log_info ("%s", message);
  else
    log_debug ("%s", message);
}

static int
hook_index (enum snapvol_writer_event_kind kind)
{
  switch (kind) {
  case SNAPVOL_WRITER_PREPARE: return HOOK_PREPARE;
  case SNAPVOL_WRITER_FREEZE: return HOOK_FREEZE;
  case SNAPVOL_WRITER_THAW: return HOOK_THAW;
  case SNAPVOL_WRITER_POST_SNAPSHOT: return HOOK_POST_SNAPSHOT;
  case SNAPVOL_WRITER_ABORT: return HOOK_ABORT;
  case SNAPVOL_WRITER_PRE_RESTORE: return HOOK_PRE_RESTORE;
  case SNAPVOL_WRITER_POST_RESTORE: return HOOK_POST_RESTORE;
  }
  return -1;
}

/* Append "UNIXTIME_MS EVENT SET_ID" to the event log, in one write so
 * that lines never mix. */
static void
log_event (struct agent *a, const struct snapvol_writer_event *ev)
{
  char line[128];
  int n;

  if (a->event_log < 0)
    return;
  n = snprintf (line, sizeof line, "%lld %s %s\n",
                (long long) timespec_now_ms (CLOCK_REALTIME), ev->name,
                ev->set_id);
  if (n > 0 && (size_t) n < sizeof line &&
      write (a->event_log, line, (size_t) n) != n)
    log_warn ("write: %s", a->event_log_path);
}

/* "SNAPVOL_NAME=VALUE", malloc'd, into ENV[*N]. */
static int
add_env (char **env, size_t *n, const char *name, const char *value)
{
  if (asprintf (&env[*n], "SNAPVOL_%s=%s", name, value ? value : "") == -1)
    return -1;
  (*n)++;
  return 0;
}

/* SNAPVOL_VOLUMES: EV's volumes separated by spaces.  -1 on ENOMEM. */
static int
add_volumes_env (char **env, size_t *n,
                 const struct snapvol_writer_event *ev)
{
  size_t i, len = 0;
  char *volumes;
  int r;

  for (i = 0; i < ev->nvolumes; i++)
    len += strlen (ev->volumes[i]) + 1;
  volumes = calloc (1, len + 1);
  if (volumes == NULL)
    return -1;
  for (i = 0; i < ev->nvolumes; i++) {
    if (i > 0)
      strcat (volumes, " ");
    strcat (volumes, ev->volumes[i]);
  }
  r = add_env (env, n, "VOLUMES", volumes);
  free (volumes);
  return r;
}

/* The environment of a hook for EV: -1 on ENOMEM. */
static int
hook_environment (const struct snapvol_writer_event *ev, char **env)
{
  size_t n = 0;
  char window[32];
  int r = 0;

  r |= add_env (env, &n, "EVENT", ev->name);
  r |= add_env (env, &n, "SET_ID", ev->set_id);
  switch (ev->kind) {
  case SNAPVOL_WRITER_PREPARE:
    r |= add_env (env, &n, "LABEL", ev->label);
    r |= add_volumes_env (env, &n, ev);
    break;
  case SNAPVOL_WRITER_FREEZE:
  case SNAPVOL_WRITER_PRE_RESTORE:
    snprintf (window, sizeof window, "%u", ev->window_ms);
    r |= add_env (env, &n, "WINDOW_MS", window);
    if (ev->kind == SNAPVOL_WRITER_PRE_RESTORE)
      r |= add_volumes_env (env, &n, ev);
    break;
  case SNAPVOL_WRITER_POST_RESTORE:
    r |= add_env (env, &n, "REVERTED", ev->reverted == 1 ? "1"
                  : ev->reverted == 0 ? "0" : "unknown");
    if (ev->reason)
      r |= add_env (env, &n, "REASON", ev->reason);
    break;
  case SNAPVOL_WRITER_POST_SNAPSHOT:
    r |= add_env (env, &n, "SNAPSHOTS", ev->snapshots_json);
    break;
  case SNAPVOL_WRITER_THAW:
  case SNAPVOL_WRITER_ABORT:
    if (ev->reason)
      r |= add_env (env, &n, "REASON", ev->reason);
    break;
  }
  env[n] = NULL;
  return r;
}

/* How long the writer's part of event KIND may take: for prepare and
 * freeze, --freeze-timeout less a margin for the answer to reach the
 * coordinator in time; else the coordinator's deadline less that
 * margin. */
static int
event_timeout (const struct agent *a, enum snapvol_writer_event_kind kind)
{
  if (kind == SNAPVOL_WRITER_PREPARE || kind == SNAPVOL_WRITER_FREEZE ||
      kind == SNAPVOL_WRITER_PRE_RESTORE)
    return (int) a->freeze_timeout_ms -
      (a->freeze_timeout_ms / 10 < ANSWER_MARGIN_MS
       ? (int) a->freeze_timeout_ms / 10 : ANSWER_MARGIN_MS);
  return LATE_CALL_DEADLINE_MS - ANSWER_MARGIN_MS;
}

/* Run EV's hook, if it has one, within TIMEOUT ms. */
static int
run_hook (struct agent *a, const struct snapvol_writer_event *ev,
          int timeout, char *message, size_t len)
{
  int i = hook_index (ev->kind), r;
  char *env[8] = { NULL }, what[64];
  size_t k;

  if (i < 0 || a->hooks[i] == NULL)
    return 0;
  if (hook_environment (ev, env) == -1) {
    snprintf (message, len, "out of memory");
    r = -1;
  }
  else {
    snprintf (what, sizeof what, "%s hook", ev->name);
    r = hook_run (what, a->hooks[i], env, timeout, message, len);
  }
  for (k = 0; k < sizeof env / sizeof env[0]; k++)
    free (env[k]);
  return r;
}

static int
pgbackup_integration (void *handle, const struct snapvol_writer_event *ev,
                      int timeout_ms, char *message, size_t len)
{
  return pgbackup_event (handle, ev, timeout_ms, message, len);
}

static int
fsfreeze_integration (void *handle, const struct snapvol_writer_event *ev,
                      int timeout_ms, char *message, size_t len)
{
  return fsfreeze_event (handle, ev, timeout_ms, message, len);
}

static int
qga_integration (void *handle, const struct snapvol_writer_event *ev,
                 int timeout_ms, char *message, size_t len)
{
  return qga_event (handle, ev, timeout_ms, message, len);
}

/* A's integrations, in their freezing order. */
static void
add_integrations (struct agent *a)
{
  if (a->pgbackup)
    a->integrations[a->nintegrations++] = (struct integration) {
      a->pgbackup, pgbackup_integration };
  if (a->fsfreeze)
    a->integrations[a->nintegrations++] = (struct integration) {
      a->fsfreeze, fsfreeze_integration };
  if (a->qga)
    a->integrations[a->nintegrations++] = (struct integration) {
      a->qga, qga_integration };
}

/* TIMEOUT less the time since START, at least 100 ms. */
static int
time_left (int timeout, int64_t start)
{
  timeout -= (int) (timespec_now_ms (CLOCK_MONOTONIC) - start);
  return timeout > 100 ? timeout : 100;
}

/* Freeze: the hook quiesces the application, then the integrations
 * freeze in order.  When integration K fails, those before it are
 * undone at once with their abort (in reverse), so nothing stays
 * frozen after a failed freeze; the abort hook undoes the hook's
 * part. */
static int
freeze_all (struct agent *a, const struct snapvol_writer_event *ev,
            int timeout, char *message, size_t len)
{
  int64_t start = timespec_now_ms (CLOCK_MONOTONIC);
  struct snapvol_writer_event undo = *ev;
  char other[512];
  size_t k;

  if (run_hook (a, ev, timeout, message, len) == -1)
    return -1;
  /* Without a freeze hook the first integration has the whole time
   * (its messages quote it). */
  for (k = 0; k < a->nintegrations; k++)
    if (a->integrations[k].event (a->integrations[k].handle, ev,
                                  k == 0 && a->hooks[HOOK_FREEZE] == NULL
                                  ? timeout : time_left (timeout, start),
                                  message, len) == -1)
      break;
  if (k == a->nintegrations)
    return 0;
  undo.kind = SNAPVOL_WRITER_ABORT;
  undo.name = "abort";
  undo.reason = message;
  while (k-- > 0)
    if (a->integrations[k].event (a->integrations[k].handle, &undo,
                                  time_left (timeout, start),
                                  other, sizeof other) == -1)
      log_warnx ("set %s: undoing the freeze: %s", ev->set_id, other);
  return -1;
}

/* Thaw and abort: the integrations in reverse order, then the hook;
 * every part runs even if one fails, and the first failure is
 * reported. */
static int
thaw_all (struct agent *a, const struct snapvol_writer_event *ev,
          int timeout, char *message, size_t len)
{
  char other[512];
  size_t k = a->nintegrations;
  int r = 0;

  while (k-- > 0)
    if (a->integrations[k].event (a->integrations[k].handle, ev, timeout,
                                  r ? other : message,
                                  r ? sizeof other : len) == -1)
      r = -1;
  if (run_hook (a, ev, timeout, r ? other : message,
                r ? sizeof other : len) == -1)
    r = -1;
  return r;
}

/* EV with the integrations: the application's hook quiesces it before
 * they freeze, and runs after they thaw.  Other events go to the
 * integrations in order, then to the hook, up to the first failure. */
static int
run_event (struct agent *a, const struct snapvol_writer_event *ev,
           int timeout, char *message, size_t len)
{
  size_t k;

  switch (ev->kind) {
  case SNAPVOL_WRITER_FREEZE:
    return freeze_all (a, ev, timeout, message, len);
  case SNAPVOL_WRITER_THAW:
  case SNAPVOL_WRITER_ABORT:
    return thaw_all (a, ev, timeout, message, len);
  default:
    for (k = 0; k < a->nintegrations; k++)
      if (a->integrations[k].event (a->integrations[k].handle, ev, timeout,
                                    message, len) == -1)
        return -1;
    return run_hook (a, ev, timeout, message, len);
  }
}

static int
on_event (void *opaque, const struct snapvol_writer_event *ev,
          char *message, size_t len)
{
  struct agent *a = opaque;
  int timeout = event_timeout (a, ev->kind);

  log_event (a, ev);
  return run_event (a, ev, timeout, message, len);
}

static void
usage (void)
{
  printf ("Usage: " PROGNAME " --coordinator HOST:PORT --cert FILE --key FILE"
          " --ca FILE\n"
          "         --name NAME [--volume PROVIDER/VOLUME]..."
          " [--freeze-timeout MS]\n"
          "         [--prepare CMD] [--freeze CMD] [--thaw CMD]"
          " [--post-snapshot CMD]\n"
          "         [--abort CMD] [--pre-restore CMD] [--post-restore CMD]\n"
          "         [--postgres CONNINFO [--postgres-label-dir DIR]]\n"
          "         [--fsfreeze MOUNTPOINT]... [--qga SOCKET]\n"
          "         [--event-log FILE] [--verbose]\n"
          "\n"
          "Register with snapvol-coordinator as the writer NAME of the\n"
          "volumes given, and run the shell command given for each event\n"
          "of a snapshot set or a set revert.  A hook that exits with a\n"
          "status other than 0 refuses the event (a refused pre-restore\n"
          "vetoes the revert); one still running at its deadline is\n"
          "killed.  Hooks get SNAPVOL_EVENT, SNAPVOL_SET_ID and, by event,\n"
          "SNAPVOL_LABEL, SNAPVOL_VOLUMES, SNAPVOL_WINDOW_MS,\n"
          "SNAPVOL_SNAPSHOTS (JSON), SNAPVOL_REVERTED (1, 0 or unknown)\n"
          "and SNAPVOL_REASON.  --postgres CONNINFO takes a PostgreSQL\n"
          "backup for the pin: pg_backup_start after the freeze hook,\n"
          "pg_backup_stop before the thaw hook, its backup label written to\n"
          "DIR/SET_ID.backup_label (or the log).  --fsfreeze MOUNTPOINT\n"
          "freezes a local filesystem for the pin (FIFREEZE), after the\n"
          "freeze hook; several are frozen in the order given and thawed\n"
          "in reverse, before the thaw hook.  --qga SOCKET freezes a VM's\n"
          "filesystems through its qemu guest agent (the host side of its\n"
          "org.qemu.guest_agent.0 channel) for the pin, after the freeze\n"
          "hook, and thaws them before the thaw hook.  See docs/writers.md.\n"
          "\n"
          "--coordinator, --cert, --key and --ca default to $SNAPVOL_COORDINATOR,\n"
          "$SNAPVOL_CERT, $SNAPVOL_KEY and $SNAPVOL_CA; several coordinators\n"
          "are given as HOST:PORT,HOST:PORT (the leader is found).  --freeze-timeout\n"
          "(100 to 600000, default 10000) bounds prepare, freeze and\n"
          "pre-restore.  SIGINT or SIGTERM ends the agent, after thawing\n"
          "(or running post-restore) if frozen (or restoring).\n");
}

static int
usage_error (const char *fmt, ...)
{
  va_list ap;

  fprintf (stderr, PROGNAME ": ");
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
  return EXIT_USAGE;
}

static const char *
option_or_env (const char *value, const char *var)
{
  if (value == NULL || *value == '\0')
    value = getenv (var);
  return value && *value ? value : NULL;
}

/* What the command line asks for, beyond the agent's own settings. */
struct options {
  const char *coordinator, *cert, *key, *ca;
  const char *name;
  const char **volumes;         /* NVOLUMES of them, in ARGV */
  size_t nvolumes;
  int verbose;
};

enum { OPT_CERT = 0x100, OPT_KEY, OPT_CA, OPT_VOLUME, OPT_FREEZE_TIMEOUT,
       OPT_PREPARE, OPT_FREEZE, OPT_THAW, OPT_POST_SNAPSHOT, OPT_ABORT,
       OPT_PRE_RESTORE, OPT_POST_RESTORE, OPT_EVENT_LOG, OPT_QGA,
       OPT_FSFREEZE, OPT_POSTGRES, OPT_POSTGRES_LABEL_DIR };

static const struct option longopts[] = {
  { "coordinator", required_argument, NULL, 'c' },
  { "cert", required_argument, NULL, OPT_CERT },
  { "key", required_argument, NULL, OPT_KEY },
  { "ca", required_argument, NULL, OPT_CA },
  { "name", required_argument, NULL, 'n' },
  { "volume", required_argument, NULL, OPT_VOLUME },
  { "freeze-timeout", required_argument, NULL, OPT_FREEZE_TIMEOUT },
  { "prepare", required_argument, NULL, OPT_PREPARE },
  { "freeze", required_argument, NULL, OPT_FREEZE },
  { "thaw", required_argument, NULL, OPT_THAW },
  { "post-snapshot", required_argument, NULL, OPT_POST_SNAPSHOT },
  { "abort", required_argument, NULL, OPT_ABORT },
  { "pre-restore", required_argument, NULL, OPT_PRE_RESTORE },
  { "post-restore", required_argument, NULL, OPT_POST_RESTORE },
  { "event-log", required_argument, NULL, OPT_EVENT_LOG },
  { "qga", required_argument, NULL, OPT_QGA },
  { "fsfreeze", required_argument, NULL, OPT_FSFREEZE },
  { "postgres", required_argument, NULL, OPT_POSTGRES },
  { "postgres-label-dir", required_argument, NULL, OPT_POSTGRES_LABEL_DIR },
  { "verbose", no_argument, NULL, 'v' },
  { "help", no_argument, NULL, 'h' },
  { "version", no_argument, NULL, 'V' },
  { NULL, 0, NULL, 0 },
};

/* --freeze-timeout VALUE into A.  0, or EXIT_USAGE after saying why. */
static int
parse_freeze_timeout (struct agent *a, const char *value)
{
  char *end;
  long ms;

  errno = 0;
  ms = strtol (value, &end, 10);
  if (errno || end == value || *end || ms < 100 || ms > 600000)
    return usage_error ("invalid --freeze-timeout '%s': expected "
                        "milliseconds from 100 to 600000", value);
  a->freeze_timeout_ms = (unsigned) ms;
  return 0;
}

/* --qga SOCKET into A.  -1 to go on; else the exit status. */
static int
parse_qga (struct agent *a, const char *path)
{
  if (a->qga)
    return usage_error ("--qga may be given once");
  if (*path == '\0')
    return usage_error ("invalid --qga '': expected the path of the qemu "
                        "guest agent's socket");
  if (strlen (path) >= sizeof ((struct sockaddr_un *) NULL)->sun_path)
    return usage_error ("invalid --qga '%s': a Unix socket path has at "
                        "most %zu bytes", path,
                        sizeof ((struct sockaddr_un *) NULL)->sun_path - 1);
  a->qga = qga_new (path);
  if (a->qga == NULL) {
    perror (PROGNAME ": malloc");
    return EXIT_FAILURE;
  }
  return -1;
}

/* --fsfreeze MOUNTPOINT into A.  -1 to go on; else the exit status. */
static int
parse_fsfreeze (struct agent *a, const char *path)
{
  if (*path == '\0')
    return usage_error ("invalid --fsfreeze '': expected the path of a "
                        "mount point");
  if (a->fsfreeze == NULL && (a->fsfreeze = fsfreeze_new ()) == NULL) {
    perror (PROGNAME ": malloc");
    return EXIT_FAILURE;
  }
  if (fsfreeze_add (a->fsfreeze, path) == -1) {
    if (errno == EEXIST)
      return usage_error ("--fsfreeze '%s' is given twice", path);
    perror (PROGNAME ": malloc");
    return EXIT_FAILURE;
  }
  return -1;
}

/* --postgres CONNINFO into A, its syntax checked.  -1 to go on; else
 * the exit status. */
static int
parse_postgres (struct agent *a, const char *conninfo)
{
  char err[512];

  if (a->postgres)
    return usage_error ("--postgres may be given once");
  if (pgbackup_check_conninfo (conninfo, err, sizeof err) == -1)
    return usage_error ("invalid --postgres '%s': %s", conninfo, err);
  a->postgres = conninfo;
  return -1;
}

/* --postgres-label-dir DIR into A.  -1 to go on; else the exit
 * status. */
static int
parse_postgres_label_dir (struct agent *a, const char *dir)
{
  struct stat st;

  if (a->postgres_label_dir)
    return usage_error ("--postgres-label-dir may be given once");
  if (stat (dir, &st) == -1)
    return usage_error ("invalid --postgres-label-dir '%s': %s", dir,
                        strerror (errno));
  if (!S_ISDIR (st.st_mode))
    return usage_error ("invalid --postgres-label-dir '%s': not a directory",
                        dir);
  a->postgres_label_dir = dir;
  return -1;
}

/* The hook option OPT's slot, or -1 if OPT is not a hook option. */
static int
hook_option (int opt)
{
  switch (opt) {
  case OPT_PREPARE: return HOOK_PREPARE;
  case OPT_FREEZE: return HOOK_FREEZE;
  case OPT_THAW: return HOOK_THAW;
  case OPT_POST_SNAPSHOT: return HOOK_POST_SNAPSHOT;
  case OPT_ABORT: return HOOK_ABORT;
  case OPT_PRE_RESTORE: return HOOK_PRE_RESTORE;
  case OPT_POST_RESTORE: return HOOK_POST_RESTORE;
  default: return -1;
  }
}

/* Option OPT with OPTARG into O and A.  -1 to go on; else the exit
 * status (after --help, --version or a usage error). */
static int
take_option (int opt, char **argv, struct options *o, struct agent *a)
{
  int hook = hook_option (opt);

  if (hook >= 0) {
    a->hooks[hook] = optarg;
    return -1;
  }
  switch (opt) {
  case 'c': o->coordinator = optarg; return -1;
  case OPT_CERT: o->cert = optarg; return -1;
  case OPT_KEY: o->key = optarg; return -1;
  case OPT_CA: o->ca = optarg; return -1;
  case 'n': o->name = optarg; return -1;
  case OPT_VOLUME: o->volumes[o->nvolumes++] = optarg; return -1;
  case OPT_FREEZE_TIMEOUT:
    return parse_freeze_timeout (a, optarg) == 0 ? -1 : EXIT_USAGE;
  case OPT_EVENT_LOG: a->event_log_path = optarg; return -1;
  case OPT_QGA: return parse_qga (a, optarg);
  case OPT_FSFREEZE: return parse_fsfreeze (a, optarg);
  case OPT_POSTGRES: return parse_postgres (a, optarg);
  case OPT_POSTGRES_LABEL_DIR: return parse_postgres_label_dir (a, optarg);
  case 'v': o->verbose = 1; return -1;
  case 'h': usage (); return EXIT_SUCCESS;
  case 'V':
    printf (PROGNAME " (snapvol) %s\n", PACKAGE_VERSION);
    return EXIT_SUCCESS;
  case ':':
    return usage_error ("option '%s' needs an argument", argv[optind - 1]);
  default:
    if (optopt > 0 && optopt < 0x100)
      return usage_error ("unknown option '-%c'", optopt);
    return usage_error ("unknown option '%s'", argv[optind - 1]);
  }
}

/* The command line into O and A, with the environment's defaults, and
 * every required option checked.  -1 to go on; else the exit status.
 * O->volumes is allocated here: the caller frees it in either case. */
static int
parse_command_line (int argc, char **argv, struct options *o,
                    struct agent *a)
{
  int opt, status;

  o->volumes = calloc (argc, sizeof *o->volumes);
  if (o->volumes == NULL) {
    perror (PROGNAME ": calloc");
    return EXIT_FAILURE;
  }
  opterr = 0;
  while ((opt = getopt_long (argc, argv, ":c:n:vhV", longopts, NULL)) != -1)
    if ((status = take_option (opt, argv, o, a)) != -1)
      return status;
  if (optind < argc)
    return usage_error ("unexpected argument '%s'", argv[optind]);
  o->coordinator = option_or_env (o->coordinator, "SNAPVOL_COORDINATOR");
  o->cert = option_or_env (o->cert, "SNAPVOL_CERT");
  o->key = option_or_env (o->key, "SNAPVOL_KEY");
  o->ca = option_or_env (o->ca, "SNAPVOL_CA");
  if (o->name == NULL)
    return usage_error ("--name NAME is required");
  if (a->postgres_label_dir && a->postgres == NULL)
    return usage_error ("--postgres-label-dir needs --postgres");
  if (a->postgres &&
      (a->pgbackup = pgbackup_new (a->postgres, a->postgres_label_dir))
      == NULL) {
    perror (PROGNAME ": malloc");
    return EXIT_FAILURE;
  }
  if (o->coordinator == NULL)
    return usage_error ("no coordinator: use --coordinator HOST:PORT or set "
                        "SNAPVOL_COORDINATOR");
  if (o->cert == NULL || o->key == NULL || o->ca == NULL)
    return usage_error ("the coordinator needs a client certificate: give "
                        "--cert, --key and --ca (or SNAPVOL_CERT, "
                        "SNAPVOL_KEY, SNAPVOL_CA)");
  return -1;
}

/* The global writer, configured from O with A's hooks.  -1 to go on;
 * else the exit status, after saying why (the caller frees the writer
 * in either case). */
static int
make_writer (const struct options *o, struct agent *a)
{
  static const struct snapvol_writer_callbacks cbs = {
    .prepare = on_event, .freeze = on_event, .thaw = on_event,
    .post_snapshot = on_event, .abort = on_event,
    .pre_restore = on_event, .post_restore = on_event,
  };
  size_t i;

  writer = snapvol_writer_new (o->name);
  if (writer == NULL)
    return usage_error ("%s", snapvol_writer_error ());
  if (snapvol_writer_set_coordinator (writer, o->coordinator) == -1 ||
      snapvol_writer_set_tls (writer, o->cert, o->key, o->ca) == -1 ||
      snapvol_writer_set_freeze_timeout (writer, a->freeze_timeout_ms)
      == -1 ||
      snapvol_writer_set_callbacks (writer, &cbs, sizeof cbs, a) == -1 ||
      snapvol_writer_set_log (writer, log_line, NULL) == -1)
    return usage_error ("%s", snapvol_writer_error ());
  for (i = 0; i < o->nvolumes; i++)
    if (snapvol_writer_add_volume (writer, o->volumes[i]) == -1)
      return usage_error ("--volume: %s", snapvol_writer_error ());
  return -1;
}

/* SIGINT, SIGTERM and SIGHUP stop the writer; SIGPIPE is ignored. */
static void
install_signals (void)
{
  struct sigaction sa;

  memset (&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset (&sa.sa_mask);
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);
  sigaction (SIGHUP, &sa, NULL);
  sa.sa_handler = SIG_IGN;
  sigaction (SIGPIPE, &sa, NULL);
}

int
main (int argc, char **argv)
{
  struct agent agent = { .freeze_timeout_ms = 10000, .event_log = -1 };
  struct options o = { .verbose = 0 };
  int status, r;

  status = parse_command_line (argc, argv, &o, &agent);
  if (status == -1) {
    log_init (PROGNAME, o.verbose, 0);
    status = make_writer (&o, &agent);
  }
  free (o.volumes);
  if (status != -1) {
    snapvol_writer_free (writer);
    pgbackup_free (agent.pgbackup);
    fsfreeze_free (agent.fsfreeze);
    qga_free (agent.qga);
    return status;
  }

  if (agent.event_log_path) {
    agent.event_log = open (agent.event_log_path,
                            O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (agent.event_log == -1) {
      log_warn ("--event-log: %s", agent.event_log_path);
      return EXIT_FAILURE;
    }
  }
  add_integrations (&agent);
  install_signals ();

  r = snapvol_writer_run (writer);
  if (r == -1)
    log_warnx ("%s", snapvol_writer_error ());
  snapvol_writer_free (writer);
  pgbackup_free (agent.pgbackup);
  fsfreeze_free (agent.fsfreeze);
  qga_free (agent.qga);
  if (agent.event_log >= 0)
    close (agent.event_log);
  return r == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

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

#include "hook.h"
#include "log.h"
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
       NHOOKS };

struct agent {
  const char *hooks[NHOOKS];
  unsigned freeze_timeout_ms;
  int event_log;                /* -1 if none */
  const char *event_log_path;
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

/* The environment of a hook for EV: -1 on ENOMEM. */
static int
hook_environment (const struct snapvol_writer_event *ev, char **env)
{
  size_t n = 0, i, len = 0;
  char window[32], *volumes;
  int r = 0;

  r |= add_env (env, &n, "EVENT", ev->name);
  r |= add_env (env, &n, "SET_ID", ev->set_id);
  switch (ev->kind) {
  case SNAPVOL_WRITER_PREPARE:
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
    r |= add_env (env, &n, "LABEL", ev->label);
    r |= add_env (env, &n, "VOLUMES", volumes);
    free (volumes);
    break;
  case SNAPVOL_WRITER_FREEZE:
    snprintf (window, sizeof window, "%u", ev->window_ms);
    r |= add_env (env, &n, "WINDOW_MS", window);
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

static int
on_event (void *opaque, const struct snapvol_writer_event *ev,
          char *message, size_t len)
{
  struct agent *a = opaque;
  int i = hook_index (ev->kind), timeout, r;
  char *env[8] = { NULL }, what[64];
  size_t k;

  log_event (a, ev);
  if (i < 0 || a->hooks[i] == NULL)
    return 0;
  if (ev->kind == SNAPVOL_WRITER_PREPARE || ev->kind == SNAPVOL_WRITER_FREEZE)
    timeout = (int) a->freeze_timeout_ms -
      (a->freeze_timeout_ms / 10 < ANSWER_MARGIN_MS
       ? (int) a->freeze_timeout_ms / 10 : ANSWER_MARGIN_MS);
  else
    timeout = LATE_CALL_DEADLINE_MS - ANSWER_MARGIN_MS;
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

static void
usage (void)
{
  printf ("Usage: " PROGNAME " --coordinator HOST:PORT --cert FILE --key FILE"
          " --ca FILE\n"
          "         --name NAME [--volume PROVIDER/VOLUME]..."
          " [--freeze-timeout MS]\n"
          "         [--prepare CMD] [--freeze CMD] [--thaw CMD]"
          " [--post-snapshot CMD]\n"
          "         [--abort CMD] [--event-log FILE] [--verbose]\n"
          "\n"
          "Register with snapvol-coordinator as the writer NAME of the\n"
          "volumes given, and run the shell command given for each event\n"
          "of a snapshot set.  A hook that exits with a status other than\n"
          "0 refuses the event; one still running at its deadline is\n"
          "killed.  Hooks get SNAPVOL_EVENT, SNAPVOL_SET_ID and, by event,\n"
          "SNAPVOL_LABEL, SNAPVOL_VOLUMES, SNAPVOL_WINDOW_MS,\n"
          "SNAPVOL_SNAPSHOTS (JSON) and SNAPVOL_REASON.  See"
          " docs/writers.md.\n"
          "\n"
          "--coordinator, --cert, --key and --ca default to $SNAPVOL_COORDINATOR,\n"
          "$SNAPVOL_CERT, $SNAPVOL_KEY and $SNAPVOL_CA.  --freeze-timeout\n"
          "(100 to 600000, default 10000) bounds prepare and freeze.\n"
          "SIGINT or SIGTERM ends the agent, after thawing if frozen.\n");
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

int
main (int argc, char **argv)
{
  enum { OPT_CERT = 0x100, OPT_KEY, OPT_CA, OPT_VOLUME, OPT_FREEZE_TIMEOUT,
         OPT_PREPARE, OPT_FREEZE, OPT_THAW, OPT_POST_SNAPSHOT, OPT_ABORT,
         OPT_EVENT_LOG };
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
    { "event-log", required_argument, NULL, OPT_EVENT_LOG },
    { "verbose", no_argument, NULL, 'v' },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { NULL, 0, NULL, 0 },
  };
  const struct snapvol_writer_callbacks cbs = {
    .prepare = on_event, .freeze = on_event, .thaw = on_event,
    .post_snapshot = on_event, .abort = on_event,
  };
  struct agent agent = { .freeze_timeout_ms = 10000, .event_log = -1 };
  const char *coordinator = NULL, *cert = NULL, *key = NULL, *ca = NULL;
  const char *name = NULL, **volumes;
  size_t nvolumes = 0, i;
  struct sigaction sa;
  int opt, verbose = 0, r;
  char *end;
  long ms;

  volumes = calloc (argc, sizeof *volumes);
  if (volumes == NULL) {
    perror (PROGNAME ": calloc");
    return EXIT_FAILURE;
  }
  opterr = 0;
  while ((opt = getopt_long (argc, argv, ":c:n:vhV", longopts, NULL)) != -1) {
    switch (opt) {
    case 'c': coordinator = optarg; break;
    case OPT_CERT: cert = optarg; break;
    case OPT_KEY: key = optarg; break;
    case OPT_CA: ca = optarg; break;
    case 'n': name = optarg; break;
    case OPT_VOLUME: volumes[nvolumes++] = optarg; break;
    case OPT_FREEZE_TIMEOUT:
      errno = 0;
      ms = strtol (optarg, &end, 10);
      if (errno || end == optarg || *end || ms < 100 || ms > 600000)
        return usage_error ("invalid --freeze-timeout '%s': expected "
                            "milliseconds from 100 to 600000", optarg);
      agent.freeze_timeout_ms = (unsigned) ms;
      break;
    case OPT_PREPARE: agent.hooks[HOOK_PREPARE] = optarg; break;
    case OPT_FREEZE: agent.hooks[HOOK_FREEZE] = optarg; break;
    case OPT_THAW: agent.hooks[HOOK_THAW] = optarg; break;
    case OPT_POST_SNAPSHOT: agent.hooks[HOOK_POST_SNAPSHOT] = optarg; break;
    case OPT_ABORT: agent.hooks[HOOK_ABORT] = optarg; break;
    case OPT_EVENT_LOG: agent.event_log_path = optarg; break;
    case 'v': verbose = 1; break;
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
  if (optind < argc)
    return usage_error ("unexpected argument '%s'", argv[optind]);
  coordinator = option_or_env (coordinator, "SNAPVOL_COORDINATOR");
  cert = option_or_env (cert, "SNAPVOL_CERT");
  key = option_or_env (key, "SNAPVOL_KEY");
  ca = option_or_env (ca, "SNAPVOL_CA");
  if (name == NULL)
    return usage_error ("--name NAME is required");
  if (coordinator == NULL)
    return usage_error ("no coordinator: use --coordinator HOST:PORT or set "
                        "SNAPVOL_COORDINATOR");
  if (cert == NULL || key == NULL || ca == NULL)
    return usage_error ("the coordinator needs a client certificate: give "
                        "--cert, --key and --ca (or SNAPVOL_CERT, "
                        "SNAPVOL_KEY, SNAPVOL_CA)");

  log_init (PROGNAME, verbose, 0);
  writer = snapvol_writer_new (name);
  if (writer == NULL)
    return usage_error ("%s", snapvol_writer_error ());
  if (snapvol_writer_set_coordinator (writer, coordinator) == -1 ||
      snapvol_writer_set_tls (writer, cert, key, ca) == -1 ||
      snapvol_writer_set_freeze_timeout (writer, agent.freeze_timeout_ms)
      == -1 ||
      snapvol_writer_set_callbacks (writer, &cbs, sizeof cbs, &agent) == -1 ||
      snapvol_writer_set_log (writer, log_line, NULL) == -1)
    return usage_error ("%s", snapvol_writer_error ());
  for (i = 0; i < nvolumes; i++)
    if (snapvol_writer_add_volume (writer, volumes[i]) == -1)
      return usage_error ("--volume: %s", snapvol_writer_error ());
  free (volumes);

  if (agent.event_log_path) {
    agent.event_log = open (agent.event_log_path,
                            O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (agent.event_log == -1) {
      log_warn ("--event-log: %s", agent.event_log_path);
      return EXIT_FAILURE;
    }
  }

  memset (&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset (&sa.sa_mask);
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);
  sigaction (SIGHUP, &sa, NULL);
  sa.sa_handler = SIG_IGN;
  sigaction (SIGPIPE, &sa, NULL);

  r = snapvol_writer_run (writer);
  if (r == -1)
    log_warnx ("%s", snapvol_writer_error ());
  snapvol_writer_free (writer);
  if (agent.event_log >= 0)
    close (agent.event_log);
  return r == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

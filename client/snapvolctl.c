/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * snapvolctl.c: the snapvol control CLI: global options, dispatch to
 * the command tables, help, and the helpers every command uses.
 */

#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "humansize.h"
#include "log.h"
#include "output.h"
#include "proto.h"
#include "rpc-client.h"

#define PROGNAME "snapvolctl"
#define DEFAULT_TIMEOUT_S 60
#define MAX_TIMEOUT_S 86400

/* getopt values of a command's own options: OPT_COMMAND + index. */
#define OPT_COMMAND 0x100
/* getopt values of the coordinator's global options. */
enum {
  OPT_COORDINATOR = 0x80, OPT_CERT, OPT_KEY, OPT_CA,
};

static const struct ctl_command *const command_tables[] = {
  ctl_pool_commands,
  ctl_volume_commands,
  ctl_snapshot_commands,
  ctl_policy_commands,
  ctl_diff_commands,
  ctl_backup_commands,
  ctl_check_commands,
  ctl_set_commands,
  ctl_writer_commands,
  ctl_provider_commands,
  ctl_volumes_commands,
  ctl_status_commands,
};
#define NTABLES (sizeof command_tables / sizeof command_tables[0])

static void
print_help (void)
{
  size_t t;
  const struct ctl_command *c;

  printf ("Usage: " PROGNAME " [--socket SOCKET] [--json] [--timeout SECONDS]"
          " COMMAND [ARG]...\n"
          "       " PROGNAME " --coordinator HOST:PORT --cert FILE --key FILE"
          " --ca FILE\n"
          "                  [--json] [--timeout SECONDS] COMMAND [ARG]...\n"
          "\n"
          "Manage the volumes and snapshots of a snapvol server through its\n"
          "control socket, and the snapshot sets, writers and providers of\n"
          "snapvol-coordinator (the set, writer, provider, volumes and\n"
          "status commands; diff and backup go to the coordinator with\n"
          "--coordinator).\n"
          "\n"
          "Commands:\n");
  for (t = 0; t < NTABLES; t++)
    for (c = command_tables[t]; c->group; c++)
      printf ("  %s%s%s%s%s\n      %s\n", c->group, *c->verb ? " " : "",
              c->verb, *c->synopsis ? " " : "", c->synopsis, c->summary);
  printf ("\n"
          "Options:\n"
          "  -s, --socket SOCKET     the server's control socket"
          " (default: $SNAPVOL_SOCKET)\n"
          "  -j, --json              print the result as one JSON value\n"
          "  -t, --timeout SECONDS   wait this long for an answer"
          " (default %d;\n"
          "                          set create: %d)\n"
          "      --coordinator HOST:PORT  the coordinator"
          " (default: $SNAPVOL_COORDINATOR);\n"
          "                          several: HOST:PORT,HOST:PORT\n"
          "      --cert FILE         our certificate for the coordinator"
          " ($SNAPVOL_CERT)\n"
          "      --key FILE          its private key ($SNAPVOL_KEY)\n"
          "      --ca FILE           the CA bundle of the coordinator's"
          " certificate\n"
          "                          ($SNAPVOL_CA)\n"
          "  -h, --help              print this help and exit\n"
          "  -V, --version           print the version and exit\n"
          "\n"
          "SIZE is a number of bytes, optionally with a suffix K, M, G, T,\n"
          "P or E for powers of 1024 (512M, 10G, 10GiB).  ID is a snapshot\n"
          "id or a snapshot set id.  \"" PROGNAME " COMMAND --help\""
          " describes one command.\n"
          "\n"
          "Exit status: 0 on success, 1 if the command failed, 2 if the\n"
          "command line is wrong.  Errors are printed on stderr; with --json\n"
          "also on stdout, as {\"error\": {\"code\": N, \"message\": \"...\"}}\n"
          "(N: the server's JSON-RPC error code, else the exit status).\n",
          DEFAULT_TIMEOUT_S,
          CTL_SET_CREATE_TIMEOUT_S);
}

static void
print_command_help (const struct ctl_command *c)
{
  printf ("Usage: " PROGNAME " %s%s%s%s%s%s\n\n%s\n",
          c->coordinator == CTL_COORDINATOR ? "[--coordinator HOST:PORT "
          "--cert FILE --key FILE --ca FILE] [--json] "
          : c->coordinator == CTL_EITHER ? "[--socket SOCKET | --coordinator HOST:PORT --cert "
          "FILE --key FILE --ca FILE] [--json] "
          : "[--socket SOCKET] [--json] ",
          c->group, *c->verb ? " " : "", c->verb, *c->synopsis ? " " : "",
          c->synopsis, c->summary);
}

/* Whether this run's error was printed on stdout already. */
static bool error_printed;

void
ctl_error_printed (void)
{
  error_printed = true;
}

/* MESSAGE as a JSON string.  A message quoting an argument that is not
 * UTF-8 (the very error check_utf8 reports) has its bytes above 0x7f
 * replaced by '?'. */
static json_t *
message_string (const char *message)
{
  json_t *s = json_string (message);
  char *copy, *p;

  if (s != NULL || (copy = strdup (message)) == NULL)
    return s;
  for (p = copy; *p; p++)
    if ((unsigned char) *p > 0x7f)
      *p = '?';
  s = json_string (copy);
  free (copy);
  return s;
}

int
ctl_report (const struct ctl *ctl, int code, const char *message,
            const char *line)
{
  json_t *obj;

  log_warnx ("%s", line);
  if (ctl != NULL && (ctl->json || ctl->json_errors) && !error_printed) {
    error_printed = true;
    obj = json_pack ("{s:{s:i, s:o*}}", "error", "code", code,
                     "message", message_string (message));
    if (obj == NULL || !json_is_string (json_object_get (
          json_object_get (obj, "error"), "message")))
      log_warnx ("cannot report the error as JSON: out of memory");
    else
      out_json (obj);
    json_decref (obj);
  }
  return code == CTL_EXIT_USAGE ? CTL_EXIT_USAGE : CTL_EXIT_FAILURE;
}

/* Report the message FMT, AP with the command's name before it on
 * stderr. */
static int
report_v (const struct ctl *ctl, int code, const char *fmt, va_list ap)
{
  char message[2048], line[2048 + sizeof ctl->command + 4];

  vsnprintf (message, sizeof message, fmt, ap);
  if (ctl && ctl->command[0])
    snprintf (line, sizeof line, "%s: %s", ctl->command, message);
  else
    snprintf (line, sizeof line, "%s", message);
  return ctl_report (ctl, code, message, line);
}

int
ctl_error (const struct ctl *ctl, int code, const char *fmt, ...)
{
  va_list ap;
  int r;

  va_start (ap, fmt);
  r = report_v (ctl, code, fmt, ap);
  va_end (ap);
  return r;
}

int
ctl_usage_error (const struct ctl *ctl, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  report_v (ctl, CTL_EXIT_USAGE, fmt, ap);
  va_end (ap);
  return CTL_EXIT_USAGE;
}

int
ctl_bad_answer (const struct ctl *ctl, const char *why)
{
  return ctl_error (ctl, CTL_EXIT_FAILURE, "invalid answer from %s: %s",
                    ctl->socket ? ctl->socket : ctl->coordinator, why);
}

int
ctl_parse_size (const struct ctl *ctl, const char *what, const char *arg,
                uint64_t *out)
{
  const char *why;

  if (humansize_parse (arg, out, &why) == -1) {
    ctl_usage_error (ctl, "invalid %s '%s': %s", what, arg, why);
    return -1;
  }
  return 0;
}

int
ctl_parse_expires (const struct ctl *ctl, const char *arg, json_int_t *out)
{
  unsigned long long secs;
  char *end;

  errno = 0;
  secs = strtoull (arg, &end, 10);
  if (errno != 0 || end == arg || *end != '\0' || arg[0] == '-' ||
      secs < 1 || secs > PROTO_HOLD_EXPIRES_MAX_S) {
    ctl_usage_error (ctl, "invalid --expires '%s': expected seconds from 1 "
                     "to %d", arg, PROTO_HOLD_EXPIRES_MAX_S);
    return -1;
  }
  *out = (json_int_t) secs;
  return 0;
}

json_t *
ctl_call (struct ctl *ctl, const char *method, json_t *params)
{
  struct rpc_error e;
  json_t *result = NULL;

  if (params == NULL) {
    ctl_error (ctl, CTL_EXIT_FAILURE,
               "cannot build the request: out of memory");
    return NULL;
  }
  if (rpc_call (ctl->socket, ctl->timeout_ms, method, params, &result,
                &e) == -1) {
    /* "cannot connect to SOCKET: ..." says enough on its own. */
    if (e.where == RPC_FAILED_CONNECT)
      ctl_report (ctl, CTL_EXIT_FAILURE, e.message, e.message);
    else
      ctl_error (ctl, e.where == RPC_FAILED_SERVER ? e.code
                 : CTL_EXIT_FAILURE, "%s", e.message);
    return NULL;
  }
  return result;
}

int
ctl_print_result (struct ctl *ctl, json_t *res, bool array,
                  int (*print) (json_t *res))
{
  int r;

  if (res == NULL)
    return CTL_EXIT_FAILURE;
  if (array ? !json_is_array (res) : !json_is_object (res))
    r = ctl_bad_answer (ctl, array ? "the result is not an array"
                        : "the result is not an object");
  else if (ctl->json)
    r = out_json (res) == 0 ? CTL_EXIT_OK : CTL_EXIT_FAILURE;
  else {
    out_sanitize (res);
    r = print (res);
  }
  json_decref (res);
  return r;
}

/* Every string we put in a request must be valid UTF-8 (JSON text
 * is); check them all once here so that no command meets a failing
 * json_string later. */
static int
check_utf8 (const struct ctl *ctl, const struct ctl_args *a)
{
  int i;

  for (i = 0; i < a->argc + CTL_MAX_OPTIONS; i++) {
    int n = i < a->argc ? 1 : a->nvalues[i - a->argc], k;

    for (k = 0; k < n; k++) {
      const char *s = i < a->argc ? a->argv[i] : a->values[i - a->argc][k];
      json_t *j = json_string (s);

      if (j == NULL)
        return ctl_usage_error (ctl, "argument '%s' is not valid UTF-8", s);
      json_decref (j);
    }
  }
  return 0;
}

static int
parse_timeout (const struct ctl *ctl, const char *arg, int *ms)
{
  char *end;
  long s;

  errno = 0;
  s = strtol (arg, &end, 10);
  if (errno || end == arg || *end || s <= 0 || s > MAX_TIMEOUT_S)
    return ctl_usage_error (ctl, "invalid --timeout '%s': expected whole "
                            "seconds from 1 to %d", arg, MAX_TIMEOUT_S);
  *ms = (int) s * 1000;
  return 0;
}

/* Parse the options and arguments of command C from ARGV (ARGV[0] is
 * the verb) into A.  Returns -1 to go on, or an exit status. */
static int
parse_command_line (struct ctl *ctl, const struct ctl_command *c,
                    int argc, char **argv, struct ctl_args *a)
{
  struct option longopts[CTL_MAX_OPTIONS + 9];
  size_t n = 0;
  int opt;

  for (n = 0; n < CTL_MAX_OPTIONS && c->options[n]; n++)
    longopts[n] = (struct option) {
      c->options[n], c->flags & (1u << n) ? no_argument : required_argument,
      NULL, OPT_COMMAND + (int) n
    };
  /* The global options are accepted after the command too. */
  longopts[n++] = (struct option) { "socket", required_argument, NULL, 's' };
  longopts[n++] = (struct option) { "timeout", required_argument, NULL, 't' };
  longopts[n++] = (struct option) { "json", no_argument, NULL, 'j' };
  longopts[n++] = (struct option) { "help", no_argument, NULL, 'h' };
  longopts[n++] = (struct option) { "coordinator", required_argument, NULL,
                                    OPT_COORDINATOR };
  longopts[n++] = (struct option) { "cert", required_argument, NULL, OPT_CERT };
  longopts[n++] = (struct option) { "key", required_argument, NULL, OPT_KEY };
  longopts[n++] = (struct option) { "ca", required_argument, NULL, OPT_CA };
  longopts[n] = (struct option) { NULL, 0, NULL, 0 };

  /* optind 0 restarts GNU getopt; options may follow arguments. */
  optind = 0;
  opterr = 0;
  while ((opt = getopt_long (argc, argv, ":s:t:jh", longopts, NULL)) != -1) {
    switch (opt) {
    case 's':
      ctl->socket = optarg;
      break;
    case 't':
      if (parse_timeout (ctl, optarg, &ctl->timeout_ms) != 0)
        return CTL_EXIT_USAGE;
      ctl->timeout_given = true;
      break;
    case 'j':
      ctl->json = true;
      break;
    case 'h':
      print_command_help (c);
      return CTL_EXIT_OK;
    case OPT_COORDINATOR:
      ctl->coordinator = optarg;
      break;
    case OPT_CERT:
      ctl->cert = optarg;
      break;
    case OPT_KEY:
      ctl->key = optarg;
      break;
    case OPT_CA:
      ctl->ca = optarg;
      break;
    case ':':
      return ctl_usage_error (ctl, "option '%s' needs an argument",
                              argv[optind - 1]);
    case '?':
      if (optopt > 0 && optopt < OPT_COMMAND)
        return ctl_usage_error (ctl, "unknown option '-%c'", optopt);
      return ctl_usage_error (ctl, "unknown option '%s'", argv[optind - 1]);
    default: {
      int i = opt - OPT_COMMAND;

      a->opt[i] = optarg ? optarg : "";
      if (a->values[i] == NULL) {
        /* No option can be given more often than there are words. */
        a->values[i] = calloc (argc, sizeof *a->values[i]);
        if (a->values[i] == NULL)
          return ctl_usage_error (ctl, "out of memory");
      }
      a->values[i][a->nvalues[i]++] = a->opt[i];
      break;
    }
    }
  }

  a->argc = argc - optind;
  a->argv = argv + optind;
  if (a->argc < c->min_args || (c->max_args >= 0 && a->argc > c->max_args))
    return ctl_usage_error (ctl, "%s arguments (expected: %s)",
                            a->argc < c->min_args ? "missing" : "too many",
                            *c->synopsis ? c->synopsis : "none");
  if (check_utf8 (ctl, a) != 0)
    return CTL_EXIT_USAGE;
  return -1;
}

/* VALUE, or the environment variable VAR when VALUE is unset. */
static const char *
option_or_env (const char *value, const char *var)
{
  if (value == NULL || *value == '\0')
    value = getenv (var);
  return value && *value ? value : NULL;
}

int
ctl_coordinator_settings (struct ctl *ctl)
{
  ctl->coordinator = option_or_env (ctl->coordinator, "SNAPVOL_COORDINATOR");
  ctl->cert = option_or_env (ctl->cert, "SNAPVOL_CERT");
  ctl->key = option_or_env (ctl->key, "SNAPVOL_KEY");
  ctl->ca = option_or_env (ctl->ca, "SNAPVOL_CA");
  if (ctl->coordinator == NULL)
    return ctl_usage_error (ctl, "no coordinator: use --coordinator "
                            "HOST:PORT or set SNAPVOL_COORDINATOR");
  if (ctl->cert == NULL || ctl->key == NULL || ctl->ca == NULL)
    return ctl_usage_error (ctl, "the coordinator needs a client certificate:"
                            " give --cert, --key and --ca (or SNAPVOL_CERT,"
                            " SNAPVOL_KEY and SNAPVOL_CA)");
  return 0;
}

/* Whether command C goes to the coordinator: a coordinator command
 * does; one that may go to either does when --coordinator was given,
 * or when no control socket was and $SNAPVOL_COORDINATOR is set. */
static bool
to_coordinator (const struct ctl *ctl, const struct ctl_command *c)
{
  if (c->coordinator != CTL_EITHER)
    return c->coordinator == CTL_COORDINATOR;
  if (ctl->coordinator != NULL && *ctl->coordinator != '\0')
    return true;
  return option_or_env (ctl->socket, "SNAPVOL_SOCKET") == NULL &&
    option_or_env (NULL, "SNAPVOL_COORDINATOR") != NULL;
}

static int
run_command (struct ctl *ctl, const struct ctl_command *c,
             int argc, char **argv)
{
  struct ctl_args args = { 0 };
  int r, i;

  snprintf (ctl->command, sizeof ctl->command, "%s%s%s", c->group,
            *c->verb ? " " : "", c->verb);
  r = parse_command_line (ctl, c, argc, argv, &args);
  if (r < 0) {
    if (to_coordinator (ctl, c)) {
      ctl->socket = NULL;
      r = ctl_coordinator_settings (ctl);
    }
    else {
      ctl->coordinator = NULL;
      if (ctl->socket == NULL || *ctl->socket == '\0')
        ctl->socket = getenv ("SNAPVOL_SOCKET");
      r = 0;
      if (ctl->socket == NULL || *ctl->socket == '\0')
        r = ctl_usage_error (ctl, "no control socket: use --socket SOCKET "
                             "or set SNAPVOL_SOCKET");
    }
    if (r == 0)
      r = c->run (ctl, &args);
  }
  for (i = 0; i < CTL_MAX_OPTIONS; i++)
    free (args.values[i]);
  return r;
}

/* Find the command named by ARGV[0] ARGV[1] and run it. */
static int
dispatch (struct ctl *ctl, int argc, char **argv)
{
  const struct ctl_command *table = NULL, *c;
  size_t t;

  for (t = 0; t < NTABLES && table == NULL; t++)
    if (strcmp (command_tables[t]->group, argv[0]) == 0)
      table = command_tables[t];
  if (table == NULL)
    return ctl_usage_error (ctl, "unknown command '%s' (see "
                            "'" PROGNAME " --help')", argv[0]);
  /* A command without a verb ("volumes", "diff", "backup") has its options
   * parsed like the others; ARGV[0] stands for the verb. */
  if (*table->verb == '\0' && table != ctl_check_commands)
    return run_command (ctl, table, argc, argv);
  /* A command without a verb ("check DIR") works on local files, needs
   * no control socket and parses its whole command line itself. */
  if (*table->verb == '\0') {
    struct ctl_args args = { .argc = argc, .argv = argv };
    snprintf (ctl->command, sizeof ctl->command, "%s", table->group);
    return table->run (ctl, &args);
  }
  if (argc < 2)
    return ctl_usage_error (ctl, "%s: missing subcommand (see "
                            "'" PROGNAME " --help')", argv[0]);

  for (c = table; c->group; c++)
    if (strcmp (c->verb, argv[1]) == 0)
      return run_command (ctl, c, argc - 1, argv + 1);
  return ctl_usage_error (ctl, "unknown command '%s %s' (see "
                          "'" PROGNAME " --help')", argv[0], argv[1]);
}

/* Whether --json (or -j) is among the options of ARGV, wherever it
 * is: an error found before the option is parsed (an unknown option
 * or command before it) is then printed as JSON too. */
static bool
json_asked (int argc, char **argv)
{
  int i;

  for (i = 1; i < argc && strcmp (argv[i], "--") != 0; i++)
    if (strcmp (argv[i], "--json") == 0 || strcmp (argv[i], "-j") == 0)
      return true;
  return false;
}

int
main (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "socket", required_argument, NULL, 's' },
    { "json", no_argument, NULL, 'j' },
    { "timeout", required_argument, NULL, 't' },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { "coordinator", required_argument, NULL, OPT_COORDINATOR },
    { "cert", required_argument, NULL, OPT_CERT },
    { "key", required_argument, NULL, OPT_KEY },
    { "ca", required_argument, NULL, OPT_CA },
    { NULL, 0, NULL, 0 },
  };
  struct ctl ctl = { .timeout_ms = DEFAULT_TIMEOUT_S * 1000 };
  int opt, r;

  log_init (PROGNAME, 0, 0);
  ctl.json_errors = json_asked (argc, argv);

  /* '+': stop at the command; its options are parsed on its behalf. */
  opterr = 0;
  while ((opt = getopt_long (argc, argv, "+:s:jt:hV", longopts, NULL)) != -1) {
    switch (opt) {
    case 's':
      ctl.socket = optarg;
      break;
    case 'j':
      ctl.json = true;
      break;
    case 't':
      if (parse_timeout (&ctl, optarg, &ctl.timeout_ms) != 0)
        return CTL_EXIT_USAGE;
      ctl.timeout_given = true;
      break;
    case 'h':
      print_help ();
      return CTL_EXIT_OK;
    case OPT_COORDINATOR:
      ctl.coordinator = optarg;
      break;
    case OPT_CERT:
      ctl.cert = optarg;
      break;
    case OPT_KEY:
      ctl.key = optarg;
      break;
    case OPT_CA:
      ctl.ca = optarg;
      break;
    case 'V':
      printf (PROGNAME " (snapvol) %s\n", PACKAGE_VERSION);
      return CTL_EXIT_OK;
    case ':':
      return ctl_usage_error (&ctl, "option '%s' needs an argument",
                              argv[optind - 1]);
    default:
      if (optopt > 0)
        return ctl_usage_error (&ctl, "unknown option '-%c'", optopt);
      return ctl_usage_error (&ctl, "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind >= argc)
    return ctl_usage_error (&ctl, "no command given");

  r = dispatch (&ctl, argc - optind, argv + optind);
  if (fflush (stdout) == EOF || ferror (stdout)) {
    log_warn ("write: stdout");
    r = CTL_EXIT_FAILURE;
  }
  return r;
}

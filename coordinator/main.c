/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * main.c: snapvol-coordinator, the daemon that takes consistent
 * snapshot sets across providers after freezing writers: options,
 * startup, recovery and shutdown.
 *
 * Startup order, so that every error a user can fix is reported on the
 * terminal before the daemon detaches: read the configuration (all its
 * errors), load the TLS files, bind the listening sockets, become the
 * configured user (which is why this comes after the two steps that may
 * need root), open the catalog; then fork, reopen the catalog in the daemon (its lock
 * belongs to a process), record unfinished sets failed (recovery),
 * and serve.
 *
 * With 'catalog etcd' there is no catalog until this coordinator is
 * elected: it serves as a follower (methods.c answers "not the
 * leader"), and on winning loads the catalog from etcd and recovers as
 * above.  Losing leadership re-executes the program with its original
 * arguments (restart()), so that nothing of the lost term -- a set in
 * flight, a registry, a catalog -- lives on in the process.
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "catalog.h"
#include "catalog-etcd.h"
#include "conf.h"
#include "conn.h"
#include "coord.h"
#include "election.h"
#include "exporter.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "methods.h"
#include "rebuild.h"
#include "registry.h"
#include "set.h"
#include "tls.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

#define PROGNAME "snapvol-coordinator"

/* The command line, to re-execute it when leadership is lost. */
static char **saved_argv;
#define DEFAULT_CONFIG SYSCONFDIR "/snapvol/coordinator.conf"

static void
usage (FILE *fp)
{
  fprintf (fp,
           "usage: " PROGNAME " [-fnv] [-c FILE] [--rebuild-catalog "
           "[--rebuild-wait DURATION]]\n"
           "  -c, --config FILE    configuration file (default "
           DEFAULT_CONFIG ")\n"
           "  -f, --foreground     do not detach; log to stderr\n"
           "  -n, --check-config   check the configuration and the TLS "
           "files, then exit\n"
           "  -v, --verbose        log debug messages\n"
           "      --rebuild-catalog  record the committed sets the "
           "providers hold\n"
           "                       that the catalog lacks "
           "(docs/coordinator.md)\n"
           "      --rebuild-wait DURATION  how long to ask providers as "
           "they register\n"
           "                       (default 60s)\n"
           "  -V, --version        print the version and exit\n"
           "  -h, --help           print this help and exit\n");
}

static void
stop_cb (evutil_socket_t sig, short what, void *arg)
{
  struct coord *co = arg;

  log_info ("received %s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  event_base_loopbreak (co->base);
}

static int
write_pid_file (const char *path)
{
  char buf[32];
  int fd, n;

  fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd == -1) {
    log_warn ("pid-file %s", path);
    return -1;
  }
  n = snprintf (buf, sizeof buf, "%d\n", (int) getpid ());
  if (write (fd, buf, (size_t) n) != n) {
    log_warn ("pid-file %s: write", path);
    close (fd);
    return -1;
  }
  close (fd);
  return 0;
}

/* Become the user of the 'user' directive, for good: the groups, then
 * the real, effective and saved group and user ids, so that nothing
 * can take root back.  Called once the listeners are bound and the
 * TLS files are read.  Already running as that user, there is nothing
 * to do.  -1 after logging which step failed. */
static int
drop_privileges (const struct config *conf)
{
  uid_t uid = conf->user_uid;
  gid_t gid = conf->user_gid;

  if (getuid () == uid && geteuid () == uid && getgid () == gid &&
      getegid () == gid)
    return 0;
  if (initgroups (conf->user, gid) == -1) {
    log_warn ("user %s: initgroups", conf->user);
    return -1;
  }
  if (setresgid (gid, gid, gid) == -1) {
    log_warn ("user %s: setresgid %u", conf->user, (unsigned) gid);
    return -1;
  }
  if (setresuid (uid, uid, uid) == -1) {
    log_warn ("user %s: setresuid %u", conf->user, (unsigned) uid);
    return -1;
  }
  log_info ("running as user %s (uid %u, gid %u)", conf->user,
            (unsigned) uid, (unsigned) gid);
  return 0;
}

/* Start over as a new process: the same program, the same arguments.
 * Every descriptor but stdin, stdout and stderr is closed by the exec,
 * so peers see their connections end and the listening sockets are
 * bound anew.  Does not return. */
static void __attribute__((noreturn))
restart (void)
{
  int fd;

  if (close_range (3, ~0U, CLOSE_RANGE_CLOEXEC) == -1)
    for (fd = 3; fd < 65536; fd++)
      fcntl (fd, F_SETFD, FD_CLOEXEC);
  execv ("/proc/self/exe", saved_argv);
  log_warn ("restart: execv /proc/self/exe");
  exit (EXIT_FAILURE);
}

static struct catalog *
open_catalog (const struct config *conf)
{
  struct catalog *cat;
  char err[1024];

  cat = catalog_open (conf->catalog, err, sizeof err);
  if (cat == NULL)
    log_warnx ("%s", err);
  return cat;
}

/* Wiring.  Calls go down only: the transport (conn.c) knows no method
 * and no registry, and the registry knows no set; each is given the
 * layer above as callbacks here, with struct coord as their argument. */

static json_t *
transport_request (void *arg, struct conn *c, const char *method,
                   json_t *params, struct reply_token tok,
                   struct rpcerr *e, bool *deferred)
{
  return methods_dispatch (arg, c, method, params, tok, e, deferred);
}

/* A follower has no registry: no peer registers with it. */
static void
transport_peer_seen (void *arg, struct conn *c)
{
  struct coord *co = arg;

  if (co->reg)
    registry_seen (co->reg, c);
}

static void
transport_peer_closed (void *arg, struct conn *c)
{
  struct coord *co = arg;

  if (co->reg)
    registry_conn_closed (co->reg, c);
}

static const struct conn_ops transport_ops = {
  .request = transport_request,
  .peer_seen = transport_peer_seen,
  .peer_closed = transport_peer_closed,
};

/* The set layer learns about peers from the registry's announcements
 * (the registry does not call set.c). */

static void
sets_on_provider_registered (void *arg, struct provider *p)
{
  struct coord *co = arg;

  sets_provider_registered (co->sets, p);
  if (co->rebuild)
    rebuild_provider_registered (co->rebuild, p);
}

static void
sets_on_provider_forgotten (void *arg, const char *name)
{
  struct coord *co = arg;

  sets_provider_forgotten (co->sets, name);
}

static void
sets_on_peer_gone (void *arg, enum peer_kind kind, const char *name)
{
  struct coord *co = arg;

  sets_peer_gone (co->sets, kind == PEER_WRITER, name);
}

static const struct registry_observer sets_observer = {
  .provider_registered = sets_on_provider_registered,
  .provider_forgotten = sets_on_provider_forgotten,
  .peer_gone = sets_on_peer_gone,
};

/* Recovery, then the layers that serve sets, over CO->cat: what a
 * restarted coordinator does, and an elected one.  -1 after logging. */
static int
start_serving (struct coord *co)
{
  int n;

  n = catalog_fail_unfinished (co->cat,
                               "the coordinator restarted during the set",
                               time (NULL));
  if (n < 0)
    return -1;
  if (n > 0)
    log_warnx ("recovery: %d unfinished snapshot set%s recorded failed; "
               "their snapshots are deleted as their providers register",
               n, n == 1 ? "" : "s");
  co->sets = sets_new (co);
  co->reg = co->sets ? registry_new (co, &sets_observer, co) : NULL;
  if (co->reg == NULL)
    return -1;
  if (co->rebuild_ms &&
      (co->rebuild = rebuild_start (co, co->rebuild_ms)) == NULL)
    return -1;
  return 0;
}

/* election_ops: this coordinator leads from now on with TERM. */
static int
on_elected (void *arg, struct etcd *e, uint64_t term)
{
  struct coord *co = arg;
  const struct config *conf = co->conf;
  char err[1024];

  co->term = term;
  co->cat = catalog_etcd_load (e, conf->etcd_prefix, err, sizeof err);
  if (co->cat == NULL) {
    log_warnx ("%s", err);
    return -1;
  }
  if (catalog_etcd_attach (co->cat, e, conf->etcd_prefix, term,
                           conf->advertise, err, sizeof err) == -1) {
    log_warnx ("%s", err);
    return -1;
  }
  if (start_serving (co) == -1)
    return -1;
  log_info ("leading with term %llu as %s", (unsigned long long) term,
            conf->advertise);
  return 0;
}

/* election_ops: leadership is lost; the process starts over. */
static void
on_lost (void *arg, const char *why)
{
  log_warnx ("leadership lost: %s; restarting to serve as a follower", why);
  restart ();
}

static const struct election_ops election_ops = {
  .elected = on_elected,
  .lost = on_lost,
};

static int
start_election (struct coord *co)
{
  char err[1024];

  co->election = election_new (co->base, co->conf, &election_ops, co, err,
                               sizeof err);
  if (co->election == NULL) {
    log_warnx ("%s", err);
    return -1;
  }
  log_info ("following until elected, as %s (etcd prefix %s, lease TTL "
            "%u s)", co->conf->advertise, co->conf->etcd_prefix,
            co->conf->etcd_lease_s);
  return 0;
}

/* Serve until SIGTERM or SIGINT, rebuilding the catalog for
 * REBUILD_MS first if not 0 (with 'catalog etcd', once elected).  -1 if
 * the daemon could not start. */
static int
serve (struct coord *co, unsigned rebuild_ms)
{
  struct event *sigterm = NULL, *sigint = NULL;
  int r = -1;

  co->rebuild_ms = rebuild_ms;
  co->base = event_base_new ();
  if (co->base == NULL) {
    log_warnx ("cannot create the event loop");
    return -1;
  }
  co->conns = conns_new (co, &transport_ops, co);
  if (co->conns == NULL ||
      (!co->conf->catalog_etcd && start_serving (co) == -1) ||
      listeners_start (co) == -1 || exporter_start (co) == -1 ||
      (co->conf->catalog_etcd && start_election (co) == -1))
    goto out;
  sigterm = evsignal_new (co->base, SIGTERM, stop_cb, co);
  sigint = evsignal_new (co->base, SIGINT, stop_cb, co);
  if (sigterm == NULL || sigint == NULL || evsignal_add (sigterm, NULL) == -1
      || evsignal_add (sigint, NULL) == -1) {
    log_warnx ("cannot handle signals");
    goto out;
  }
  if (co->conf->pid_file && write_pid_file (co->conf->pid_file) == -1)
    goto out;
  log_info ("started (version " PACKAGE_VERSION ")");
  event_base_dispatch (co->base);
  r = 0;
  if (co->conf->pid_file)
    unlink (co->conf->pid_file);

 out:
  if (sigterm)
    event_free (sigterm);
  if (sigint)
    event_free (sigint);
  /* Record the running set first, while its state is known; then end
   * the calls (their callbacks see co->stopping), then free. */
  co->stopping = true;
  if (co->sets)
    sets_shutdown (co->sets);
  listeners_free (co->listeners);
  co->listeners = NULL;
  exporter_free (co->exporter);
  co->exporter = NULL;
  conns_free (co->conns);
  rebuild_free (co->rebuild);
  co->rebuild = NULL;
  sets_free (co->sets);
  registry_free (co->reg);
  /* Closing the connections and freeing the registry write the
   * catalog (a peer's last_seen, the writers' states), so it is closed
   * after them.  The etcd catalog writes through the election's
   * client: close it, then give the leadership up. */
  if (co->conf->catalog_etcd) {
    catalog_close (co->cat);
    co->cat = NULL;
  }
  election_free (co->election);
  co->election = NULL;
  event_base_free (co->base);
  return r;
}

struct options {
  const char *path;             /* the configuration file */
  int foreground, check, verbose;
  int rebuild;                  /* --rebuild-catalog */
  const char *rebuild_wait;     /* NULL: not given */
  unsigned rebuild_ms;
};

/* --rebuild-catalog and --rebuild-wait, once every option is read.
 * -1 after saying what is wrong. */
static int
check_rebuild_options (struct options *opt)
{
  char why[256];

  if (opt->rebuild_wait && !opt->rebuild) {
    fprintf (stderr, PROGNAME ": --rebuild-wait needs --rebuild-catalog\n");
    return -1;
  }
  if (opt->rebuild && opt->check) {
    fprintf (stderr, PROGNAME ": --rebuild-catalog cannot be used with "
             "--check-config\n");
    return -1;
  }
  opt->rebuild_ms = REBUILD_WAIT_DEFAULT_MS;
  if (opt->rebuild_wait &&
      rebuild_parse_wait (opt->rebuild_wait, &opt->rebuild_ms, why,
                          sizeof why) == -1) {
    fprintf (stderr, PROGNAME ": %s\n", why);
    return -1;
  }
  if (!opt->rebuild)
    opt->rebuild_ms = 0;
  return 0;
}

/* Read the command line into OPT.  Returns -1 to go on, or the exit
 * status when there is nothing more to do (--help, --version, a bad
 * option: reported on stderr). */
static int
parse_options (int argc, char **argv, struct options *opt)
{
  static const struct option long_options[] = {
    { "config", required_argument, NULL, 'c' },
    { "foreground", no_argument, NULL, 'f' },
    { "check-config", no_argument, NULL, 'n' },
    { "verbose", no_argument, NULL, 'v' },
    { "version", no_argument, NULL, 'V' },
    { "help", no_argument, NULL, 'h' },
    { "rebuild-catalog", no_argument, NULL, 'R' },
    { "rebuild-wait", required_argument, NULL, 'W' },
    { NULL, 0, NULL, 0 },
  };
  int c;

  opt->path = DEFAULT_CONFIG;
  while ((c = getopt_long (argc, argv, "c:fnvVh", long_options, NULL)) != -1) {
    switch (c) {
    case 'c':
      opt->path = optarg;
      break;
    case 'f':
      opt->foreground = 1;
      break;
    case 'n':
      opt->check = 1;
      break;
    case 'v':
      opt->verbose = 1;
      break;
    case 'V':
      printf (PROGNAME " " PACKAGE_VERSION "\n");
      return EXIT_SUCCESS;
    case 'h':
      usage (stdout);
      return EXIT_SUCCESS;
    case 'R':
      opt->rebuild = 1;
      break;
    case 'W':
      opt->rebuild_wait = optarg;
      break;
    default:
      usage (stderr);
      return EXIT_FAILURE;
    }
  }
  if (optind != argc) {
    fprintf (stderr, PROGNAME ": unexpected argument '%s'\n", argv[optind]);
    usage (stderr);
    return EXIT_FAILURE;
  }
  if (check_rebuild_options (opt) == -1)
    return EXIT_FAILURE;
  return -1;
}

int
main (int argc, char **argv)
{
  struct options opt = { 0 };
  int r;
  struct coord co = { 0 };
  struct config *conf;
  struct tls_files files;
  char err[1024];

  saved_argv = argv;
  r = parse_options (argc, argv, &opt);
  if (r != -1)
    return r;
  log_init (PROGNAME, opt.verbose, 0);
  /* A peer that goes away mid-write is an EPIPE, not a signal. */
  signal (SIGPIPE, SIG_IGN);
  /* A catalog write past a file size limit (RLIMIT_FSIZE) is an EFBIG
   * that SQLite reports and the set fails on, not the end of the
   * daemon. */
  signal (SIGXFSZ, SIG_IGN);

  conf = conf_load (opt.path);
  if (conf == NULL)
    return EXIT_FAILURE;
  co.conf = conf;
  files.certificate = conf->certificate;
  files.key = conf->key;
  files.ca = conf->ca;
  co.tls = tls_server_context (&files, err, sizeof err);
  if (co.tls == NULL) {
    fprintf (stderr, "%s: %s\n", opt.path, err);
    conf_free (conf);
    return EXIT_FAILURE;
  }
  if (opt.check) {
    fprintf (stderr, "%s: configuration OK\n", opt.path);
    SSL_CTX_free (co.tls);
    conf_free (conf);
    return EXIT_SUCCESS;
  }
  if (conf->allow.len == 0)
    log_warnx ("%s: no 'allow' directive: every peer will be refused",
               opt.path);

  co.metrics = metrics_new ();
  if (co.metrics == NULL) {
    log_warn ("metrics");
    goto fail;
  }
  if (listeners_bind (&co) == -1 || exporter_bind (&co) == -1 ||
      (conf->user && drop_privileges (conf) == -1) ||
      (!conf->catalog_etcd && (co.cat = open_catalog (conf)) == NULL))
    goto fail;
  if (!opt.foreground) {
    catalog_close (co.cat);
    co.cat = NULL;
    if (daemon (1, 0) == -1) {
      log_warn ("daemon");
      goto fail;
    }
    log_init (PROGNAME, opt.verbose, 1);
    if (!conf->catalog_etcd && (co.cat = open_catalog (conf)) == NULL)
      goto fail;
  }

  r = serve (&co, opt.rebuild_ms);
  metrics_free (co.metrics);
  catalog_close (co.cat);
  SSL_CTX_free (co.tls);
  conf_free (conf);
  log_info ("stopped");
  return r == 0 ? EXIT_SUCCESS : EXIT_FAILURE;

 fail:
  listeners_free (co.listeners);
  exporter_free (co.exporter);
  metrics_free (co.metrics);
  catalog_close (co.cat);
  SSL_CTX_free (co.tls);
  conf_free (conf);
  return EXIT_FAILURE;
}

/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * sv-writers: many no-op writers in one process, through
 * libsnapvol-writer, for the coordinator's scale benchmark and test.
 *
 *   sv-writers --coordinator HOST:PORT --ca CA --cert-dir DIR [--counts]
 *              NAME=PROVIDER/VOLUME[,PROVIDER/VOLUME...]...
 *
 * Each NAME registers with the certificate DIR/NAME.crt and its key
 * DIR/NAME.key (the coordinator binds a writer certificate to one
 * writer name) for the volumes given, and answers every call at once:
 * no callback is set, so each succeeds.  A process of 100 such writers
 * is lighter than 100 snapvol-writer processes on a small machine; the
 * library still runs each writer with its own threads, so what each
 * writer costs the machine is what a real one costs.
 *
 * With --counts, each writer counts the calls it answers, and at exit
 * one line per writer goes to stdout, in the order given:
 *
 *   NAME prepare=N freeze=N thaw=N post_snapshot=N abort=N
 *
 * (thaw counts the library's own thaws too), so that a test can see
 * that every writer was frozen and thawed in each set.  Without it no
 * callback is set, as the benchmark runs it.
 *
 * Runs until SIGTERM or SIGINT, then stops every writer and exits 0;
 * exits 1 at once if a writer cannot be configured or run (the
 * library's message on stderr).  Only warnings and errors are logged.
 */

#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapvol-writer.h"

#define WRITERS_MAX 1000

/* The calls counted with --counts, indexed by event kind. */
static const char *const counted[] = {
  [SNAPVOL_WRITER_PREPARE] = "prepare",
  [SNAPVOL_WRITER_FREEZE] = "freeze",
  [SNAPVOL_WRITER_THAW] = "thaw",
  [SNAPVOL_WRITER_POST_SNAPSHOT] = "post_snapshot",
  [SNAPVOL_WRITER_ABORT] = "abort",
};
#define NCOUNTED (sizeof counted / sizeof counted[0])

struct host {
  struct snapvol_writer *w;
  char name[65];
  pthread_t thread;
  bool started;
  /* Written by the writer's callbacks (one at a time, in its thread),
   * read once the thread is joined. */
  unsigned long calls[NCOUNTED];
};

static atomic_bool failed;

static void
usage (void)
{
  fprintf (stderr, "usage: sv-writers --coordinator HOST:PORT --ca CA "
           "--cert-dir DIR [--counts] NAME=PROVIDER/VOLUME[,...]...\n");
  exit (1);
}

static void
log_quiet (void *opaque, int priority, const char *message)
{
  if (priority <= SNAPVOL_WRITER_LOG_WARNING)
    fprintf (stderr, "sv-writers: %s: %s\n", (const char *) opaque, message);
}

static int
count_call (void *opaque, const struct snapvol_writer_event *ev,
            char *message, size_t len)
{
  struct host *h = opaque;

  if (ev->kind > 0 && (size_t) ev->kind < NCOUNTED)
    h->calls[ev->kind]++;
  return 0;
}

static const struct snapvol_writer_callbacks counting = {
  .prepare = count_call,
  .freeze = count_call,
  .thaw = count_call,
  .post_snapshot = count_call,
  .abort = count_call,
};

/* Print writer H's counted calls, as the design notes above show. */
static void
print_counts (const struct host *h)
{
  size_t k;

  printf ("%s", h->name);
  for (k = 1; k < NCOUNTED; k++)
    printf (" %s=%lu", counted[k], h->calls[k]);
  printf ("\n");
}

static void *
run_thread (void *arg)
{
  struct host *h = arg;

  if (snapvol_writer_run (h->w) == -1) {
    fprintf (stderr, "sv-writers: %s: %s\n", h->name,
             snapvol_writer_error ());
    atomic_store (&failed, true);
    kill (getpid (), SIGTERM);
  }
  return NULL;
}

/* Configure writer H from SPEC ("NAME=P/V[,P/V...]"), counting its
 * calls if COUNT.  -1 after saying why on stderr. */
static int
configure (struct host *h, const char *spec, const char *coordinator,
           const char *ca, const char *dir, bool count)
{
  const char *eq = strchr (spec, '=');
  char crt[4096], key[4096], *vols, *v, *save = NULL;
  int r = 0;

  if (eq == NULL || eq == spec || (size_t) (eq - spec) >= sizeof h->name) {
    fprintf (stderr, "sv-writers: '%s' is not NAME=PROVIDER/VOLUME[,...]\n",
             spec);
    return -1;
  }
  memcpy (h->name, spec, eq - spec);
  h->name[eq - spec] = '\0';
  snprintf (crt, sizeof crt, "%s/%s.crt", dir, h->name);
  snprintf (key, sizeof key, "%s/%s.key", dir, h->name);
  h->w = snapvol_writer_new (h->name);
  vols = strdup (eq + 1);
  if (h->w == NULL || vols == NULL ||
      snapvol_writer_set_coordinator (h->w, coordinator) == -1 ||
      snapvol_writer_set_tls (h->w, crt, key, ca) == -1 ||
      snapvol_writer_set_log (h->w, log_quiet, h->name) == -1 ||
      (count && snapvol_writer_set_callbacks (h->w, &counting,
                                              sizeof counting, h) == -1))
    r = -1;
  for (v = r == 0 && vols ? strtok_r (vols, ",", &save) : NULL;
       v != NULL && r == 0; v = strtok_r (NULL, ",", &save))
    r = snapvol_writer_add_volume (h->w, v);
  free (vols);
  if (r == -1)
    fprintf (stderr, "sv-writers: %s: %s\n", h->name,
             snapvol_writer_error () ? snapvol_writer_error ()
             : strerror (errno));
  return r;
}

int
main (int argc, char **argv)
{
  static const struct option opts[] = {
    { "coordinator", required_argument, NULL, 'c' },
    { "ca", required_argument, NULL, 'a' },
    { "cert-dir", required_argument, NULL, 'd' },
    { "counts", no_argument, NULL, 'n' },
    { NULL, 0, NULL, 0 },
  };
  const char *coordinator = NULL, *ca = NULL, *dir = NULL;
  bool count = false;
  struct host *hosts;
  sigset_t stop;
  int c, i, n, sig, status = 0;

  while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1)
    switch (c) {
    case 'c': coordinator = optarg; break;
    case 'a': ca = optarg; break;
    case 'd': dir = optarg; break;
    case 'n': count = true; break;
    default: usage ();
    }
  n = argc - optind;
  if (coordinator == NULL || ca == NULL || dir == NULL || n == 0)
    usage ();
  if (n > WRITERS_MAX) {
    fprintf (stderr, "sv-writers: %d writers, more than %d\n", n,
             WRITERS_MAX);
    return 1;
  }
  hosts = calloc (n, sizeof *hosts);
  if (hosts == NULL) {
    perror ("sv-writers");
    return 1;
  }
  /* Blocked here, so that every thread inherits the mask and only
   * sigwait below takes the signals. */
  sigemptyset (&stop);
  sigaddset (&stop, SIGTERM);
  sigaddset (&stop, SIGINT);
  pthread_sigmask (SIG_BLOCK, &stop, NULL);

  for (i = 0; i < n; i++)
    if (configure (&hosts[i], argv[optind + i], coordinator, ca, dir,
                   count) == -1) {
      status = 1;
      goto out;
    }
  for (i = 0; i < n; i++) {
    errno = pthread_create (&hosts[i].thread, NULL, run_thread, &hosts[i]);
    if (errno != 0) {
      perror ("sv-writers: pthread_create");
      status = 1;
      goto out;
    }
    hosts[i].started = true;
  }
  sigwait (&stop, &sig);
  if (atomic_load (&failed))
    status = 1;

 out:
  for (i = 0; i < n; i++)
    if (hosts[i].w != NULL)
      snapvol_writer_stop (hosts[i].w);
  for (i = 0; i < n; i++) {
    if (hosts[i].started)
      pthread_join (hosts[i].thread, NULL);
    snapvol_writer_free (hosts[i].w);
  }
  if (count && status == 0) {
    for (i = 0; i < n; i++)
      print_counts (&hosts[i]);
    if (fflush (stdout) == EOF) {
      perror ("sv-writers: stdout");
      status = 1;
    }
  }
  free (hosts);
  return status;
}

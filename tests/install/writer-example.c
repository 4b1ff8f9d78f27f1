/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * writer-example.c: a writer built against an installed
 * libsnapvol-writer with `pkg-config --cflags --libs snapvol-writer`
 * (tests/test-writer-library-pkg-config.sh).  It prints each event as
 * "EVENT SET_ID" on stdout and stops on SIGTERM.
 *
 * Usage: writer-example NAME HOST:PORT CERT KEY CA VOLUME
 */

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <snapvol/writer.h>

static struct snapvol_writer *w;

static int
on_event (void *opaque, const struct snapvol_writer_event *ev,
          char *message, size_t len)
{
  printf ("%s %s\n", ev->name, ev->set_id);
  fflush (stdout);
  return 0;
}

static void
on_signal (int sig)
{
  snapvol_writer_stop (w);
}

int
main (int argc, char **argv)
{
  struct snapvol_writer_callbacks cbs = {
    .prepare = on_event, .freeze = on_event, .thaw = on_event,
    .post_snapshot = on_event, .abort = on_event,
  };
  struct sigaction sa;

  if (argc != 7) {
    fprintf (stderr, "usage: %s NAME HOST:PORT CERT KEY CA VOLUME\n", argv[0]);
    return 2;
  }
  memset (&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  w = snapvol_writer_new (argv[1]);
  if (w == NULL ||
      snapvol_writer_set_coordinator (w, argv[2]) == -1 ||
      snapvol_writer_set_tls (w, argv[3], argv[4], argv[5]) == -1 ||
      snapvol_writer_add_volume (w, argv[6]) == -1 ||
      snapvol_writer_set_callbacks (w, &cbs, sizeof cbs, NULL) == -1)
    goto err;
  if (sigaction (SIGTERM, &sa, NULL) == -1) {
    perror ("sigaction");
    snapvol_writer_free (w);
    return 1;
  }
  if (snapvol_writer_run (w) == -1)
    goto err;
  snapvol_writer_free (w);
  return 0;

 err:
  fprintf (stderr, "writer-example: %s\n", snapvol_writer_error ());
  snapvol_writer_free (w);
  return 1;
}

/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * sv-startup.c: how long a server takes from exec to accepting
 * connections on its Unix socket (for snapvol: opening the pool and
 * replaying the journals).
 *
 * Usage: sv-startup SOCKET TIMEOUT-SECONDS PIDFILE -- COMMAND [ARG]...
 *
 * Runs COMMAND (which must stay in the foreground) and tries to connect
 * to SOCKET every 200 microseconds.  On the first successful connect,
 * prints the time since the fork in seconds, writes the server's pid
 * to PIDFILE and exits 0, leaving the server running for the caller to
 * stop.  Exits 1 if the server exits or the timeout passes first (and
 * then kills it).  SOCKET must not exist beforehand.
 */

#include <config.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchutil.h"

static int
accepts (const char *path)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  int fd, r;

  if (strlen (path) >= sizeof sa.sun_path)
    bu_die ("%s: socket path too long", path);
  strcpy (sa.sun_path, path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd == -1)
    bu_die ("socket: %m");
  r = connect (fd, (struct sockaddr *) &sa, sizeof sa);
  close (fd);
  return r == 0;
}

int
main (int argc, char *argv[])
{
  const char *sock, *pidfile;
  uint64_t timeout, t0, now;
  pid_t pid;
  FILE *fp;
  int status;

  if (argc < 6 || strcmp (argv[4], "--") != 0) {
    fprintf (stderr, "Usage: %s SOCKET TIMEOUT-SECONDS PIDFILE -- "
             "COMMAND [ARG]...\n", program_invocation_short_name);
    return 2;
  }
  sock = argv[1];
  timeout = bu_parse_u64 ("TIMEOUT-SECONDS", argv[2]) * 1000000000u;
  pidfile = argv[3];
  if (access (sock, F_OK) == 0)
    bu_die ("%s exists already: remove it first", sock);

  t0 = bu_now_ns ();
  pid = fork ();
  if (pid == -1)
    bu_die ("fork: %m");
  if (pid == 0) {
    execvp (argv[5], &argv[5]);
    fprintf (stderr, "%s: execvp: %s: %m\n", program_invocation_short_name,
             argv[5]);
    _exit (127);
  }
  for (;;) {
    now = bu_now_ns ();
    if (accepts (sock))
      break;
    if (waitpid (pid, &status, WNOHANG) == pid)
      bu_die ("%s exited during startup (status %d)", argv[5], status);
    if (now - t0 > timeout) {
      kill (pid, SIGKILL);
      waitpid (pid, &status, 0);
      bu_die ("%s did not accept connections on %s within %s s",
              argv[5], sock, argv[2]);
    }
    bu_sleep_until (now + 200000u);
  }
  printf ("%.4f\n", (double) (bu_now_ns () - t0) / 1e9);
  fp = fopen (pidfile, "w");
  if (fp == NULL || fprintf (fp, "%d\n", (int) pid) < 0 || fclose (fp) != 0)
    bu_die ("%s: %m", pidfile);
  return 0;
}

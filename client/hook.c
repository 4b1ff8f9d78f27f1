/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * hook.c: running a writer agent's hook command with a deadline
 * (see hook.h).
 *
 * The hook is started with posix_spawn, which is safe in a program
 * with threads, in a process group of its own so that a hook that
 * started children (a shell pipeline) is killed whole.  Its exit is
 * waited for with a pidfd when the kernel has them (Linux 5.3), else
 * by polling waitpid every POLL_MS.  Its stderr is read as it comes,
 * so a chatty hook never blocks on a full pipe, and only the tail is
 * kept for the message.
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hook.h"
#include "timespec.h"

extern char **environ;

#define TAIL_MAX 2048           /* stderr bytes kept */
#define TAIL_LINES 3            /* lines of it in the message */
#define TAIL_MESSAGE_MAX 512
#define POLL_MS 20

struct tail {
  char buf[TAIL_MAX];
  size_t len;
};

static void
tail_add (struct tail *t, const char *data, size_t n)
{
  if (n >= TAIL_MAX) {
    memcpy (t->buf, data + n - TAIL_MAX, TAIL_MAX);
    t->len = TAIL_MAX;
    return;
  }
  if (t->len + n > TAIL_MAX) {
    size_t drop = t->len + n - TAIL_MAX;

    memmove (t->buf, t->buf + drop, t->len - drop);
    t->len -= drop;
  }
  memcpy (t->buf + t->len, data, n);
  t->len += n;
}

/* The last TAIL_LINES non-empty lines of T joined by "; ", at most
 * TAIL_MESSAGE_MAX bytes (from the end), control characters as '?'. */
static void
tail_summary (const struct tail *t, char *out, size_t len)
{
  const char *lines[TAIL_LINES];
  size_t lens[TAIL_LINES], nlines = 0, end = t->len, o = 0, i;
  char joined[TAIL_MAX + 2 * TAIL_LINES + 1];

  while (end > 0 && nlines < TAIL_LINES) {
    size_t start = end;

    while (start > 0 && t->buf[start - 1] != '\n')
      start--;
    {
      size_t e = end;

      while (e > start && (t->buf[e - 1] == '\n' || t->buf[e - 1] == '\r' ||
                           t->buf[e - 1] == ' ' || t->buf[e - 1] == '\t'))
        e--;
      if (e > start) {
        lines[nlines] = t->buf + start;
        lens[nlines] = e - start;
        nlines++;
      }
    }
    end = start > 0 ? start - 1 : 0;
  }
  for (i = nlines; i-- > 0;) {
    if (o > 0) {
      memcpy (joined + o, "; ", 2);
      o += 2;
    }
    memcpy (joined + o, lines[i], lens[i]);
    o += lens[i];
  }
  joined[o] = '\0';
  for (i = 0; i < o; i++)
    if ((unsigned char) joined[i] < 0x20 || joined[i] == 0x7f)
      joined[i] = '?';
  snprintf (out, len, "%s", o > TAIL_MESSAGE_MAX
            ? joined + o - TAIL_MESSAGE_MAX : joined);
}

/* Our environment with the NAME=VALUE strings of ENV added or
 * replacing ours.  The strings are not copied.  NULL on ENOMEM. */
static char **
make_environment (char *const *env)
{
  size_t n = 0, m = 0, i, j, k = 0;
  char **out;

  while (environ[n])
    n++;
  while (env[m])
    m++;
  out = calloc (n + m + 1, sizeof *out);
  if (out == NULL)
    return NULL;
  for (i = 0; i < n; i++) {
    bool replaced = false;

    for (j = 0; j < m && !replaced; j++) {
      size_t len = strcspn (env[j], "=");

      replaced = strncmp (environ[i], env[j], len) == 0 &&
        environ[i][len] == '=';
    }
    if (!replaced)
      out[k++] = environ[i];
  }
  for (j = 0; j < m; j++)
    out[k++] = env[j];
  out[k] = NULL;
  return out;
}

static pid_t
spawn (const char *cmd, char *const *env, int err_fd, char *message,
       size_t len, const char *what)
{
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  sigset_t none, dfl;
  char *argv[] = { (char *) "sh", (char *) "-c", (char *) cmd, NULL };
  char **envp = make_environment (env);
  static const int reset[] = {
    SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGALRM, SIGUSR1,
    SIGUSR2,
  };
  pid_t pid = -1;
  size_t i;
  int r;

  if (envp == NULL) {
    snprintf (message, len, "%s: out of memory", what);
    return -1;
  }
  sigemptyset (&none);
  sigemptyset (&dfl);
  for (i = 0; i < sizeof reset / sizeof reset[0]; i++)
    sigaddset (&dfl, reset[i]);
  posix_spawn_file_actions_init (&fa);
  posix_spawnattr_init (&attr);
  posix_spawn_file_actions_addopen (&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2 (&fa, err_fd, 2);
  posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETPGROUP |
                            POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup (&attr, 0);
  posix_spawnattr_setsigmask (&attr, &none);
  posix_spawnattr_setsigdefault (&attr, &dfl);
  r = posix_spawn (&pid, "/bin/sh", &fa, &attr, argv, envp);
  posix_spawnattr_destroy (&attr);
  posix_spawn_file_actions_destroy (&fa);
  free (envp);
  if (r != 0) {
    snprintf (message, len, "%s: cannot run /bin/sh: %s", what,
              strerror (r));
    return -1;
  }
  return pid;
}

/* Read what the hook wrote to stderr; false at EOF. */
static bool
read_err (int fd, struct tail *t)
{
  char buf[4096];
  ssize_t n;

  for (;;) {
    n = read (fd, buf, sizeof buf);
    if (n > 0) {
      tail_add (t, buf, (size_t) n);
      continue;
    }
    if (n == -1 && errno == EINTR)
      continue;
    return n == -1 && errno == EAGAIN;
  }
}

/* Wait until PID exits or END (monotonic ms) passes, reading ERR_FD
 * meanwhile.  true with *STATUS if it exited. */
static bool
wait_until (pid_t pid, int pidfd, int *err_fd, struct tail *t, int64_t end,
            int *status)
{
  for (;;) {
    struct pollfd fds[2];
    nfds_t n = 0;
    int64_t left;
    pid_t r = waitpid (pid, status, WNOHANG);

    if (r == pid)
      return true;
    if (r == -1 && errno != EINTR) {
      *status = 0x7f00;         /* unknown: reported as status 127 */
      return true;
    }
    left = end - timespec_now_ms (CLOCK_MONOTONIC);
    if (left <= 0)
      return false;
    if (*err_fd >= 0)
      fds[n++] = (struct pollfd) { .fd = *err_fd, .events = POLLIN };
    if (pidfd >= 0)
      fds[n++] = (struct pollfd) { .fd = pidfd, .events = POLLIN };
    if (pidfd < 0 && left > POLL_MS)
      left = POLL_MS;
    if (poll (fds, n, (int) left) == -1 && errno != EINTR)
      left = 0;
    if (*err_fd >= 0 && fds[0].revents != 0 && !read_err (*err_fd, t)) {
      close (*err_fd);
      *err_fd = -1;
    }
  }
}

int
hook_run (const char *what, const char *cmd, char *const *env,
          int timeout_ms, char *message, size_t len)
{
  struct tail t = { .len = 0 };
  char summary[TAIL_MESSAGE_MAX + 1], outcome[256];
  int pipefd[2], status = 0, pidfd;
  bool timed_out = false;
  pid_t pid;

  if (pipe2 (pipefd, O_CLOEXEC) == -1) {
    snprintf (message, len, "%s: pipe: %s", what, strerror (errno));
    return -1;
  }
  pid = spawn (cmd, env, pipefd[1], message, len, what);
  close (pipefd[1]);
  if (pid == -1) {
    close (pipefd[0]);
    return -1;
  }
  fcntl (pipefd[0], F_SETFL, O_NONBLOCK);
#ifdef SYS_pidfd_open
  pidfd = (int) syscall (SYS_pidfd_open, pid, 0);
#else
  pidfd = -1;
#endif

  if (!wait_until (pid, pidfd, &pipefd[0], &t,
                   timespec_now_ms (CLOCK_MONOTONIC) + timeout_ms, &status)) {
    timed_out = true;
    kill (-pid, SIGTERM);
    if (!wait_until (pid, pidfd, &pipefd[0], &t,
                     timespec_now_ms (CLOCK_MONOTONIC) + HOOK_KILL_GRACE_MS,
                     &status)) {
      kill (-pid, SIGKILL);
      while (waitpid (pid, &status, 0) == -1 && errno == EINTR)
        ;
    }
    /* Whatever else it started goes too. */
    kill (-pid, SIGKILL);
  }
  if (pipefd[0] >= 0) {
    read_err (pipefd[0], &t);
    close (pipefd[0]);
  }
  if (pidfd >= 0)
    close (pidfd);

  if (!timed_out && WIFEXITED (status) && WEXITSTATUS (status) == 0)
    return 0;
  if (timed_out)
    snprintf (outcome, sizeof outcome, "%s did not finish within %d ms and "
              "was killed", what, timeout_ms);
  else if (WIFEXITED (status))
    snprintf (outcome, sizeof outcome, "%s exited with status %d", what,
              WEXITSTATUS (status));
  else
    snprintf (outcome, sizeof outcome, "%s was killed by signal %d (%s)",
              what, WTERMSIG (status), strsignal (WTERMSIG (status)));
  tail_summary (&t, summary, sizeof summary);
  snprintf (message, len, "%s%s%s", outcome, summary[0] ? ": " : "", summary);
  return -1;
}

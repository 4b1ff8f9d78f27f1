/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * fsfreeze.c: snapvol-writer's freeze of local filesystems
 * (fsfreeze.h).
 *
 * Design notes
 *
 * A freeze is a job: the mount points' descriptors, opened and checked
 * by the event, and a thread that runs FIFREEZE on each in order.  The
 * event waits for the thread until its deadline:
 *
 *   1. the thread ends in time, every FIFREEZE done: the job is held
 *      until the thaw (f->held), which runs FITHAW in reverse and
 *      frees it;
 *   2. the thread ends in time after a FIFREEZE failed: the event thaws
 *      the mount points frozen before it, in reverse, and fails;
 *   3. the deadline passes with a FIFREEZE still blocked (it writes
 *      out the dirty data first, and a slow or stuck device holds it):
 *      the event marks the job abandoned, thaws the mount points
 *      already frozen, and fails.  When the blocked FIFREEZE returns,
 *      the thread sees the mark, freezes nothing more and thaws what it
 *      froze.  Until then the job is f->stuck, and a prepare fails.
 *
 * job->lock guards frozen[], done and abandoned: the event and the
 * thread both thaw, never the same mount point twice.  The job is
 * freed by the last of the two to let go of it (refs).
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsfreeze.h"
#include "log.h"
#include "reason.h"
#include "timespec.h"

struct job {
  pthread_mutex_t lock;
  pthread_cond_t cond;          /* signalled when done */
  int refs;
  size_t n;
  char **paths;                 /* borrowed from the freezer, or copies */
  int *fds;
  bool *frozen;                 /* by this job and not thawed yet */
  size_t failed;                /* the FIFREEZE that failed, if err */
  int err;                      /* its errno, or 0 */
  size_t running;               /* the FIFREEZE in progress */
  bool done;                    /* the thread has ended */
  bool abandoned;               /* the event gave up waiting */
};

struct fsfreeze {
  char **paths;
  size_t n;
  struct job *held;             /* frozen, until the thaw */
  struct job *stuck;            /* abandoned, its FIFREEZE not returned */
};

struct fsfreeze *
fsfreeze_new (void)
{
  return calloc (1, sizeof (struct fsfreeze));
}

int
fsfreeze_add (struct fsfreeze *f, const char *path)
{
  char **paths;
  size_t i;

  for (i = 0; i < f->n; i++)
    if (strcmp (f->paths[i], path) == 0) {
      errno = EEXIST;
      return -1;
    }
  paths = realloc (f->paths, (f->n + 1) * sizeof *paths);
  if (paths == NULL)
    return -1;
  f->paths = paths;
  f->paths[f->n] = strdup (path);
  if (f->paths[f->n] == NULL)
    return -1;
  f->n++;
  return 0;
}

/* Drop one reference to J; the last frees it and closes its
 * descriptors.  Called with J's lock held; releases it. */
static void
job_unref (struct job *j)
{
  size_t i;
  bool last = --j->refs == 0;

  pthread_mutex_unlock (&j->lock);
  if (!last)
    return;
  for (i = 0; i < j->n; i++) {
    if (j->fds[i] >= 0)
      close (j->fds[i]);
    free (j->paths[i]);
  }
  pthread_mutex_destroy (&j->lock);
  pthread_cond_destroy (&j->cond);
  free (j->paths);
  free (j->fds);
  free (j->frozen);
  free (j);
}

void
fsfreeze_free (struct fsfreeze *f)
{
  size_t i;

  if (f == NULL)
    return;
  if (f->held) {
    pthread_mutex_lock (&f->held->lock);
    job_unref (f->held);
  }
  if (f->stuck) {
    pthread_mutex_lock (&f->stuck->lock);
    job_unref (f->stuck);
  }
  for (i = 0; i < f->n; i++)
    free (f->paths[i]);
  free (f->paths);
  free (f);
}

/* Set the reason: "fsfreeze: ..." */
#define fail(message, len, ...) \
  reason_set ((message), (len), "fsfreeze: ", __VA_ARGS__)

/* Append FMT to MESSAGE. */
static void __attribute__((format (printf, 3, 4)))
append (char *message, size_t len, const char *fmt, ...)
{
  size_t n = strlen (message);
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (message + n, len - n, fmt, ap);
  va_end (ap);
}

/* Open PATH and check that it is a mount point: the root of a mounted
 * filesystem (statx's STATX_ATTR_MOUNT_ROOT, or, on kernels without it,
 * a directory on another device than its parent, or its own parent).
 * The descriptor, or -1 with the reason. */
static int
open_mount_point (const char *path, char *message, size_t len)
{
  struct statx stx;
  struct stat self, parent;
  bool root;
  int fd;

  fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd == -1)
    return fail (message, len, "%s: %m", path);
  if (statx (fd, "", AT_EMPTY_PATH | AT_NO_AUTOMOUNT, STATX_BASIC_STATS,
             &stx) == -1) {
    fail (message, len, "statx: %s: %m", path);
    goto err;
  }
  if (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
    root = (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
  else if (fstat (fd, &self) == 0 && S_ISDIR (self.st_mode) &&
           fstatat (fd, "..", &parent, 0) == 0)
    root = self.st_dev != parent.st_dev || self.st_ino == parent.st_ino;
  else
    root = false;
  if (!root) {
    fail (message, len, "%s is not a mount point", path);
    goto err;
  }
  return fd;

 err:
  close (fd);
  return -1;
}

/* Thaw J's mount points that are frozen, in reverse order.  Called with
 * J's lock held.  0, or -1 with the first failure in MESSAGE (NULL:
 * logged instead) and the others logged.  THAWED (NULL allowed) gets
 * "A, B" of the mount points thawed. */
static int
job_thaw (struct job *j, char *message, size_t len, char *thawed,
          size_t thawedlen)
{
  size_t i;
  int r = 0;

  if (thawed && thawedlen)
    *thawed = '\0';
  for (i = j->n; i-- > 0; ) {
    if (!j->frozen[i])
      continue;
    j->frozen[i] = false;
    if (ioctl (j->fds[i], FITHAW, 0) == -1) {
      if (r == 0 && message)
        fail (message, len, "FITHAW %s: %m", j->paths[i]);
      else
        log_warn ("fsfreeze: FITHAW %s", j->paths[i]);
      r = -1;
      continue;
    }
    log_info ("fsfreeze: thawed %s", j->paths[i]);
    if (thawed)
      append (thawed, thawedlen, "%s%s", *thawed ? ", " : "", j->paths[i]);
  }
  return r;
}

/* The job's thread: FIFREEZE each mount point in order (step 3 of the
 * design notes for an abandoned job). */
static void *
job_thread (void *arg)
{
  struct job *j = arg;
  size_t i;
  int r, err;

  pthread_mutex_lock (&j->lock);
  for (i = 0; i < j->n && !j->abandoned; i++) {
    j->running = i;
    pthread_mutex_unlock (&j->lock);
    r = ioctl (j->fds[i], FIFREEZE, 0);
    err = errno;
    pthread_mutex_lock (&j->lock);
    if (r == -1) {
      j->failed = i;
      j->err = err;
      break;
    }
    j->frozen[i] = true;
    log_info ("fsfreeze: froze %s", j->paths[i]);
  }
  if (j->abandoned) {
    if (j->frozen[j->running])
      log_warnx ("fsfreeze: FIFREEZE %s returned after its set had given up "
                 "on it; thawing it", j->paths[j->running]);
    job_thaw (j, NULL, 0, NULL, 0);
  }
  j->done = true;
  pthread_cond_broadcast (&j->cond);
  job_unref (j);
  return NULL;
}

/* A job for F's mount points, opened and checked.  NULL with the
 * reason. */
static struct job *
job_new (struct fsfreeze *f, char *message, size_t len)
{
  pthread_condattr_t ca;
  struct job *j;
  size_t i;

  j = calloc (1, sizeof *j);
  if (j == NULL ||
      (j->paths = calloc (f->n, sizeof *j->paths)) == NULL ||
      (j->fds = calloc (f->n, sizeof *j->fds)) == NULL ||
      (j->frozen = calloc (f->n, sizeof *j->frozen)) == NULL) {
    fail (message, len, "out of memory");
    goto err;
  }
  pthread_mutex_init (&j->lock, NULL);
  pthread_condattr_init (&ca);
  pthread_condattr_setclock (&ca, CLOCK_MONOTONIC);
  pthread_cond_init (&j->cond, &ca);
  pthread_condattr_destroy (&ca);
  j->refs = 1;
  for (i = 0; i < f->n; i++)
    j->fds[i] = -1;
  j->n = f->n;
  for (i = 0; i < f->n; i++) {
    j->paths[i] = strdup (f->paths[i]);
    if (j->paths[i] == NULL) {
      fail (message, len, "out of memory");
      goto err;
    }
    j->fds[i] = open_mount_point (f->paths[i], message, len);
    if (j->fds[i] == -1)
      goto err;
  }
  return j;

 err:
  if (j && j->frozen) {
    pthread_mutex_lock (&j->lock);
    job_unref (j);
  }
  else if (j) {
    free (j->paths);
    free (j->fds);
    free (j);
  }
  return NULL;
}

/* Forget F's stuck job once its FIFREEZE has returned; -1 with the
 * reason while it has not. */
static int
check_stuck (struct fsfreeze *f, char *message, size_t len)
{
  struct job *j = f->stuck;

  if (j == NULL)
    return 0;
  pthread_mutex_lock (&j->lock);
  if (!j->done) {
    fail (message, len, "FIFREEZE %s of an earlier set has not returned yet",
          j->paths[j->running]);
    pthread_mutex_unlock (&j->lock);
    return -1;
  }
  f->stuck = NULL;
  job_unref (j);
  return 0;
}

/* prepare: every mount point can be opened and is one. */
static int
fsfreeze_prepare (struct fsfreeze *f, char *message, size_t len)
{
  struct job *j;

  if (check_stuck (f, message, len) == -1)
    return -1;
  j = job_new (f, message, len);
  if (j == NULL)
    return -1;
  pthread_mutex_lock (&j->lock);
  job_unref (j);
  return 0;
}

/* Wait for J's thread until DEADLINE (CLOCK_MONOTONIC).  Called with
 * J's lock held. */
static void
job_wait (struct job *j, struct timespec deadline)
{
  while (!j->done)
    if (pthread_cond_timedwait (&j->cond, &j->lock, &deadline) == ETIMEDOUT)
      break;
}

/* The end of a failed freeze: say what was thawed. */
static int
freeze_failed (struct job *j, char *message, size_t len)
{
  char thawed[1024], thaw_msg[512];

  if (job_thaw (j, thaw_msg, sizeof thaw_msg, thawed, sizeof thawed) == -1)
    append (message, len, "; %s", thaw_msg);
  if (*thawed)
    append (message, len, "; %s %s thawed", thawed,
            strchr (thawed, ',') ? "were" : "was");
  return -1;
}

/* freeze: FIFREEZE in order, within TIMEOUT_MS. */
static int
fsfreeze_freeze (struct fsfreeze *f, int timeout_ms, char *message,
                 size_t len)
{
  struct timespec deadline;
  pthread_attr_t attr;
  pthread_t thread;
  struct job *j;
  int err;

  if (f->held) {
    /* The library does not freeze twice; a held job would be a bug. */
    fail (message, len, "the filesystems are frozen already");
    return -1;
  }
  if (check_stuck (f, message, len) == -1)
    return -1;
  j = job_new (f, message, len);
  if (j == NULL)
    return -1;
  clock_gettime (CLOCK_MONOTONIC, &deadline);
  deadline = timespec_add (deadline, timespec_from_ms (timeout_ms));
  pthread_mutex_lock (&j->lock);
  j->refs++;
  pthread_attr_init (&attr);
  pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
  err = pthread_create (&thread, &attr, job_thread, j);
  pthread_attr_destroy (&attr);
  if (err) {
    j->refs--;
    errno = err;
    fail (message, len, "pthread_create: %m");
    job_unref (j);
    return -1;
  }
  job_wait (j, deadline);
  if (!j->done) {
    /* Step 3 of the design notes. */
    j->abandoned = true;
    fail (message, len, "FIFREEZE %s did not return within %d ms",
          j->paths[j->running], timeout_ms);
    freeze_failed (j, message, len);
    append (message, len, "; %s is thawed when its FIFREEZE returns",
            j->paths[j->running]);
    f->stuck = j;
    pthread_mutex_unlock (&j->lock);
    return -1;
  }
  if (j->err) {
    errno = j->err;
    fail (message, len, "FIFREEZE %s: %m", j->paths[j->failed]);
    freeze_failed (j, message, len);
    job_unref (j);
    return -1;
  }
  f->held = j;
  pthread_mutex_unlock (&j->lock);
  return 0;
}

/* thaw and abort: FITHAW in reverse order what we froze. */
static int
fsfreeze_thaw (struct fsfreeze *f, char *message, size_t len)
{
  struct job *j = f->held;
  int r;

  if (j == NULL)
    return 0;
  f->held = NULL;
  pthread_mutex_lock (&j->lock);
  r = job_thaw (j, message, len, NULL, 0);
  job_unref (j);
  return r;
}

int
fsfreeze_event (struct fsfreeze *f, const struct snapvol_writer_event *ev,
                int timeout_ms, char *message, size_t len)
{
  switch (ev->kind) {
  case SNAPVOL_WRITER_PREPARE:
    return fsfreeze_prepare (f, message, len);
  case SNAPVOL_WRITER_FREEZE:
    return fsfreeze_freeze (f, timeout_ms, message, len);
  case SNAPVOL_WRITER_THAW:
  case SNAPVOL_WRITER_ABORT:
    return fsfreeze_thaw (f, message, len);
  case SNAPVOL_WRITER_POST_SNAPSHOT:
  case SNAPVOL_WRITER_PRE_RESTORE:
  case SNAPVOL_WRITER_POST_RESTORE:
    /* Unmounting for a restore is the hooks' work. */
    return 0;
  }
  return 0;
}

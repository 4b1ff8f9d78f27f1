/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * faultinject.c: a test-only LD_PRELOAD shim that makes reads, writes,
 * syncs and fallocate on chosen files fail with a chosen errno, switched
 * while the process runs.  The integration tests preload it into nbdkit
 * (tests/faultinject.sh), so that the snapvol plugin's I/O fails under
 * real NBD clients.  Built for `make check` only, never installed.
 *
 * Configuration
 * -------------
 * SNAPVOL_FAULTINJECT names a control file, read again whenever it
 * changes (compared by inode, size and modification time, so write it
 * aside and rename it into place).  No file, or no variable: no fault.
 * Each line is a rule; '#' starts a comment:
 *
 *   CALLS GLOB ERRNO [skip=N] [count=N]
 *
 *   CALLS  comma-separated: pread (pread, preadv and their 64-bit and
 *          fortified forms), pwrite (pwrite, pwritev, pwritev2 ...),
 *          fsync, fdatasync, fallocate (hole punching too), or all;
 *   GLOB   an fnmatch(3) pattern matched against the file's absolute
 *          path, where '*' matches '/' too (tests/faultinject.sh
 *          writes the patterns for a volume's data file and journal);
 *   ERRNO  EIO, ENOSPC, EDQUOT, EROFS, EFBIG, or a number;
 *   skip=N let the first N matching calls through;
 *   count=N fail N calls, then let every one through (default:
 *          fail every one).
 *
 * The first rule matching a call decides.  Counters start again each
 * time the file is read.  Every injected failure is logged as one line
 * "faultinject: CALL PATH: ERRNO" to the file SNAPVOL_FAULTINJECT_LOG
 * (appended), or to stderr without it, so that a test can check its
 * faults were hit.
 *
 * The path of a descriptor comes from /proc/self/fd, read only while
 * some rule exists.  The real functions are found with dlsym(RTLD_NEXT),
 * which composes with a sanitizer runtime preloaded before this shim:
 * its interceptors call through to these wrappers, then to libc.
 */

#define _GNU_SOURCE

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum call {
  C_PREAD = 1, C_PWRITE = 2, C_FSYNC = 4, C_FDATASYNC = 8, C_FALLOCATE = 16,
};

static const struct {
  const char *name;
  unsigned mask;
} call_names[] = {
  { "pread", C_PREAD }, { "pwrite", C_PWRITE }, { "fsync", C_FSYNC },
  { "fdatasync", C_FDATASYNC }, { "fallocate", C_FALLOCATE },
  { "all", C_PREAD | C_PWRITE | C_FSYNC | C_FDATASYNC | C_FALLOCATE },
};

static const struct {
  const char *name;
  int err;
} errno_names[] = {
  { "EIO", EIO }, { "ENOSPC", ENOSPC }, { "EDQUOT", EDQUOT },
  { "EROFS", EROFS }, { "EFBIG", EFBIG },
};

#define MAX_RULES 16

struct rule {
  unsigned calls;
  char glob[PATH_MAX];
  int err;
  unsigned long skip;           /* left to let through */
  unsigned long count;          /* left to fail; ULONG_MAX: no limit */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct rule rules[MAX_RULES];
static size_t nrules;
/* The control file as last read: its identity and change time. */
static struct stat seen;
static int have_seen;

static const char *
errno_name (int err)
{
  size_t i;

  for (i = 0; i < sizeof errno_names / sizeof errno_names[0]; i++)
    if (errno_names[i].err == err)
      return errno_names[i].name;
  return "error";
}

/* One line to the log, or to stderr, with write(2) rather than a stdio
 * stream (whose lock a caller in the middle of I/O may hold). */
static void report (const char *fmt, ...)
  __attribute__((format (printf, 1, 2)));

static void
report (const char *fmt, ...)
{
  const char *log = getenv ("SNAPVOL_FAULTINJECT_LOG");
  char line[PATH_MAX + 128];
  va_list ap;
  int fd = 2, n;

  va_start (ap, fmt);
  n = vsnprintf (line, sizeof line, fmt, ap);
  va_end (ap);
  if (n < 0)
    return;
  if ((size_t) n >= sizeof line)
    n = sizeof line - 1;
  if (log && *log)
    fd = open (log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd == -1)
    return;
  if (write (fd, line, n) != n) {
    /* Nothing to do: the test will find the hit missing. */
  }
  if (fd != 2)
    close (fd);
}

/* Parse one line into *R.  Returns 1 for a rule, 0 for a blank line,
 * -1 for a bad one (reported). */
static int
parse_line (char *line, struct rule *r, const char *file, int lineno)
{
  char *save = NULL, *calls, *glob, *err, *opt, *tok;
  size_t i;

  if ((tok = strchr (line, '#')) != NULL)
    *tok = '\0';
  calls = strtok_r (line, " \t\r\n", &save);
  if (calls == NULL)
    return 0;
  glob = strtok_r (NULL, " \t\r\n", &save);
  err = strtok_r (NULL, " \t\r\n", &save);
  if (glob == NULL || err == NULL || strlen (glob) >= sizeof r->glob)
    goto bad;
  memset (r, 0, sizeof *r);
  for (tok = strtok_r (calls, ",", &opt); tok;
       tok = strtok_r (NULL, ",", &opt)) {
    for (i = 0; i < sizeof call_names / sizeof call_names[0]; i++)
      if (strcmp (tok, call_names[i].name) == 0)
        break;
    if (i == sizeof call_names / sizeof call_names[0])
      goto bad;
    r->calls |= call_names[i].mask;
  }
  strcpy (r->glob, glob);
  for (i = 0; i < sizeof errno_names / sizeof errno_names[0]; i++)
    if (strcmp (err, errno_names[i].name) == 0)
      r->err = errno_names[i].err;
  if (r->err == 0 && (r->err = atoi (err)) <= 0)
    goto bad;
  r->count = ULONG_MAX;
  while ((opt = strtok_r (NULL, " \t\r\n", &save)) != NULL) {
    if (strncmp (opt, "skip=", 5) == 0)
      r->skip = strtoul (opt + 5, NULL, 10);
    else if (strncmp (opt, "count=", 6) == 0)
      r->count = strtoul (opt + 6, NULL, 10);
    else
      goto bad;
  }
  return 1;

 bad:
  report ("faultinject: %s:%d: expected CALLS GLOB ERRNO [skip=N]"
          " [count=N]; line ignored\n", file, lineno);
  return -1;
}

/* Read the control file again if it changed.  Lock held. */
static void
reload_locked (void)
{
  const char *file = getenv ("SNAPVOL_FAULTINJECT");
  char buf[16384], *line, *save = NULL;
  struct stat st;
  ssize_t n;
  int fd, lineno = 0;

  if (file == NULL || *file == '\0' || stat (file, &st) == -1) {
    nrules = 0;
    have_seen = 0;
    return;
  }
  if (have_seen && st.st_ino == seen.st_ino && st.st_dev == seen.st_dev &&
      st.st_size == seen.st_size &&
      st.st_mtim.tv_sec == seen.st_mtim.tv_sec &&
      st.st_mtim.tv_nsec == seen.st_mtim.tv_nsec)
    return;
  nrules = 0;
  have_seen = 0;
  fd = open (file, O_RDONLY | O_CLOEXEC);
  if (fd == -1)
    return;
  n = read (fd, buf, sizeof buf - 1);
  close (fd);
  if (n < 0)
    return;
  buf[n] = '\0';
  for (line = strtok_r (buf, "\n", &save); line && nrules < MAX_RULES;
       line = strtok_r (NULL, "\n", &save))
    if (parse_line (line, &rules[nrules], file, ++lineno) == 1)
      nrules++;
  seen = st;
  have_seen = 1;
}

/* Should CALL (named NAME) on descriptor FD fail?  Returns the errno
 * to fail with, or 0. */
static int
fault (enum call call, const char *name, int fd)
{
  char link[64], path[PATH_MAX];
  ssize_t len = -1;
  size_t i;
  int err = 0, saved = errno;

  pthread_mutex_lock (&lock);
  reload_locked ();
  for (i = 0; i < nrules; i++) {
    struct rule *r = &rules[i];

    if (!(r->calls & call))
      continue;
    if (len == -1) {
      snprintf (link, sizeof link, "/proc/self/fd/%d", fd);
      len = readlink (link, path, sizeof path - 1);
      if (len == -1)
        break;
      path[len] = '\0';
    }
    if (fnmatch (r->glob, path, 0) != 0)
      continue;
    if (r->skip > 0)
      r->skip--;
    else if (r->count > 0) {
      if (r->count != ULONG_MAX)
        r->count--;
      err = r->err;
    }
    break;
  }
  pthread_mutex_unlock (&lock);
  if (err)
    report ("faultinject: %s %s: %s\n", name, path, errno_name (err));
  errno = saved;
  return err;
}

/* REAL: the next definition of NAME (libc's), looked up once. */
#define REAL(name)                                              \
  static __typeof__ (name) *real_;                              \
  __typeof__ (name) *real = __atomic_load_n (&real_, __ATOMIC_ACQUIRE); \
  if (real == NULL) {                                           \
    real = (__typeof__ (name) *) dlsym (RTLD_NEXT, #name);      \
    if (real == NULL) {                                         \
      errno = ENOSYS;                                           \
      return -1;                                                \
    }                                                           \
    __atomic_store_n (&real_, real, __ATOMIC_RELEASE);          \
  }

#define FAIL_IF(call, name, fd)                                 \
  do {                                                          \
    int e_ = fault ((call), (name), (fd));                      \
    if (e_) {                                                   \
      errno = e_;                                               \
      return -1;                                                \
    }                                                           \
  } while (0)

ssize_t
pread (int fd, void *buf, size_t n, off_t off)
{
  REAL (pread);
  FAIL_IF (C_PREAD, "pread", fd);
  return real (fd, buf, n, off);
}

ssize_t
pread64 (int fd, void *buf, size_t n, off64_t off)
{
  REAL (pread64);
  FAIL_IF (C_PREAD, "pread", fd);
  return real (fd, buf, n, off);
}

ssize_t __pread_chk (int, void *, size_t, off_t, size_t);
ssize_t
__pread_chk (int fd, void *buf, size_t n, off_t off, size_t buflen)
{
  REAL (__pread_chk);
  FAIL_IF (C_PREAD, "pread", fd);
  return real (fd, buf, n, off, buflen);
}

ssize_t __pread64_chk (int, void *, size_t, off64_t, size_t);
ssize_t
__pread64_chk (int fd, void *buf, size_t n, off64_t off, size_t buflen)
{
  REAL (__pread64_chk);
  FAIL_IF (C_PREAD, "pread", fd);
  return real (fd, buf, n, off, buflen);
}

ssize_t
preadv (int fd, const struct iovec *iov, int n, off_t off)
{
  REAL (preadv);
  FAIL_IF (C_PREAD, "preadv", fd);
  return real (fd, iov, n, off);
}

ssize_t
preadv64 (int fd, const struct iovec *iov, int n, off64_t off)
{
  REAL (preadv64);
  FAIL_IF (C_PREAD, "preadv", fd);
  return real (fd, iov, n, off);
}

ssize_t
pwrite (int fd, const void *buf, size_t n, off_t off)
{
  REAL (pwrite);
  FAIL_IF (C_PWRITE, "pwrite", fd);
  return real (fd, buf, n, off);
}

ssize_t
pwrite64 (int fd, const void *buf, size_t n, off64_t off)
{
  REAL (pwrite64);
  FAIL_IF (C_PWRITE, "pwrite", fd);
  return real (fd, buf, n, off);
}

ssize_t
pwritev (int fd, const struct iovec *iov, int n, off_t off)
{
  REAL (pwritev);
  FAIL_IF (C_PWRITE, "pwritev", fd);
  return real (fd, iov, n, off);
}

ssize_t
pwritev64 (int fd, const struct iovec *iov, int n, off64_t off)
{
  REAL (pwritev64);
  FAIL_IF (C_PWRITE, "pwritev", fd);
  return real (fd, iov, n, off);
}

ssize_t
pwritev2 (int fd, const struct iovec *iov, int n, off_t off, int flags)
{
  REAL (pwritev2);
  FAIL_IF (C_PWRITE, "pwritev2", fd);
  return real (fd, iov, n, off, flags);
}

int
fsync (int fd)
{
  REAL (fsync);
  FAIL_IF (C_FSYNC, "fsync", fd);
  return real (fd);
}

int
fdatasync (int fd)
{
  REAL (fdatasync);
  FAIL_IF (C_FDATASYNC, "fdatasync", fd);
  return real (fd);
}

int
fallocate (int fd, int mode, off_t off, off_t len)
{
  REAL (fallocate);
  FAIL_IF (C_FALLOCATE, "fallocate", fd);
  return real (fd, mode, off, len);
}

int
fallocate64 (int fd, int mode, off64_t off, off64_t len)
{
  REAL (fallocate64);
  FAIL_IF (C_FALLOCATE, "fallocate", fd);
  return real (fd, mode, off, len);
}

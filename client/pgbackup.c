/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * pgbackup.c: snapvol-writer's PostgreSQL integration (pgbackup.h).
 *
 * Design notes
 *
 * Every event bounds its whole conversation with the server by one
 * deadline: libpq's connect runs non-blocking (PQconnectStartParams,
 * PQconnectPoll), and each query is sent with PQsendQueryParams and
 * its answer awaited with poll(2) on the connection's socket.
 *
 * A query still running at the deadline is cancelled: PQcancel opens a
 * connection of its own to the postmaster and waits for it to close,
 * with no timeout of its own, so it runs in a detached thread and the
 * event closes its connection and answers at once.  Either of the two
 * ends a pg_backup_start on the server: the cancel interrupts it, and a
 * backend whose client has gone aborts the backup it holds when it
 * notices (at the latest when it sends the answer).
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "log.h"
#include "pgbackup.h"
#include "reason.h"
#include "timespec.h"

/* pg_backup_start and pg_backup_stop are PostgreSQL 15's names. */
#define MIN_SERVER_VERSION 150000

struct pgbackup {
  char *conninfo;
  char *label_dir;              /* or NULL: labels go to the log */
  PGconn *conn;                 /* the backup in progress, or NULL */
  char *set_id;                 /* its set */
};

/* Set the reason: "postgres: ..." */
#define fail(message, len, ...) \
  reason_set ((message), (len), "postgres: ", __VA_ARGS__)

/* SRC, a message of libpq or the server (lines ending in '\n', the
 * later ones indented with a tab), as one line in DST (LEN bytes):
 * the lines trimmed and joined by a space. */
static void
one_line (char *dst, size_t len, const char *src)
{
  size_t n = 0;
  bool space = false;

  if (len == 0)
    return;
  for (; *src && n + 1 < len; src++) {
    if (*src == '\n' || *src == '\t' || *src == '\r' || *src == ' ') {
      space = n > 0;
      continue;
    }
    if (space && n + 2 < len)
      dst[n++] = ' ';
    space = false;
    dst[n++] = (unsigned char) *src < ' ' ? '?' : *src;
  }
  dst[n] = '\0';
}

int
pgbackup_check_conninfo (const char *conninfo, char *message, size_t len)
{
  PQconninfoOption *opts;
  char *err = NULL;

  opts = PQconninfoParse (conninfo, &err);
  if (opts == NULL) {
    one_line (message, len, err ? err : "out of memory");
    PQfreemem (err);
    return -1;
  }
  PQconninfoFree (opts);
  return 0;
}

struct pgbackup *
pgbackup_new (const char *conninfo, const char *label_dir)
{
  struct pgbackup *p = calloc (1, sizeof *p);

  if (p == NULL)
    return NULL;
  p->conninfo = strdup (conninfo);
  if (label_dir)
    p->label_dir = strdup (label_dir);
  if (p->conninfo == NULL || (label_dir && p->label_dir == NULL)) {
    pgbackup_free (p);
    errno = ENOMEM;
    return NULL;
  }
  return p;
}

static void
disconnect (struct pgbackup *p)
{
  if (p->conn)
    PQfinish (p->conn);
  p->conn = NULL;
  free (p->set_id);
  p->set_id = NULL;
}

void
pgbackup_free (struct pgbackup *p)
{
  if (p == NULL)
    return;
  disconnect (p);
  free (p->conninfo);
  free (p->label_dir);
  free (p);
}

/* The server's notices (pg_backup_stop's about WAL archiving) go to
 * the log rather than to stderr. */
static void
log_notice (void *arg, const char *text)
{
  char line[1024];

  one_line (line, sizeof line, text);
  log_info ("postgres: the server says: %s", line);
}

/* Milliseconds left until DEADLINE (CLOCK_MONOTONIC ms), at least 0. */
static int
ms_left (int64_t deadline)
{
  int64_t left = deadline - timespec_now_ms (CLOCK_MONOTONIC);

  return left > 0 ? (int) left : 0;
}

/* Wait until FD has EVENTS or DEADLINE passes: 1, 0 at the deadline,
 * -1 on a poll error. */
static int
wait_fd (int fd, short events, int64_t deadline)
{
  struct pollfd pfd = { .fd = fd, .events = events };
  int r;

  do
    r = poll (&pfd, 1, ms_left (deadline));
  while (r == -1 && errno == EINTR);
  return r;
}

/* A connection to P's server, made by DEADLINE.  NULL with the
 * reason. */
static PGconn *
connect_server (struct pgbackup *p, int64_t deadline, int timeout_ms,
                char *message, size_t len)
{
  const char *const keys[] = { "fallback_application_name", "dbname", NULL };
  const char *const values[] = { "snapvol-writer", p->conninfo, NULL };
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  char err[1024];
  PGconn *conn;
  int r;

  conn = PQconnectStartParams (keys, values, 1);
  if (conn == NULL) {
    fail (message, len, "connect: out of memory");
    return NULL;
  }
  while (PQstatus (conn) != CONNECTION_BAD && st != PGRES_POLLING_OK) {
    if (st == PGRES_POLLING_FAILED)
      break;
    r = wait_fd (PQsocket (conn), st == PGRES_POLLING_READING
                 ? POLLIN : POLLOUT, deadline);
    if (r == 0) {
      fail (message, len, "connect: the server did not answer within %d ms",
            timeout_ms);
      goto err;
    }
    if (r == -1) {
      fail (message, len, "connect: poll: %m");
      goto err;
    }
    st = PQconnectPoll (conn);
  }
  if (PQstatus (conn) != CONNECTION_OK) {
    one_line (err, sizeof err, PQerrorMessage (conn));
    fail (message, len, "connect: %s", err);
    goto err;
  }
  PQsetNoticeProcessor (conn, log_notice, NULL);
  return conn;

 err:
  PQfinish (conn);
  return NULL;
}

static void *
cancel_thread (void *arg)
{
  PGcancel *cancel = arg;
  char err[256];

  if (!PQcancel (cancel, err, sizeof err))
    log_warnx ("postgres: PQcancel: %s", err);
  PQfreeCancel (cancel);
  return NULL;
}

/* Ask the server to cancel CONN's query, without waiting (design
 * notes). */
static void
cancel_query (PGconn *conn)
{
  PGcancel *cancel = PQgetCancel (conn);
  pthread_attr_t attr;
  pthread_t thread;
  int err;

  if (cancel == NULL) {
    log_warnx ("postgres: PQgetCancel failed: the query is not cancelled");
    return;
  }
  pthread_attr_init (&attr);
  pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
  err = pthread_create (&thread, &attr, cancel_thread, cancel);
  pthread_attr_destroy (&attr);
  if (err) {
    errno = err;
    log_warn ("postgres: pthread_create");
    PQfreeCancel (cancel);
  }
}

/* The error of the failed query RES (NULL: CONN's) as one line. */
static void
query_error (PGconn *conn, const PGresult *res, char *err, size_t len)
{
  const char *primary = NULL;

  if (res)
    primary = PQresultErrorField (res, PG_DIAG_MESSAGE_PRIMARY);
  if (primary)
    one_line (err, len, primary);
  else if (res && *PQresultErrorMessage (res))
    one_line (err, len, PQresultErrorMessage (res));
  else
    one_line (err, len, PQerrorMessage (conn));
}

/* CONN's next result of its query, awaited until DEADLINE: 0 with it
 * in *RES (NULL once the query is done), or -1 with the reason (the
 * query is cancelled at the deadline). */
static int
next_result (PGconn *conn, const char *what, PGresult **res,
             int64_t deadline, int timeout_ms, char *message, size_t len)
{
  char err[1024];
  int r;

  while (PQisBusy (conn)) {
    r = wait_fd (PQsocket (conn), POLLIN, deadline);
    if (r == 0) {
      cancel_query (conn);
      return fail (message, len, "%s did not return within %d ms; "
                   "it is cancelled", what, timeout_ms);
    }
    if (r == -1)
      return fail (message, len, "%s: poll: %m", what);
    if (!PQconsumeInput (conn)) {
      one_line (err, sizeof err, PQerrorMessage (conn));
      return fail (message, len, "%s: %s", what, err);
    }
  }
  *res = PQgetResult (conn);
  return 0;
}

/* Run SQL (WHAT in the reasons) with the text parameter PARAM (NULL:
 * none) on CONN by DEADLINE, to its end (so that CONN can run another
 * query): its one row, or NULL with the reason. */
static PGresult *
run_query (PGconn *conn, const char *what, const char *sql,
           const char *param, int64_t deadline, int timeout_ms,
           char *message, size_t len)
{
  PGresult *res = NULL, *extra;
  char err[1024];

  if (!PQsendQueryParams (conn, sql, param ? 1 : 0, NULL, &param, NULL, NULL,
                          0)) {
    one_line (err, sizeof err, PQerrorMessage (conn));
    fail (message, len, "%s: %s", what, err);
    return NULL;
  }
  if (next_result (conn, what, &res, deadline, timeout_ms, message, len)
      == -1)
    return NULL;
  if (res == NULL || PQresultStatus (res) != PGRES_TUPLES_OK ||
      PQntuples (res) != 1 || PQnfields (res) < 1) {
    query_error (conn, res, err, sizeof err);
    fail (message, len, "%s: %s", what, *err ? err : "no answer");
    PQclear (res);
    return NULL;
  }
  do {
    if (next_result (conn, what, &extra, deadline, timeout_ms, message, len)
        == -1) {
      PQclear (res);
      return NULL;
    }
    PQclear (extra);
  } while (extra != NULL);
  return res;
}

/* prepare: the server can be reached and can take the backup. */
static int
pg_prepare (struct pgbackup *p, int64_t deadline, int timeout_ms,
            char *message, size_t len)
{
  PGresult *res;
  PGconn *conn;
  int version, r = -1;

  conn = connect_server (p, deadline, timeout_ms, message, len);
  if (conn == NULL)
    return -1;
  version = PQserverVersion (conn);
  if (version < MIN_SERVER_VERSION) {
    fail (message, len, "the server is PostgreSQL %d.%d: pg_backup_start "
          "needs PostgreSQL 15 or later", version / 10000, version % 10000);
    goto out;
  }
  res = run_query (conn, "checking the privilege",
                   "SELECT has_function_privilege("
                   "'pg_catalog.pg_backup_start(text, boolean)', 'EXECUTE')",
                   NULL, deadline, timeout_ms, message, len);
  if (res == NULL)
    goto out;
  if (strcmp (PQgetvalue (res, 0, 0), "t") == 0)
    r = 0;
  else
    fail (message, len, "user %s may not run pg_backup_start (grant it "
          "EXECUTE on the function, or connect as a superuser)",
          PQuser (conn));
  PQclear (res);

 out:
  PQfinish (conn);
  return r;
}

/* freeze: pg_backup_start, the connection kept for the thaw. */
static int
pg_freeze (struct pgbackup *p, const char *set_id, int64_t deadline,
           int timeout_ms, char *message, size_t len)
{
  char label[128];
  PGresult *res;
  PGconn *conn;

  if (p->conn) {
    /* The library does not freeze twice; a backup held would be a bug. */
    fail (message, len, "the backup of set %s is in progress already",
          p->set_id);
    return -1;
  }
  conn = connect_server (p, deadline, timeout_ms, message, len);
  if (conn == NULL)
    return -1;
  snprintf (label, sizeof label, "snapvol set %s", set_id);
  res = run_query (conn, "pg_backup_start",
                   "SELECT pg_catalog.pg_backup_start($1, true)", label,
                   deadline, timeout_ms, message, len);
  if (res == NULL) {
    PQfinish (conn);
    return -1;
  }
  p->set_id = strdup (set_id);
  if (p->set_id == NULL) {
    PQclear (res);
    PQfinish (conn);
    return fail (message, len, "out of memory");
  }
  log_info ("postgres: pg_backup_start for set %s: the backup starts at %s",
            set_id, PQgetvalue (res, 0, 0));
  PQclear (res);
  p->conn = conn;
  return 0;
}

/* Write DATA to DIR/SET_ID.SUFFIX, through a temporary file renamed
 * over it once synced. */
static int
write_file (const char *dir, const char *set_id, const char *suffix,
            const char *data, char *message, size_t len)
{
  char path[4096], tmp[4200];
  size_t n = strlen (data), done = 0;
  ssize_t r;
  int fd;

  if (strchr (set_id, '/') || *set_id == '.' || *set_id == '\0')
    return fail (message, len, "set id '%s' cannot name a file", set_id);
  snprintf (path, sizeof path, "%s/%s.%s", dir, set_id, suffix);
  snprintf (tmp, sizeof tmp, "%s.tmp", path);
  fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd == -1)
    return fail (message, len, "%s: %m", tmp);
  while (done < n) {
    r = write (fd, data + done, n - done);
    if (r == -1 && errno == EINTR)
      continue;
    if (r == -1) {
      fail (message, len, "write: %s: %m", tmp);
      goto err;
    }
    done += r;
  }
  if (fsync (fd) == -1) {
    fail (message, len, "fsync: %s: %m", tmp);
    goto err;
  }
  if (close (fd) == -1) {
    fd = -1;
    fail (message, len, "close: %s: %m", tmp);
    goto err;
  }
  fd = -1;
  if (rename (tmp, path) == -1) {
    fail (message, len, "rename: %s: %m", path);
    goto err;
  }
  log_info ("postgres: the %s of set %s is in %s", suffix, set_id, path);
  return 0;

 err:
  if (fd >= 0)
    close (fd);
  unlink (tmp);
  return -1;
}

/* The backup label (and tablespace map) of RES's row, into the label
 * directory or the log. */
static int
keep_label (struct pgbackup *p, const PGresult *res, char *message,
            size_t len)
{
  const char *label = PQgetvalue (res, 0, 1), *map = PQgetvalue (res, 0, 2);
  const char *line, *end;

  if (p->label_dir) {
    if (write_file (p->label_dir, p->set_id, "backup_label", label,
                    message, len) == -1)
      return -1;
    if (*map && write_file (p->label_dir, p->set_id, "tablespace_map", map,
                            message, len) == -1)
      return -1;
    return 0;
  }
  for (line = label; *line; line = *end ? end + 1 : end) {
    end = strchrnul (line, '\n');
    log_info ("postgres: backup_label of set %s: %.*s", p->set_id,
              (int) (end - line), line);
  }
  for (line = map; *line; line = *end ? end + 1 : end) {
    end = strchrnul (line, '\n');
    log_info ("postgres: tablespace_map of set %s: %.*s", p->set_id,
              (int) (end - line), line);
  }
  return 0;
}

/* thaw (KEEP) and abort: pg_backup_stop, and disconnect. */
static int
pg_stop (struct pgbackup *p, bool keep, int64_t deadline, int timeout_ms,
         char *message, size_t len)
{
  PGresult *res;
  int r;

  if (p->conn == NULL)
    return 0;
  res = run_query (p->conn, "pg_backup_stop",
                   "SELECT lsn, labelfile, spcmapfile "
                   "FROM pg_catalog.pg_backup_stop(false)",
                   NULL, deadline, timeout_ms, message, len);
  if (res == NULL) {
    /* Closing the connection aborts the backup on the server. */
    r = (int) strlen (message);
    snprintf (message + r, len - r, "; the connection is closed");
    disconnect (p);
    return -1;
  }
  log_info ("postgres: pg_backup_stop for set %s%s: the backup ends at %s",
            p->set_id, keep ? "" : " (aborted)", PQgetvalue (res, 0, 0));
  r = keep ? keep_label (p, res, message, len) : 0;
  PQclear (res);
  disconnect (p);
  return r;
}

int
pgbackup_event (struct pgbackup *p, const struct snapvol_writer_event *ev,
                int timeout_ms, char *message, size_t len)
{
  int64_t deadline = timespec_now_ms (CLOCK_MONOTONIC) + timeout_ms;

  switch (ev->kind) {
  case SNAPVOL_WRITER_PREPARE:
    return pg_prepare (p, deadline, timeout_ms, message, len);
  case SNAPVOL_WRITER_FREEZE:
    return pg_freeze (p, ev->set_id, deadline, timeout_ms, message, len);
  case SNAPVOL_WRITER_THAW:
    return pg_stop (p, true, deadline, timeout_ms, message, len);
  case SNAPVOL_WRITER_ABORT:
    return pg_stop (p, false, deadline, timeout_ms, message, len);
  case SNAPVOL_WRITER_POST_SNAPSHOT:
  case SNAPVOL_WRITER_PRE_RESTORE:
  case SNAPVOL_WRITER_POST_RESTORE:
    /* Stopping the server for a restore is the hooks' work. */
    return 0;
  }
  return 0;
}

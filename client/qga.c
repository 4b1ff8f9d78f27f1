/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * qga.c: snapvol-writer's client of the qemu guest agent (qga.h).
 *
 * Design notes
 *
 * The agent's wire protocol is QMP-like: one JSON object per command,
 * {"execute": NAME[, "arguments": {...}]}, answered by one line,
 * {"return": VALUE} or {"error": {"class": C, "desc": D}}.  The channel
 * is a byte stream that outlives our connections (the guest's end stays
 * open), so a conversation starts with guest-sync-delimited:
 *
 *   1. send 0xFF (the agent drops any half-read request) and
 *      {"execute":"guest-sync-delimited","arguments":{"id":ID}};
 *   2. read lines: before the agent's 0xFF sentinel, only answers left
 *      over from an earlier client (JSON objects with "return" or
 *      "error") may come, and are skipped; anything else means the
 *      socket is not a guest agent's;
 *   3. after the sentinel, skip answers until {"return": ID};
 *   4. send the command and read its one answer.
 *
 * All of it runs against one deadline, so a silent agent, a socket no
 * one serves, or a chardev held by another client cost at most the
 * event's timeout.
 *
 * maybe_frozen is set once a freeze has been sent and cleared by a
 * confirmed thaw: it is what makes the abort event (and the next
 * prepare) thaw a guest whose freeze answer never came.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "qga.h"
#include "timespec.h"

/* The longest answer line we take; the agent's answers to the commands
 * we send are a few dozen bytes. */
#define QGA_LINE_MAX 4096

struct qga {
  char *path;
  int maybe_frozen;
  uint64_t seq;                 /* makes sync ids unique */
};

/* One conversation: a connection and its deadline. */
struct conv {
  struct qga *q;
  int fd;
  int64_t deadline;             /* CLOCK_MONOTONIC ms */
  int timeout_ms;               /* as given, for messages */
  char buf[QGA_LINE_MAX];
  size_t len;                   /* bytes in BUF */
  char *message;
  size_t msglen;
};

struct qga *
qga_new (const char *path)
{
  struct qga *q = calloc (1, sizeof *q);

  if (q == NULL)
    return NULL;
  q->path = strdup (path);
  if (q->path == NULL) {
    free (q);
    return NULL;
  }
  return q;
}

void
qga_free (struct qga *q)
{
  if (q == NULL)
    return;
  free (q->path);
  free (q);
}

/* Set C's reason: "qemu guest agent at PATH: ..." */
static int __attribute__((format (printf, 2, 3)))
conv_fail (struct conv *c, const char *fmt, ...)
{
  va_list ap;
  int n;

  n = snprintf (c->message, c->msglen, "qemu guest agent at %s: ", c->q->path);
  if (n < 0 || (size_t) n >= c->msglen)
    return -1;
  va_start (ap, fmt);
  vsnprintf (c->message + n, c->msglen - n, fmt, ap);
  va_end (ap);
  return -1;
}

static int
remaining_ms (const struct conv *c)
{
  int64_t left = c->deadline - timespec_now_ms (CLOCK_MONOTONIC);

  return left > 0 ? (int) left : 0;
}

/* Wait for EVENTS on C's socket until the deadline: 1 when ready, 0 at
 * the deadline, -1 on a poll error (reason set). */
static int
conv_wait (struct conv *c, short events)
{
  struct pollfd p = { .fd = c->fd, .events = events };
  int r;

  do
    r = poll (&p, 1, remaining_ms (c));
  while (r == -1 && errno == EINTR);
  if (r == -1)
    return conv_fail (c, "poll: %m");
  return r;
}

/* Connect C to the agent's socket, non-blocking. */
static int
conv_connect (struct conv *c)
{
  struct sockaddr_un sun = { .sun_family = AF_UNIX };
  socklen_t slen;
  int err = 0;

  if (strlen (c->q->path) >= sizeof sun.sun_path)
    return conv_fail (c, "the socket path is longer than %zu bytes",
                      sizeof sun.sun_path - 1);
  strcpy (sun.sun_path, c->q->path);
  c->fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd == -1)
    return conv_fail (c, "socket: %m");
  /* A Unix listener with a full backlog answers EAGAIN: retry until
   * the deadline, as for an agent that does not answer. */
  while (connect (c->fd, (struct sockaddr *) &sun, sizeof sun) == -1) {
    if (errno == EINTR)
      continue;
    if (errno == EINPROGRESS)
      break;
    if (errno != EAGAIN)
      return conv_fail (c, "connect: %m");
    if (remaining_ms (c) == 0)
      return conv_fail (c, "connect: the socket accepted no connection "
                        "within %d ms", c->timeout_ms);
    poll (NULL, 0, 50);
  }
  switch (conv_wait (c, POLLOUT)) {
  case -1: return -1;
  case 0:
    return conv_fail (c, "connect: the socket accepted no connection "
                      "within %d ms", c->timeout_ms);
  }
  slen = sizeof err;
  if (getsockopt (c->fd, SOL_SOCKET, SO_ERROR, &err, &slen) == -1)
    return conv_fail (c, "getsockopt: %m");
  if (err) {
    errno = err;
    return conv_fail (c, "connect: %m");
  }
  return 0;
}

/* Send LEN bytes of DATA for command WHAT. */
static int
conv_send (struct conv *c, const char *what, const char *data, size_t len)
{
  ssize_t n;

  while (len > 0) {
    n = send (c->fd, data, len, MSG_NOSIGNAL);
    if (n == -1 && errno == EINTR)
      continue;
    if (n == -1 && errno == EAGAIN) {
      switch (conv_wait (c, POLLOUT)) {
      case -1: return -1;
      case 0:
        return conv_fail (c, "%s: the request could not be sent within "
                          "%d ms", what, c->timeout_ms);
      }
      continue;
    }
    if (n == -1)
      return conv_fail (c, "%s: send: %m", what);
    data += n;
    len -= (size_t) n;
  }
  return 0;
}

/* Send {"execute": WHAT[, "arguments": ARGS]} and a newline, after
 * PREFIX (NULL, or one 0xFF byte).  Steals ARGS. */
static int
conv_execute (struct conv *c, const char *prefix, const char *what,
              json_t *args)
{
  json_t *req = json_pack ("{s:s}", "execute", what);
  char *text = NULL;
  int r = -1;

  if (req == NULL || (args && json_object_set_new (req, "arguments", args))) {
    json_decref (req);
    return conv_fail (c, "%s: out of memory", what);
  }
  text = json_dumps (req, JSON_COMPACT);
  json_decref (req);
  if (text == NULL)
    return conv_fail (c, "%s: out of memory", what);
  if ((prefix == NULL || conv_send (c, what, prefix, 1) == 0) &&
      conv_send (c, what, text, strlen (text)) == 0 &&
      conv_send (c, what, "\n", 1) == 0)
    r = 0;
  free (text);
  return r;
}

/* The answer's first bytes, printable, for a message. */
static void
excerpt (const char *line, size_t len, char *out, size_t outlen)
{
  size_t i, n = 0;

  for (i = 0; i < len && n + 1 < outlen && i < 60; i++)
    out[n++] = (line[i] >= 0x20 && line[i] < 0x7f) ? line[i] : '?';
  out[n] = '\0';
}

/* Read one line (without its newline) into LINE (QGA_LINE_MAX bytes),
 * its length into *LINELEN.  At the deadline, at EOF or for an
 * over-long line: -1 with the reason, for command WHAT. */
static int
conv_read_line (struct conv *c, const char *what, char *line, size_t *linelen)
{
  char *nl;
  ssize_t n;

  while ((nl = memchr (c->buf, '\n', c->len)) == NULL) {
    if (c->len == sizeof c->buf)
      return conv_fail (c, "%s: an answer line is longer than %d bytes: "
                        "this is not a qemu guest agent", what, QGA_LINE_MAX);
    switch (conv_wait (c, POLLIN)) {
    case -1: return -1;
    case 0:
      return conv_fail (c, "%s: no answer within %d ms", what,
                        c->timeout_ms);
    }
    n = recv (c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (n == -1 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (n == -1)
      return conv_fail (c, "%s: recv: %m", what);
    if (n == 0)
      return conv_fail (c, "%s: the connection was closed before the "
                        "answer came", what);
    c->len += (size_t) n;
  }
  *linelen = (size_t) (nl - c->buf);
  memcpy (line, c->buf, *linelen);
  c->len -= *linelen + 1;
  memmove (c->buf, nl + 1, c->len);
  return 0;
}

/* LINE as an agent's answer: a JSON object with "return" or "error".
 * NULL if it is not one. */
static json_t *
parse_answer (const char *line, size_t len)
{
  json_t *j = json_loadb (line, len, 0, NULL);

  if (j && json_is_object (j) &&
      (json_object_get (j, "return") || json_object_get (j, "error")))
    return j;
  json_decref (j);
  return NULL;
}

/* Steps 1 to 3 of the design notes. */
static int
conv_sync (struct conv *c)
{
  static const char what[] = "guest-sync-delimited";
  char line[QGA_LINE_MAX], ex[64];
  const char *p;
  size_t len;
  json_t *ans;
  json_int_t id, got;
  int synced = 0;

  /* Ids below 2^53 survive any JSON implementation. */
  id = (json_int_t) ((timespec_now_ms (CLOCK_REALTIME) % 1000000000) * 1000
                     + (c->q->seq++ % 1000));
  if (conv_execute (c, "\xff", what, json_pack ("{s:I}", "id", id)) == -1)
    return -1;
  for (;;) {
    if (conv_read_line (c, what, line, &len) == -1)
      return -1;
    p = memrchr (line, 0xff, len);
    if (p) {
      synced = 1;
      len -= (size_t) (p + 1 - line);
      memmove (line, p + 1, len);
    }
    ans = parse_answer (line, len);
    if (ans == NULL) {
      excerpt (line, len, ex, sizeof ex);
      return conv_fail (c, "%s: the answer '%s' is not a qemu guest "
                        "agent's", what, ex);
    }
    got = json_integer_value (json_object_get (ans, "return"));
    json_decref (ans);
    if (synced && got == id)
      return 0;
  }
}

/* Step 4: run WHAT; its "return" value into *RET (the caller decrefs). */
static int
conv_command (struct conv *c, const char *what, json_t **ret)
{
  char line[QGA_LINE_MAX], ex[64];
  size_t len;
  json_t *ans, *err;

  if (conv_execute (c, NULL, what, NULL) == -1 ||
      conv_read_line (c, what, line, &len) == -1)
    return -1;
  ans = parse_answer (line, len);
  if (ans == NULL) {
    excerpt (line, len, ex, sizeof ex);
    return conv_fail (c, "%s: the answer '%s' is not a qemu guest agent's",
                      what, ex);
  }
  err = json_object_get (ans, "error");
  if (err) {
    conv_fail (c, "%s was refused: %s (%s)", what,
               json_string_value (json_object_get (err, "desc"))
               ? : "no description",
               json_string_value (json_object_get (err, "class"))
               ? : "no class");
    json_decref (ans);
    return -1;
  }
  *ret = json_incref (json_object_get (ans, "return"));
  json_decref (ans);
  return 0;
}

/* Connect, sync and run WHAT within TIMEOUT_MS: its return value in
 * *RET.  SENT is set once WHAT itself has been sent (a freeze that
 * fails after that may have frozen the guest). */
static int
qga_run (struct qga *q, const char *what, int timeout_ms, json_t **ret,
         int *sent, char *message, size_t len)
{
  struct conv c = {
    .q = q, .fd = -1, .timeout_ms = timeout_ms,
    .deadline = timespec_now_ms (CLOCK_MONOTONIC) + timeout_ms,
    .message = message, .msglen = len,
  };
  int r = -1;

  if (conv_connect (&c) == 0 && conv_sync (&c) == 0) {
    if (sent)
      *sent = 1;
    r = conv_command (&c, what, ret);
  }
  if (c.fd >= 0)
    close (c.fd);
  return r;
}

/* guest-fsfreeze-thaw; clears maybe_frozen once the agent confirms. */
static int
qga_thaw (struct qga *q, int timeout_ms, char *message, size_t len)
{
  json_t *ret = NULL;

  if (qga_run (q, "guest-fsfreeze-thaw", timeout_ms, &ret, NULL,
               message, len) == -1)
    return -1;
  json_decref (ret);
  q->maybe_frozen = 0;
  return 0;
}

/* guest-fsfreeze-freeze; on a failure after it was sent, thaw. */
static int
qga_freeze (struct qga *q, int timeout_ms, char *message, size_t len)
{
  int64_t start = timespec_now_ms (CLOCK_MONOTONIC);
  json_t *ret = NULL;
  char thaw_msg[512];
  size_t n;
  int sent = 0, left;

  /* A third of the time is kept for the thaw after a failed freeze, so
   * that the whole answer still comes within TIMEOUT_MS. */
  if (qga_run (q, "guest-fsfreeze-freeze", timeout_ms - timeout_ms / 3,
               &ret, &sent,
               message, len) == 0) {
    json_decref (ret);
    q->maybe_frozen = 1;
    return 0;
  }
  if (!sent)
    return -1;
  q->maybe_frozen = 1;
  left = timeout_ms - (int) (timespec_now_ms (CLOCK_MONOTONIC) - start);
  if (left < timeout_ms / 3)
    left = timeout_ms / 3;
  n = strlen (message);
  if (qga_thaw (q, left, thaw_msg, sizeof thaw_msg) == 0)
    snprintf (message + n, len - n, "; the guest was thawed");
  else
    snprintf (message + n, len - n, "; the thaw that followed failed too "
              "(%s): it is sent again at the abort", thaw_msg);
  return -1;
}

/* prepare: the agent answers, and nothing holds the guest frozen. */
static int
qga_prepare (struct qga *q, int timeout_ms, char *message, size_t len)
{
  json_t *ret = NULL;
  const char *state;
  int r = 0;

  if (q->maybe_frozen &&
      qga_thaw (q, timeout_ms, message, len) == -1)
    return -1;
  if (qga_run (q, "guest-fsfreeze-status", timeout_ms, &ret, NULL,
               message, len) == -1)
    return -1;
  state = json_string_value (ret);
  if (state == NULL || strcmp (state, "thawed") != 0) {
    snprintf (message, len, "qemu guest agent at %s: guest-fsfreeze-status "
              "answered '%s', not 'thawed': the guest's filesystems are "
              "frozen by someone else", q->path, state ? : "?");
    r = -1;
  }
  json_decref (ret);
  return r;
}

int
qga_event (struct qga *q, const struct snapvol_writer_event *ev,
           int timeout_ms, char *message, size_t len)
{
  switch (ev->kind) {
  case SNAPVOL_WRITER_PREPARE:
    return qga_prepare (q, timeout_ms, message, len);
  case SNAPVOL_WRITER_FREEZE:
    return qga_freeze (q, timeout_ms, message, len);
  case SNAPVOL_WRITER_THAW:
    return qga_thaw (q, timeout_ms, message, len);
  case SNAPVOL_WRITER_ABORT:
    return q->maybe_frozen ? qga_thaw (q, timeout_ms, message, len) : 0;
  case SNAPVOL_WRITER_POST_SNAPSHOT:
    return 0;
  case SNAPVOL_WRITER_PRE_RESTORE:
  case SNAPVOL_WRITER_POST_RESTORE:
    /* The agent has no verb for a restore: stopping and restarting
     * the guest's application is the hooks' work. */
    return 0;
  }
  return 0;
}

/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * rpc-client.c: one JSON-RPC call over a snapvol control socket.
 *
 * The server's answer is checked like any other input: it must be a
 * response (classified by common/jsonrpc.c) carrying our id.  A
 * notification the server sends meanwhile is skipped.
 */

#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "jsonrpc.h"
#include "rpc-client.h"
#include "timespec.h"

/* The only request on a connection has this id. */
#define CALL_ID 1

static void set_error (struct rpc_error *e, enum rpc_stage where,
                       const char *fmt, ...)
  __attribute__((format (printf, 3, 4)));

static void
set_error (struct rpc_error *e, enum rpc_stage where, const char *fmt, ...)
{
  va_list ap;
  char *p;

  e->where = where;
  e->code = 0;
  e->errname[0] = '\0';
  va_start (ap, fmt);
  vsnprintf (e->message, sizeof e->message, fmt, ap);
  va_end (ap);
  /* The caller prints MESSAGE as one line. */
  for (p = e->message; *p; p++)
    if ((unsigned char) *p < 0x20 || *p == 0x7f)
      *p = '?';
}

static int
connect_unix (const char *path, struct rpc_error *e)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd;

  if (strlen (path) >= sizeof addr.sun_path) {
    set_error (e, RPC_FAILED_CONNECT,
               "cannot connect to %s: socket path longer than %zu bytes",
               path, sizeof addr.sun_path - 1);
    return -1;
  }
  strcpy (addr.sun_path, path);

  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd == -1) {
    set_error (e, RPC_FAILED_CONNECT, "socket: %m");
    return -1;
  }
  if (connect (fd, (struct sockaddr *) &addr, sizeof addr) == -1) {
    set_error (e, RPC_FAILED_CONNECT, "cannot connect to %s: %m", path);
    close (fd);
    return -1;
  }
  return fd;
}

/* Turn the server's error object (already checked by
 * jsonrpc_classify) into E. */
static void
take_error (json_t *error, struct rpc_error *e)
{
  json_t *data = json_object_get (error, "data");
  const char *name = json_string_value (json_object_get (data, "errno"));

  set_error (e, RPC_FAILED_SERVER, "%s",
             json_string_value (json_object_get (error, "message")));
  e->code = (int) json_integer_value (json_object_get (error, "code"));
  if (name)
    snprintf (e->errname, sizeof e->errname, "%s", name);
  /* A server that sent no message still gets a readable line. */
  if (e->message[0] == '\0')
    snprintf (e->message, sizeof e->message, "error %d%s%s", e->code,
              name ? " " : "", name ? name : "");
}

/* jsonrpc_recv_fd failed with errno, saying WHY: fill in E. */
static void
recv_failed (const char *path, int timeout_ms, const char *why,
             struct rpc_error *e)
{
  if (errno == ETIMEDOUT)
    set_error (e, RPC_FAILED_EXCHANGE, "no answer from %s within %d s",
               path, (timeout_ms + 999) / 1000);
  else if (errno == ECONNRESET)
    set_error (e, RPC_FAILED_EXCHANGE,
               "%s closed the connection without answering", path);
  else if (errno == EBADMSG || errno == EMSGSIZE)
    set_error (e, RPC_FAILED_EXCHANGE, "invalid answer from %s: %s",
               path, why);
  else
    set_error (e, RPC_FAILED_EXCHANGE, "cannot read from %s: %m", path);
}

/* MSG is a response: 0 with *RESULT set if it is the result of our
 * call, else -1 with E filled in. */
static int
take_response (json_t *msg, const char *path, json_t **result,
               struct rpc_error *e)
{
  json_t *id = json_object_get (msg, "id");
  json_t *error = json_object_get (msg, "error");

  /* A null id answers a request the server could not read. */
  if (error && (json_is_null (id) ||
                (json_is_integer (id) && json_integer_value (id) == CALL_ID))) {
    take_error (error, e);
    return -1;
  }
  if (error || !json_is_integer (id) || json_integer_value (id) != CALL_ID) {
    set_error (e, RPC_FAILED_EXCHANGE,
               "invalid answer from %s: unexpected id", path);
    return -1;
  }
  *result = json_incref (json_object_get (msg, "result"));
  return 0;
}

/* Read messages until the response to our call.  0 with *RESULT set,
 * or -1 with E filled in. */
static int
await_response (int fd, const char *path, int timeout_ms,
                json_t **result, struct rpc_error *e)
{
  struct jsonrpc_framer framer = JSONRPC_FRAMER_INIT;
  struct timespec deadline = timespec_deadline_ms (CLOCK_MONOTONIC,
                                                   timeout_ms);
  int r = -1;

  for (;;) {
    char why[256];
    enum jsonrpc_kind kind;
    json_t *msg;

    msg = jsonrpc_recv_fd (fd, &framer,
                           timespec_poll_ms (CLOCK_MONOTONIC, &deadline),
                           why, sizeof why);
    if (msg == NULL) {
      recv_failed (path, timeout_ms, why, e);
      break;
    }
    kind = jsonrpc_classify (msg, why, sizeof why);
    if (kind == JSONRPC_RESPONSE)
      r = take_response (msg, path, result, e);
    else if (kind != JSONRPC_NOTIFICATION)
      set_error (e, RPC_FAILED_EXCHANGE, "invalid answer from %s: %s", path,
                 kind == JSONRPC_INVALID ? why : "a request, not a response");
    json_decref (msg);
    if (kind != JSONRPC_NOTIFICATION)   /* those are not for us: skip */
      break;
  }

  jsonrpc_framer_free (&framer);
  return r;
}

int
rpc_call (const char *path, int timeout_ms, const char *method,
          json_t *params, json_t **result, struct rpc_error *e)
{
  CLEANUP_CLOSE int fd = -1;
  json_t *req;
  int r;

  req = jsonrpc_request (CALL_ID, method, params);
  if (req == NULL) {
    set_error (e, RPC_FAILED_EXCHANGE, "cannot build the request: %m");
    return -1;
  }

  fd = connect_unix (path, e);
  if (fd == -1) {
    json_decref (req);
    return -1;
  }
  r = jsonrpc_send_fd (fd, req);
  json_decref (req);
  if (r == -1) {
    if (errno == EMSGSIZE)
      set_error (e, RPC_FAILED_EXCHANGE, "request longer than %d bytes",
                 JSONRPC_MAX_MESSAGE);
    else
      set_error (e, RPC_FAILED_EXCHANGE, "cannot send to %s: %m", path);
    return -1;
  }
  return await_response (fd, path, timeout_ms, result, e);
}

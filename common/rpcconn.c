/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * rpcconn.c: a blocking JSON-RPC connection over TLS (see rpcconn.h).
 *
 * Design notes
 *
 * The socket is non-blocking and OpenSSL drives it: an SSL call that
 * cannot progress says whether it waits to read (SSL_ERROR_WANT_READ)
 * or to write (SSL_ERROR_WANT_WRITE), and we poll for exactly that.
 * We never poll before trying SSL_read: bytes OpenSSL has already
 * taken off the socket (a second record, SSL_pending) would never wake
 * poll.  The events of the last WANT are kept in c->events for callers
 * that poll the socket themselves.
 *
 * While a send waits for room, readable input is read into the framer
 * (up to READ_AHEAD_MAX bytes), so a peer that is itself blocked
 * writing to us gets unblocked; OpenSSL allows SSL_read between an
 * SSL_write that wanted to write and its retry with the same buffer.
 *
 * SIGPIPE: OpenSSL writes with write(2), which raises SIGPIPE on a
 * closed connection.  Each SSL call runs with SIGPIPE blocked in the
 * calling thread, and a SIGPIPE it raised is consumed before the mask
 * is restored, so a library user keeps its own SIGPIPE disposition.
 *
 * A peer closing without close_notify is taken as a plain close
 * (SSL_OP_IGNORE_UNEXPECTED_EOF): the line framing shows a message cut
 * short, so truncation cannot go unnoticed.
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "jsonrpc.h"
#include "rpcconn.h"
#include "timespec.h"
#include "tls.h"

#define READ_CHUNK 16384
/* Input buffered while a send waits for room; beyond it we only wait. */
#define READ_AHEAD_MAX (4 * JSONRPC_MAX_MESSAGE)

struct rpcconn {
  int fd;
  SSL *ssl;
  char *name;                   /* "coordinator HOST:PORT" */
  int cancel_fd;
  short events;                 /* what the last SSL call waited for */
  bool eof;                     /* the peer closed its side */
  bool heard;                   /* the peer has sent us some data */
  json_int_t next_id;
  struct jsonrpc_framer framer;
};

/* Deadlines (CLOCK_MONOTONIC). */

struct deadline {
  bool forever;
  struct timespec at;
};

static struct deadline
deadline_in (int timeout_ms)
{
  struct deadline d = { .forever = timeout_ms < 0 };

  if (!d.forever)
    d.at = timespec_deadline_ms (CLOCK_MONOTONIC, timeout_ms);
  return d;
}

/* Milliseconds left, rounded up; -1 for no limit, 0 once passed. */
static int
remaining_ms (const struct deadline *d)
{
  if (d->forever)
    return -1;
  return timespec_poll_ms (CLOCK_MONOTONIC, &d->at);
}

/* Wait until FD has one of EVENTS, the deadline passes (ETIMEDOUT) or
 * CANCEL_FD is readable (ECANCELED).  Returns the revents of FD. */
static int
wait_fd (int fd, short events, int cancel_fd, const struct deadline *d)
{
  for (;;) {
    struct pollfd fds[2] = {
      { .fd = fd, .events = events },
      { .fd = cancel_fd, .events = POLLIN },
    };
    int timeout = remaining_ms (d), r;

    if (timeout == 0) {
      errno = ETIMEDOUT;
      return -1;
    }
    r = poll (fds, cancel_fd >= 0 ? 2 : 1, timeout);
    if (r == -1 && errno == EINTR)
      continue;
    if (r == -1)
      return -1;
    if (cancel_fd >= 0 && fds[1].revents != 0) {
      errno = ECANCELED;
      return -1;
    }
    if (fds[0].revents != 0)
      return fds[0].revents;
  }
}

/* SIGPIPE, see the design notes. */

struct sigpipe_guard {
  sigset_t old;
  bool was_pending;
};

static void
sigpipe_block (struct sigpipe_guard *g)
{
  sigset_t set, pending;

  sigemptyset (&set);
  sigaddset (&set, SIGPIPE);
  pthread_sigmask (SIG_BLOCK, &set, &g->old);
  g->was_pending = sigpending (&pending) == 0 &&
    sigismember (&pending, SIGPIPE) == 1;
}

static void
sigpipe_restore (struct sigpipe_guard *g)
{
  sigset_t set, pending;
  int saved = errno;

  if (!g->was_pending && sigpending (&pending) == 0 &&
      sigismember (&pending, SIGPIPE) == 1) {
    static const struct timespec zero = { 0, 0 };

    sigemptyset (&set);
    sigaddset (&set, SIGPIPE);
    while (sigtimedwait (&set, NULL, &zero) == -1 && errno == EINTR)
      ;
  }
  pthread_sigmask (SIG_SETMASK, &g->old, NULL);
  errno = saved;
}

/* TLS errors. */

/* OpenSSL's reason for the oldest error queued ("certificate verify
 * failed"), the queue being cleared; for a failed verification, the
 * verifier's own reason is appended. */
static const char *
tls_reason (SSL *ssl, char *buf, size_t len)
{
  unsigned long e, first = 0;
  const char *reason;
  long v;

  while ((e = ERR_get_error ()) != 0)
    if (first == 0)
      first = e;
  reason = first ? ERR_reason_error_string (first) : NULL;
  if (reason == NULL && first != 0) {
    ERR_error_string_n (first, buf, len);
    reason = buf;
  }
  /* X509_V_OK unless a verification ran and failed. */
  v = ssl ? SSL_get_verify_result (ssl) : X509_V_OK;
  if (v != X509_V_OK) {
    snprintf (buf, len, "certificate verify failed: %s",
              X509_verify_cert_error_string (v));
    return buf;
  }
  if (reason == NULL)
    reason = "unknown TLS error";
  if (reason != buf)
    snprintf (buf, len, "%s", reason);
  return buf;
}

enum io_status { IO_DONE, IO_AGAIN, IO_FAILED };

/* Classify the result R of an SSL call named OP: IO_AGAIN with
 * c->events set when it must be retried, IO_FAILED with errno and ERR
 * otherwise. */
static enum io_status
ssl_status (struct rpcconn *c, int r, const char *op, char *err,
            size_t errlen)
{
  int saved = errno;
  char why[256];

  switch (SSL_get_error (c->ssl, r)) {
  case SSL_ERROR_NONE:
    return IO_DONE;
  case SSL_ERROR_WANT_READ:
    c->events = POLLIN;
    return IO_AGAIN;
  case SSL_ERROR_WANT_WRITE:
    c->events = POLLOUT;
    return IO_AGAIN;
  case SSL_ERROR_ZERO_RETURN:
    c->eof = true;
    jsonrpc_seterr (err, errlen, "%s: connection closed", c->name);
    errno = ECONNRESET;
    return IO_FAILED;
  case SSL_ERROR_SYSCALL:
    ERR_clear_error ();
    if (saved == 0 || saved == EAGAIN) {
      c->eof = true;
      jsonrpc_seterr (err, errlen, "%s: connection closed", c->name);
      errno = ECONNRESET;
    }
    else {
      errno = saved;
      jsonrpc_seterr (err, errlen, "%s: %s: %m", c->name, op);
    }
    return IO_FAILED;
  case SSL_ERROR_SSL:
  default:
    jsonrpc_seterr (err, errlen, "%s: %s", c->name,
                    tls_reason (c->ssl, why, sizeof why));
    errno = EPROTO;
    return IO_FAILED;
  }
}

/* Read what TLS has for us into the framer: 1 if bytes came, 0 if it
 * must wait (c->events says for what), -1 on error or EOF. */
static int
read_some (struct rpcconn *c, char *err, size_t errlen)
{
  struct sigpipe_guard g;
  char buf[READ_CHUNK];
  size_t n = 0;
  int r;

  if (c->eof) {
    jsonrpc_seterr (err, errlen,
                    "%s: %s", c->name, c->framer.len > c->framer.start
                    ? "connection closed in the middle of a message"
                    : "connection closed");
    errno = ECONNRESET;
    return -1;
  }
  ERR_clear_error ();
  errno = 0;
  sigpipe_block (&g);
  r = SSL_read_ex (c->ssl, buf, sizeof buf, &n);
  sigpipe_restore (&g);
  if (r == 1) {
    c->heard = true;
    if (jsonrpc_framer_feed (&c->framer, buf, n) == -1) {
      jsonrpc_seterr (err, errlen, "%s: %m", c->name);
      return -1;
    }
    return 1;
  }
  switch (ssl_status (c, r, "read", err, errlen)) {
  case IO_AGAIN:
    return 0;
  case IO_FAILED:
    if (errno == ECONNRESET && c->framer.len > c->framer.start)
      jsonrpc_seterr (err, errlen, "%s: connection closed in the middle of a "
                      "message", c->name);
    return -1;
  case IO_DONE:
  default:
    return 0;
  }
}

/* Addresses. */

int
rpcconn_split_address (const char *address, const char *default_port,
                       char **host, char **port, char *err, size_t errlen)
{
  const char *h = address, *p = NULL, *colon;
  size_t hlen;

  *host = *port = NULL;
  if (address[0] == '[') {
    const char *close = strchr (address, ']');

    if (close == NULL || close == address + 1) {
      jsonrpc_seterr (err, errlen,
                      "invalid address '%s': expected [IPV6]:PORT",
                      address);
      errno = EINVAL;
      return -1;
    }
    h = address + 1;
    hlen = close - h;
    if (close[1] == ':')
      p = close + 2;
    else if (close[1] != '\0') {
      jsonrpc_seterr (err, errlen,
                      "invalid address '%s': expected [IPV6]:PORT",
                      address);
      errno = EINVAL;
      return -1;
    }
  }
  else {
    colon = strchr (address, ':');
    if (colon != NULL && strchr (colon + 1, ':') == NULL) {
      hlen = colon - address;
      p = colon + 1;
    }
    else                        /* no port, or a bare IPv6 literal */
      hlen = strlen (address);
  }
  if (hlen == 0) {
    jsonrpc_seterr (err, errlen, "invalid address '%s': no host (expected "
                    "HOST:PORT)", address);
    errno = EINVAL;
    return -1;
  }
  if (p != NULL) {
    char *end;
    long n;

    errno = 0;
    n = strtol (p, &end, 10);
    if (*p == '\0' || *end != '\0' || errno != 0 || n < 1 || n > 65535) {
      jsonrpc_seterr (err, errlen, "invalid address '%s': the port must be a "
                      "number from 1 to 65535", address);
      errno = EINVAL;
      return -1;
    }
  }
  *host = strndup (h, hlen);
  *port = strdup (p ? p : default_port);
  if (*host == NULL || *port == NULL) {
    free (*host);
    free (*port);
    *host = *port = NULL;
    jsonrpc_seterr (err, errlen, "%m");
    return -1;
  }
  return 0;
}

/* Connect a non-blocking TCP socket to one address of HOST:PORT. */
static int
connect_tcp (struct rpcconn *c, const char *host, const char *port,
             const struct deadline *d, char *err, size_t errlen)
{
  struct addrinfo hints = {
    .ai_family = AF_UNSPEC,
    .ai_socktype = SOCK_STREAM,
    .ai_protocol = IPPROTO_TCP,
  };
  struct addrinfo *res = NULL, *ai;
  int r, last_err = ECONNREFUSED;
  const char *op = "connect";

  r = getaddrinfo (host, port, &hints, &res);
  if (r != 0) {
    jsonrpc_seterr (err, errlen, "%s: cannot resolve '%s': %s", c->name, host,
                    r == EAI_SYSTEM ? strerror (errno) : gai_strerror (r));
    errno = r == EAI_SYSTEM ? errno : EHOSTUNREACH;
    return -1;
  }
  for (ai = res; ai != NULL; ai = ai->ai_next) {
    int fd = socket (ai->ai_family,
                     ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                     ai->ai_protocol);
    int one = 1, soerr = 0;
    socklen_t len = sizeof soerr;

    if (fd == -1) {
      last_err = errno;
      op = "socket";
      continue;
    }
    if (connect (fd, ai->ai_addr, ai->ai_addrlen) == -1) {
      if (errno != EINPROGRESS) {
        last_err = errno;
        close (fd);
        continue;
      }
      if (wait_fd (fd, POLLOUT, c->cancel_fd, d) == -1) {
        last_err = errno;
        close (fd);
        if (last_err == ECANCELED || last_err == ETIMEDOUT)
          break;
        continue;
      }
      if (getsockopt (fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == -1)
        soerr = errno;
      if (soerr != 0) {
        last_err = soerr;
        close (fd);
        continue;
      }
    }
    /* Messages are small and answered at once: no Nagle delay. */
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt (fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    freeaddrinfo (res);
    return fd;
  }
  freeaddrinfo (res);
  errno = last_err;
  if (last_err == ETIMEDOUT)
    jsonrpc_seterr (err, errlen, "%s: connect: no answer within the timeout",
                    c->name);
  else if (last_err == ECANCELED)
    jsonrpc_seterr (err, errlen, "%s: connect: cancelled", c->name);
  else
    jsonrpc_seterr (err, errlen, "%s: %s: %m", c->name, op);
  return -1;
}

static int
handshake (struct rpcconn *c, const char *host, const struct deadline *d,
           char *err, size_t errlen)
{
  char why[256];

  if (tls_expect_peer_name (c->ssl, host) == -1) {
    jsonrpc_seterr (err, errlen,
                    "%s: cannot set the expected certificate name: %s",
                    c->name, tls_reason (NULL, why, sizeof why));
    errno = ENOMEM;
    return -1;
  }
  for (;;) {
    struct sigpipe_guard g;
    int r;

    ERR_clear_error ();
    errno = 0;
    sigpipe_block (&g);
    r = SSL_connect (c->ssl);
    sigpipe_restore (&g);
    if (r == 1)
      return 0;
    switch (ssl_status (c, r, "TLS handshake", err, errlen)) {
    case IO_AGAIN:
      if (wait_fd (c->fd, c->events, c->cancel_fd, d) == -1) {
        if (errno == ETIMEDOUT)
          jsonrpc_seterr (err, errlen,
                          "%s: TLS handshake: no answer within the "
                          "timeout", c->name);
        else if (errno == ECANCELED)
          jsonrpc_seterr (err, errlen,
                          "%s: TLS handshake: cancelled", c->name);
        else
          jsonrpc_seterr (err, errlen, "%s: poll: %m", c->name);
        return -1;
      }
      break;
    case IO_FAILED:
      if (errno == ECONNRESET)
        jsonrpc_seterr (err, errlen,
                        "%s: TLS handshake: the connection was closed "
                        "by the peer", c->name);
      return -1;
    case IO_DONE:
    default:
      return 0;
    }
  }
}

struct rpcconn *
rpcconn_open (SSL_CTX *ctx, const char *what, const char *address,
              int timeout_ms, int cancel_fd, char *err, size_t errlen)
{
  struct deadline d = deadline_in (timeout_ms);
  char *host = NULL, *port = NULL;
  struct rpcconn *c;
  int saved;

  if (rpcconn_split_address (address, RPCCONN_DEFAULT_PORT, &host, &port,
                             err, errlen) == -1) {
    /* Name the peer in this message too. */
    char why[256];

    saved = errno;
    snprintf (why, sizeof why, "%s", err);
    jsonrpc_seterr (err, errlen, "%s %s", what, why);
    errno = saved;
    return NULL;
  }
  c = calloc (1, sizeof *c);
  if (c == NULL)
    goto nomem;
  c->fd = -1;
  c->cancel_fd = cancel_fd;
  c->events = POLLIN;
  c->framer = (struct jsonrpc_framer) JSONRPC_FRAMER_INIT;
  if (asprintf (&c->name, strchr (host, ':') ? "%s [%s]:%s" : "%s %s:%s",
                what, host, port) == -1) {
    c->name = NULL;
    goto nomem;
  }

  c->fd = connect_tcp (c, host, port, &d, err, errlen);
  if (c->fd == -1)
    goto err;
  c->ssl = SSL_new (ctx);
  if (c->ssl == NULL || SSL_set_fd (c->ssl, c->fd) != 1) {
    char why[256];

    jsonrpc_seterr (err, errlen, "%s: SSL_new: %s", c->name,
                    tls_reason (NULL, why, sizeof why));
    errno = ENOMEM;
    goto err;
  }
  SSL_set_options (c->ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_set_mode (c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
                SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (handshake (c, host, &d, err, errlen) == -1)
    goto err;
  c->events = POLLIN;
  free (host);
  free (port);
  return c;

 nomem:
  jsonrpc_seterr (err, errlen, "%s %s: %m", what, address);
 err:
  saved = errno;
  rpcconn_close (c);
  free (host);
  free (port);
  errno = saved;
  return NULL;
}

void
rpcconn_close (struct rpcconn *c)
{
  int saved = errno;

  if (c == NULL)
    return;
  if (c->ssl != NULL) {
    struct sigpipe_guard g;

    /* One attempt: the socket is non-blocking, so this never waits. */
    if (!c->eof && SSL_is_init_finished (c->ssl)) {
      sigpipe_block (&g);
      SSL_shutdown (c->ssl);
      sigpipe_restore (&g);
    }
    ERR_clear_error ();
    SSL_free (c->ssl);
  }
  if (c->fd >= 0)
    close (c->fd);
  jsonrpc_framer_free (&c->framer);
  free (c->name);
  free (c);
  errno = saved;
}

const char *
rpcconn_name (const struct rpcconn *c)
{
  return c->name;
}

int
rpcconn_fd (const struct rpcconn *c)
{
  return c->fd;
}

short
rpcconn_events (const struct rpcconn *c)
{
  return c->events;
}

json_int_t
rpcconn_next_id (struct rpcconn *c)
{
  return ++c->next_id;
}

/* Messages. */

int
rpcconn_send (struct rpcconn *c, json_t *msg, int timeout_ms, char *err,
              size_t errlen)
{
  struct deadline d = deadline_in (timeout_ms);
  char *buf;
  size_t len, off = 0;
  int ret = -1;

  buf = jsonrpc_encode (msg, &len);
  if (buf == NULL) {
    if (errno == EMSGSIZE)
      jsonrpc_seterr (err, errlen, "%s: message longer than %d bytes", c->name,
                      JSONRPC_MAX_MESSAGE);
    else
      jsonrpc_seterr (err, errlen, "%s: %m", c->name);
    return -1;
  }

  while (off < len) {
    struct sigpipe_guard g;
    size_t n = 0;
    short events;
    int r;

    ERR_clear_error ();
    errno = 0;
    sigpipe_block (&g);
    r = SSL_write_ex (c->ssl, buf + off, len - off, &n);
    sigpipe_restore (&g);
    if (r == 1) {
      off += n;
      continue;
    }
    switch (ssl_status (c, r, "write", err, errlen)) {
    case IO_DONE:
      continue;
    case IO_FAILED:
      if (errno == ECONNRESET)
        jsonrpc_seterr (err, errlen, "%s: connection closed", c->name);
      goto out;
    case IO_AGAIN:
      break;
    }
    events = c->events;
    if (events == POLLOUT && !c->eof &&
        c->framer.len - c->framer.start < READ_AHEAD_MAX)
      events |= POLLIN;
    r = wait_fd (c->fd, events, c->cancel_fd, &d);
    if (r == -1) {
      if (errno == ETIMEDOUT)
        jsonrpc_seterr (err, errlen,
                        "%s: the peer did not take our message within "
                        "%d ms", c->name, timeout_ms);
      else if (errno == ECANCELED)
        jsonrpc_seterr (err, errlen, "%s: cancelled", c->name);
      else
        jsonrpc_seterr (err, errlen, "%s: poll: %m", c->name);
      goto out;
    }
    /* Read ahead only when writing cannot progress. */
    if (c->events == POLLOUT && (r & POLLOUT) == 0 && (r & POLLIN) != 0 &&
        read_some (c, err, errlen) == -1 && errno != ECONNRESET)
      goto out;
  }
  ret = 0;
 out:
  free (buf);
  return ret;
}

json_t *
rpcconn_recv (struct rpcconn *c, int timeout_ms, int *code, char *err,
              size_t errlen)
{
  struct deadline d = deadline_in (timeout_ms);

  *code = 0;
  for (;;) {
    char *text = NULL;
    size_t len;
    json_t *msg;
    int r;

    r = jsonrpc_framer_next (&c->framer, &text, &len);
    if (r == -1) {
      if (errno == EMSGSIZE)
        jsonrpc_seterr (err, errlen,
                        "%s: message longer than %d bytes", c->name,
                        JSONRPC_MAX_MESSAGE);
      else
        jsonrpc_seterr (err, errlen, "%s: %m", c->name);
      *code = JSONRPC_INVALID_REQUEST;
      return NULL;
    }
    if (r == 1) {
      char why[256];

      msg = jsonrpc_decode (text, len, code, why, sizeof why);
      free (text);
      if (msg == NULL) {
        jsonrpc_seterr (err, errlen, "%s: %s", c->name, why);
        errno = EBADMSG;
      }
      return msg;
    }

    r = read_some (c, err, errlen);
    if (r == -1)
      return NULL;
    if (r == 1)
      continue;
    if (timeout_ms == 0) {
      jsonrpc_seterr (err, errlen, "%s: no message yet", c->name);
      errno = ETIMEDOUT;
      return NULL;
    }
    if (wait_fd (c->fd, c->events, c->cancel_fd, &d) == -1) {
      if (errno == ETIMEDOUT)
        jsonrpc_seterr (err, errlen, "%s: no message within %d ms", c->name,
                        timeout_ms);
      else if (errno == ECANCELED)
        jsonrpc_seterr (err, errlen, "%s: cancelled", c->name);
      else
        jsonrpc_seterr (err, errlen, "%s: poll: %m", c->name);
      return NULL;
    }
  }
}

int
rpcconn_response_error (json_t *response, int *code, const char **message,
                        json_t **data)
{
  json_t *error = json_object_get (response, "error");

  if (!json_is_object (error))
    return 0;
  *code = (int) json_integer_value (json_object_get (error, "code"));
  *message = json_string_value (json_object_get (error, "message"));
  if (*message == NULL)
    *message = "";
  if (data)
    *data = json_object_get (error, "data");
  return 1;
}

/* Answer a message of the peer that we cannot take; failures to send
 * show up on the next receive. */
static void
answer_error (struct rpcconn *c, json_t *id, int code, const char *message,
              const struct deadline *d)
{
  json_t *reply = jsonrpc_error (id, code, NULL, "%s", message);
  char ignored[256];

  if (reply != NULL) {
    rpcconn_send (c, reply, remaining_ms (d) == 0 ? 1 : remaining_ms (d),
                  ignored, sizeof ignored);
    json_decref (reply);
  }
}

const char *
rpcconn_reason (const struct rpcconn *c, const char *err)
{
  size_t n = strlen (c->name);

  if (strncmp (err, c->name, n) == 0 && strncmp (err + n, ": ", 2) == 0)
    return err + n + 2;
  return err;
}

/* The id of MSG if it is a usable one, else NULL. */
static json_t *
usable_id (json_t *msg)
{
  json_t *id = json_object_get (msg, "id");

  return json_is_string (id) || json_is_integer (id) ? id : NULL;
}

json_t *
rpcconn_call (struct rpcconn *c, const char *method, json_t *params,
              int timeout_ms, rpcconn_request_fn *on_request, void *opaque,
              char *err, size_t errlen)
{
  struct deadline d = deadline_in (timeout_ms);
  json_int_t id = rpcconn_next_id (c);
  json_t *req = jsonrpc_request (id, method, params);
  int r;

  if (req == NULL) {
    jsonrpc_seterr (err, errlen,
                    "%s: cannot build the request %s: %m", c->name,
                    method);
    return NULL;
  }
  r = rpcconn_send (c, req, timeout_ms, err, errlen);
  json_decref (req);
  if (r == -1)
    return NULL;

  for (;;) {
    char why[256];
    json_t *msg, *mid;
    int code, left = remaining_ms (&d);

    msg = rpcconn_recv (c, left == 0 ? 1 : left, &code, err, errlen);
    if (msg == NULL) {
      if (errno == EBADMSG) {
        answer_error (c, NULL, code, rpcconn_reason (c, err), &d);
        continue;
      }
      if (errno == ETIMEDOUT)
        jsonrpc_seterr (err, errlen,
                        "%s: no answer to %s within %d ms", c->name,
                        method, timeout_ms);
      else if (errno == ECONNRESET && !c->heard)
        /* With TLS 1.3 a server checks our certificate after the
         * handshake completed on our side: its refusal looks like this
         * when it sent no alert. */
        jsonrpc_seterr (err, errlen,
                        "%s: the connection was closed without an "
                        "answer to %s (was our certificate refused?)", c->name,
                        method);
      else if (errno == ECONNRESET)
        jsonrpc_seterr (err, errlen,
                        "%s: the connection was closed before the "
                        "answer to %s", c->name, method);
      return NULL;
    }
    switch (jsonrpc_classify (msg, why, sizeof why)) {
    case JSONRPC_RESPONSE:
      mid = json_object_get (msg, "id");
      if ((json_is_integer (mid) && json_integer_value (mid) == id) ||
          (json_is_null (mid) && json_object_get (msg, "error") != NULL))
        return msg;
      break;                    /* not ours: dropped */
    case JSONRPC_REQUEST:
    case JSONRPC_NOTIFICATION:
      if (on_request != NULL)
        on_request (opaque, msg);
      else if (usable_id (msg) != NULL) {
        char message[256];

        snprintf (message, sizeof message, "this peer takes no requests "
                  "(got '%.64s')",
                  json_string_value (json_object_get (msg, "method")));
        answer_error (c, usable_id (msg), JSONRPC_METHOD_NOT_FOUND, message,
                      &d);
      }
      break;
    case JSONRPC_INVALID:
    default:
      answer_error (c, usable_id (msg), JSONRPC_INVALID_REQUEST, why, &d);
      break;
    }
    json_decref (msg);
  }
}

/* Address lists (see rpcconn.h). */

struct rpcconn_targets {
  char *address[RPCCONN_MAX_ADDRESSES];
  size_t n;
  size_t start;                 /* the round's first address */
  size_t tried;                 /* list addresses taken this round */
  size_t current;               /* the address last returned; n: redirect */
  char *redirect;               /* the leader to try next, or NULL */
  char *dialled;                /* the redirect taken this round, or NULL */
  char *why;                    /* their reasons, joined; NULL if none */
};

struct rpcconn_targets *
rpcconn_targets_new (const char *list, char *err, size_t errlen)
{
  struct rpcconn_targets *t = calloc (1, sizeof *t);
  const char *p = list;

  if (t == NULL) {
    jsonrpc_seterr (err, errlen, "%m");
    return NULL;
  }
  for (;;) {
    size_t len = strcspn (p, ",");
    char *host, *port;

    if (t->n == RPCCONN_MAX_ADDRESSES) {
      jsonrpc_seterr (err, errlen, "invalid address list '%s': more than "
                      "%d addresses", list, RPCCONN_MAX_ADDRESSES);
      errno = EINVAL;
      goto err;
    }
    if (len == 0 && p[len] == ',') {
      jsonrpc_seterr (err, errlen, "invalid address list '%s': an empty "
                      "address (expected HOST:PORT,HOST:PORT)", list);
      errno = EINVAL;
      goto err;
    }
    t->address[t->n] = strndup (p, len);
    if (t->address[t->n] == NULL) {
      jsonrpc_seterr (err, errlen, "%m");
      goto err;
    }
    if (rpcconn_split_address (t->address[t->n++], RPCCONN_DEFAULT_PORT,
                               &host, &port, err, errlen) == -1)
      goto err;
    free (host);
    free (port);
    if (p[len] == '\0')
      break;
    p += len + 1;
    if (*p == '\0') {
      jsonrpc_seterr (err, errlen, "invalid address list '%s': an empty "
                      "address (expected HOST:PORT,HOST:PORT)", list);
      errno = EINVAL;
      goto err;
    }
  }
  return t;

 err:
  rpcconn_targets_free (t);
  return NULL;
}

void
rpcconn_targets_free (struct rpcconn_targets *t)
{
  size_t i;

  if (t == NULL)
    return;
  for (i = 0; i < t->n; i++)
    free (t->address[i]);
  free (t->redirect);
  free (t->dialled);
  free (t->why);
  free (t);
}

size_t
rpcconn_targets_count (const struct rpcconn_targets *t)
{
  return t->n;
}

const char *
rpcconn_targets_next (struct rpcconn_targets *t)
{
  if (t->redirect != NULL) {
    free (t->dialled);
    t->dialled = t->redirect;
    t->redirect = NULL;
    t->current = t->n;
    return t->dialled;
  }
  while (t->tried < t->n) {
    size_t i = (t->start + t->tried++) % t->n;

    /* The leader we were sent to has had its attempt this round. */
    if (t->dialled != NULL && strcmp (t->address[i], t->dialled) == 0)
      continue;
    t->current = i;
    return t->address[i];
  }
  return NULL;
}

void
rpcconn_targets_failed (struct rpcconn_targets *t, const char *why,
                        const char *leader)
{
  size_t len = t->why ? strlen (t->why) : 0;
  char *joined = realloc (t->why, len + strlen (why) + 3);

  /* Out of memory only shortens the message. */
  if (joined != NULL) {
    t->why = joined;
    sprintf (joined + len, "%s%s", len > 0 ? "; " : "", why);
  }
  if (leader != NULL && t->dialled == NULL && t->redirect == NULL &&
      (t->current == t->n || strcmp (leader, t->address[t->current]) != 0))
    t->redirect = strdup (leader);
}

void
rpcconn_targets_reached (struct rpcconn_targets *t)
{
  size_t i;

  if (t->current < t->n) {
    t->start = (t->current + 1) % t->n;
    return;
  }
  for (i = 0; i < t->n; i++)
    if (strcmp (t->address[i], t->dialled) == 0)
      t->start = (i + 1) % t->n;
}

const char *
rpcconn_targets_why (const struct rpcconn_targets *t)
{
  return t->why ? t->why : "";
}

void
rpcconn_targets_new_round (struct rpcconn_targets *t)
{
  t->tried = 0;
  free (t->redirect);
  free (t->dialled);
  free (t->why);
  t->redirect = t->dialled = t->why = NULL;
}

bool
rpcconn_not_leader (json_t *response, const char **leader)
{
  json_t *data, *l;
  const char *message;
  int code;

  if (!rpcconn_response_error (response, &code, &message, &data) ||
      code != SV_RPC_NOT_LEADER || !json_is_object (data))
    return false;
  l = json_object_get (data, "leader");
  if (!json_is_string (l) && !json_is_null (l))
    return false;
  *leader = json_string_value (l);
  return true;
}

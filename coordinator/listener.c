/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * listener.c: the listening TCP sockets.  They are bound before the
 * daemon forks (an address in use is an error on the terminal) and
 * handed to libevent once the event loop exists; every accepted
 * connection goes to conn_accept.
 *
 * Accepting: at most ACCEPT_BATCH connections per wake-up, so that a
 * flood of connections does not starve the connections already
 * accepted (each loop turn serves them too).  accept(2) failing for
 * lack of descriptors (EMFILE, ENFILE) or memory leaves the connection
 * queued and the socket readable: accepting again at once would spin.
 * Instead connections still in their TLS handshake are shed
 * (conns_shed) and accepting pauses for ACCEPT_PAUSE_SHED_MS, long
 * enough for the event loop to close them; with nothing to shed it
 * pauses for ACCEPT_PAUSE_MS.  Each pause is logged once per
 * ACCEPT_PAUSE_LOG_MS.
 */

#include <config.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "conf.h"
#include "conn.h"
#include "listener.h"
#include "log.h"
#include "timespec.h"
#include "vector.h"

/* The kernel caps it at net.core.somaxconn.  Connections queued here
 * cost us nothing; a full queue drops new SYNs, and a peer then waits
 * a TCP retransmission (1 s) or more, so it is large. */
#define LISTEN_BACKLOG 4096
#define ACCEPT_BATCH 32
#define ACCEPT_PAUSE_SHED_MS 5
#define ACCEPT_PAUSE_MS 1000
#define ACCEPT_PAUSE_LOG_MS 10000

struct listener {
  int fd;
  char name[INET6_ADDRSTRLEN + 16];     /* "127.0.0.1:10810" */
  struct coord *co;
  struct event *ev;             /* readable: connections to accept */
  struct event *resume;         /* the end of a pause */
  int64_t last_pause_log_ms;
};

DEFINE_VECTOR_TYPE (listener_vector, struct listener);

struct listeners {
  listener_vector l;
};

/* "ADDR:PORT" or "[ADDR]:PORT" of SA into BUF, and ADDR alone into
 * HOST (INET6_ADDRSTRLEN bytes) unless HOST is NULL. */
static void
format_addr (const struct sockaddr *sa, char *buf, size_t len, char *host)
{
  char h[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;

  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *) sa;

    inet_ntop (AF_INET, &in->sin_addr, h, sizeof h);
    port = ntohs (in->sin_port);
    snprintf (buf, len, "%s:%u", h, port);
  }
  else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;

    inet_ntop (AF_INET6, &in6->sin6_addr, h, sizeof h);
    port = ntohs (in6->sin6_port);
    snprintf (buf, len, "[%s]:%u", h, port);
  }
  else
    snprintf (buf, len, "(address family %d)", sa->sa_family);
  if (host != NULL)
    memcpy (host, h, sizeof h);
}

int
listener_bind_one (const struct addrinfo *ai, int backlog)
{
  int fd, one = 1;

  fd = socket (ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
               ai->ai_protocol);
  if (fd == -1)
    return -1;
  if (setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1 ||
      (ai->ai_family == AF_INET6 &&
       setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) == -1) ||
      bind (fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
      listen (fd, backlog) == -1) {
    int err = errno;

    close (fd);
    errno = err;
    return -1;
  }
  return fd;
}

static int
add_listener (struct listeners *lis, int fd, const struct sockaddr *sa)
{
  struct listener l = { .fd = fd, .ev = NULL };

  format_addr (sa, l.name, sizeof l.name, NULL);
  return listener_vector_append (&lis->l, l);
}

/* Bind every address of one "listen" directive.  -1 after logging. */
static int
bind_directive (struct listeners *lis, const struct config *conf,
                const struct config_listen *cl)
{
  struct addrinfo hints = {
    .ai_family = AF_UNSPEC,
    .ai_socktype = SOCK_STREAM,
    .ai_flags = AI_PASSIVE | AI_NUMERICSERV | AI_ADDRCONFIG,
  };
  struct addrinfo *res, *ai;
  const char *host = cl->host ? cl->host : "*";
  int r, bound = 0, failed = 0;

  r = getaddrinfo (cl->host, cl->port, &hints, &res);
  if (r != 0) {
    log_warnx ("%s:%d: listen %s port %s: %s", conf->path, cl->line, host,
               cl->port, r == EAI_SYSTEM ? strerror (errno) : gai_strerror (r));
    return -1;
  }
  for (ai = res; ai != NULL; ai = ai->ai_next) {
    char name[INET6_ADDRSTRLEN + 16];
    int fd = listener_bind_one (ai, LISTEN_BACKLOG);

    format_addr (ai->ai_addr, name, sizeof name, NULL);
    if (fd == -1) {
      /* "*" may name an address family this host lacks. */
      if (cl->host == NULL && errno == EAFNOSUPPORT)
        continue;
      log_warnx ("%s:%d: listen %s port %s: %s: %s", conf->path, cl->line,
                 host, cl->port, name, strerror (errno));
      failed++;
      continue;
    }
    if (add_listener (lis, fd, ai->ai_addr) == -1) {
      log_warn ("listen %s", name);
      close (fd);
      failed++;
      continue;
    }
    bound++;
  }
  freeaddrinfo (res);
  if (bound == 0 && failed == 0) {
    log_warnx ("%s:%d: listen %s port %s: no usable address", conf->path,
               cl->line, host, cl->port);
    return -1;
  }
  return failed ? -1 : 0;
}

int
listeners_bind (struct coord *co)
{
  const struct config *conf = co->conf;
  struct listeners *lis = calloc (1, sizeof *lis);
  size_t i;
  int r = 0;

  if (lis == NULL) {
    log_warn ("listen");
    return -1;
  }
  for (i = 0; i < conf->listen.len; i++)
    if (bind_directive (lis, conf, &conf->listen.ptr[i]) == -1)
      r = -1;
  if (r == -1) {
    listeners_free (lis);
    return -1;
  }
  co->listeners = lis;
  return 0;
}

/* Stop accepting on L for MS, logging why (once per
 * ACCEPT_PAUSE_LOG_MS). */
static void
pause_accepting (struct listener *l, int err, size_t shed, int ms)
{
  int64_t now = timespec_now_ms (CLOCK_MONOTONIC);
  struct timeval tv;

  if (now - l->last_pause_log_ms >= ACCEPT_PAUSE_LOG_MS) {
    l->last_pause_log_ms = now;
    if (shed > 0)
      log_warnx ("accept %s: %s; closed %zu connections still in their "
                 "TLS handshake to make room", l->name, strerror (err),
                 shed);
    else
      log_warnx ("accept %s: %s; not accepting for %d ms (every "
                 "connection has finished its TLS handshake)", l->name,
                 strerror (err), ms);
  }
  event_del (l->ev);
  evtimer_add (l->resume, timespec_timeval_ms (&tv, ms));
}

static void
resume_cb (evutil_socket_t fd, short what, void *arg)
{
  struct listener *l = arg;

  event_add (l->ev, NULL);
}

static void
accept_cb (evutil_socket_t lfd, short what, void *arg)
{
  struct listener *l = arg;
  int i;

  for (i = 0; i < ACCEPT_BATCH; i++) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char name[INET6_ADDRSTRLEN + 16], host[INET6_ADDRSTRLEN];
    int fd;

    fd = accept4 (lfd, (struct sockaddr *) &ss, &len,
                  SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd == -1) {
      switch (errno) {
      case EAGAIN:
#if EAGAIN != EWOULDBLOCK
      case EWOULDBLOCK:
#endif
        return;
      case EINTR:
      case ECONNABORTED:
      case EPROTO:
        continue;
      case EMFILE:
      case ENFILE:
      case ENOBUFS:
      case ENOMEM: {
        int err = errno;
        size_t shed = conns_shed (l->co, ACCEPT_BATCH);

        pause_accepting (l, err, shed,
                         shed > 0 ? ACCEPT_PAUSE_SHED_MS : ACCEPT_PAUSE_MS);
        return;
      }
      default:
        pause_accepting (l, errno, 0, ACCEPT_PAUSE_MS);
        return;
      }
    }
    format_addr ((struct sockaddr *) &ss, name, sizeof name, host);
    conn_accept (l->co, fd, host, name);
  }
}

int
listeners_start (struct coord *co)
{
  struct listeners *lis = co->listeners;
  size_t i;

  for (i = 0; i < lis->l.len; i++) {
    struct listener *l = &lis->l.ptr[i];

    l->co = co;
    l->ev = event_new (co->base, l->fd, EV_READ | EV_PERSIST, accept_cb, l);
    l->resume = evtimer_new (co->base, resume_cb, l);
    if (l->ev == NULL || l->resume == NULL || event_add (l->ev, NULL) == -1) {
      log_warnx ("listen %s: cannot add it to the event loop", l->name);
      return -1;
    }
    log_info ("listening on %s", l->name);
  }
  return 0;
}

void
listeners_free (struct listeners *lis)
{
  size_t i;

  if (lis == NULL)
    return;
  for (i = 0; i < lis->l.len; i++) {
    if (lis->l.ptr[i].ev != NULL)
      event_free (lis->l.ptr[i].ev);
    if (lis->l.ptr[i].resume != NULL)
      event_free (lis->l.ptr[i].resume);
    close (lis->l.ptr[i].fd);
  }
  listener_vector_reset (&lis->l);
  free (lis);
}

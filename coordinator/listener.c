/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * listener.c: the listening TCP sockets.  They are bound before the
 * daemon forks (an address in use is an error on the terminal) and
 * handed to libevent once the event loop exists; every accepted
 * connection goes to conn_accept.
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

#include <event2/listener.h>

#include "conf.h"
#include "conn.h"
#include "listener.h"
#include "log.h"

#define LISTEN_BACKLOG 128

struct listener {
  int fd;
  char name[INET6_ADDRSTRLEN + 16];     /* "127.0.0.1:10810" */
  struct evconnlistener *ev;
};

struct listeners {
  struct listener *l;
  size_t n;
};

/* "ADDR:PORT" or "[ADDR]:PORT" of SA into BUF. */
static void
format_addr (const struct sockaddr *sa, char *buf, size_t len)
{
  char host[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;

  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *) sa;

    inet_ntop (AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs (in->sin_port);
    snprintf (buf, len, "%s:%u", host, port);
  }
  else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;

    inet_ntop (AF_INET6, &in6->sin6_addr, host, sizeof host);
    port = ntohs (in6->sin6_port);
    snprintf (buf, len, "[%s]:%u", host, port);
  }
  else
    snprintf (buf, len, "(address family %d)", sa->sa_family);
}

/* Bind one address; returns the listening socket or -1 with errno. */
static int
bind_one (const struct addrinfo *ai)
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
      listen (fd, LISTEN_BACKLOG) == -1) {
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
  struct listener *l = realloc (lis->l, (lis->n + 1) * sizeof *l);

  if (l == NULL)
    return -1;
  lis->l = l;
  l = &lis->l[lis->n++];
  l->fd = fd;
  l->ev = NULL;
  format_addr (sa, l->name, sizeof l->name);
  return 0;
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
    int fd = bind_one (ai);

    format_addr (ai->ai_addr, name, sizeof name);
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
  for (i = 0; i < conf->nlisten; i++)
    if (bind_directive (lis, conf, &conf->listen[i]) == -1)
      r = -1;
  if (r == -1) {
    listeners_free (lis);
    return -1;
  }
  co->listeners = lis;
  return 0;
}

static void
accept_cb (struct evconnlistener *ev, evutil_socket_t fd,
           struct sockaddr *sa, int socklen, void *arg)
{
  struct coord *co = arg;
  char name[INET6_ADDRSTRLEN + 16];

  format_addr (sa, name, sizeof name);
  conn_accept (co, fd, name);
}

static void
accept_error_cb (struct evconnlistener *ev, void *arg)
{
  /* EMFILE and the like: the listener stays, the next accept may work. */
  log_warn ("accept");
}

int
listeners_start (struct coord *co)
{
  struct listeners *lis = co->listeners;
  size_t i;

  for (i = 0; i < lis->n; i++) {
    struct listener *l = &lis->l[i];

    /* Backlog 0: the socket is already listening. */
    l->ev = evconnlistener_new (co->base, accept_cb, co,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                                0, l->fd);
    if (l->ev == NULL) {
      log_warnx ("listen %s: cannot add it to the event loop", l->name);
      return -1;
    }
    evconnlistener_set_error_cb (l->ev, accept_error_cb);
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
  for (i = 0; i < lis->n; i++) {
    if (lis->l[i].ev != NULL)
      evconnlistener_free (lis->l[i].ev);
    else
      close (lis->l[i].fd);
  }
  free (lis->l);
  free (lis);
}

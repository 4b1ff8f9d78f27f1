/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * exposure.c: the warning given at start when nbdkit serves NBD beyond
 * loopback without requiring TLS (see exposure.h).
 *
 * NBD without TLS carries the volumes' data in clear text and lets
 * anyone who can connect read and write every volume, so a server
 * reachable from other hosts should run with --tls=require.  The
 * warning is one line in nbdkit's log, once, and does not stop nbdkit:
 * a network that is private by other means is the operator's call.
 */

#include <config.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nbdkit-plugin.h>

#include "exposure.h"

/* Whether the command line requires TLS: --tls=require or --tls
 * require.  -1 if /proc/self/cmdline cannot be read. */
static int
tls_required (void)
{
  char buf[65536];
  ssize_t len;
  size_t off = 0;
  const char *prev = "";
  int fd, r = 0;

  fd = open ("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd == -1)
    return -1;
  len = read (fd, buf, sizeof buf - 1);
  close (fd);
  if (len <= 0)
    return -1;
  buf[len] = '\0';
  /* The arguments are NUL-terminated strings, one after the other. */
  while (off < (size_t) len) {
    const char *arg = &buf[off];

    if (strcmp (arg, "--tls=require") == 0 ||
        (strcmp (prev, "--tls") == 0 && strcmp (arg, "require") == 0))
      r = 1;
    else if (strncmp (arg, "--tls=", 6) == 0 ||
             strcmp (prev, "--tls") == 0)
      r = 0;                    /* the last --tls counts */
    prev = arg;
    off += strlen (arg) + 1;
  }
  return r;
}

/* Whether SA is a loopback address (127.0.0.0/8, ::1, or ::ffff:127.x). */
static bool
is_loopback (const struct sockaddr_storage *sa)
{
  if (sa->ss_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *) sa;

    return (ntohl (in->sin_addr.s_addr) >> 24) == 127;
  }
  if (sa->ss_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;

    return IN6_IS_ADDR_LOOPBACK (&in6->sin6_addr) ||
      (IN6_IS_ADDR_V4MAPPED (&in6->sin6_addr) &&
       in6->sin6_addr.s6_addr[12] == 127);
  }
  return true;                  /* not TCP/IP: not reachable from afar */
}

/* "ADDRESS port PORT" of SA into BUF. */
static void
format_address (const struct sockaddr_storage *sa, char *buf, size_t len)
{
  char host[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;

  if (sa->ss_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *) sa;

    inet_ntop (AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs (in->sin_port);
  }
  else {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;

    inet_ntop (AF_INET6, &in6->sin6_addr, host, sizeof host);
    port = ntohs (in6->sin6_port);
  }
  snprintf (buf, len, "%s port %u", host, port);
}

/* The first listening TCP socket of this process bound beyond
 * loopback, as text in BUF.  0 if there is none, 1 if there is, -1 if
 * the descriptors cannot be listed. */
static int
find_exposed_listener (char *buf, size_t len)
{
  DIR *dir;
  struct dirent *d;
  int r = 0;

  dir = opendir ("/proc/self/fd");
  if (dir == NULL)
    return -1;
  while (r == 0 && (d = readdir (dir)) != NULL) {
    struct sockaddr_storage sa;
    socklen_t salen = sizeof sa;
    int fd, listening = 0;
    socklen_t optlen = sizeof listening;
    char *end;

    fd = (int) strtol (d->d_name, &end, 10);
    if (*end != '\0' || end == d->d_name || fd == dirfd (dir))
      continue;
    if (getsockopt (fd, SOL_SOCKET, SO_ACCEPTCONN, &listening,
                    &optlen) == -1 || !listening)
      continue;
    memset (&sa, 0, sizeof sa);
    if (getsockname (fd, (struct sockaddr *) &sa, &salen) == -1 ||
        is_loopback (&sa))
      continue;
    format_address (&sa, buf, len);
    r = 1;
  }
  closedir (dir);
  return r;
}

void
exposure_check (void)
{
  char where[INET6_ADDRSTRLEN + 32];
  int exposed, tls;

  exposed = find_exposed_listener (where, sizeof where);
  if (exposed == -1) {
    nbdkit_debug ("cannot list the listening sockets: /proc/self/fd: %m");
    return;
  }
  if (exposed == 0)
    return;
  tls = tls_required ();
  if (tls == 1)
    return;
  if (tls == -1)
    nbdkit_debug ("cannot read the command line: /proc/self/cmdline: %m");
  nbdkit_error ("warning: NBD is served on %s, beyond loopback, without "
                "--tls=require: anyone who can reach it may read and write "
                "every volume, in clear text; start nbdkit with "
                "--tls=require and X.509 certificates, or listen on "
                "127.0.0.1 or a Unix socket (nbdkit-snapvol-plugin(1), "
                "SECURITY)", where);
}

/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * conf.c: the parser of the coordinator's configuration file.
 *
 * The file is line based, in the manner of OpenBSD daemons: one
 * directive per line, words separated by blanks, "#" starts a comment,
 * double quotes keep blanks and "#" inside a word (\" and \\ escape).
 * The grammar is in docs/coordinator.md.  The parser reads the whole
 * file and reports every error it finds, each as "FILE:LINE: message",
 * before giving up, so that one run shows everything to fix.
 */

#include <config.h>

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "cleanup.h"
#include "conf.h"

#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif

#define MAX_WORDS 8
#define MAX_LINE 4096

/* The parser's state: the configuration being built and the errors. */
struct parse {
  struct config *conf;
  const char *path;
  int line;
  unsigned errors;
  /* The line of each single-valued directive, 0 if not seen yet. */
  int certificate_line, key_line, ca_line, catalog_line, pid_file_line;
  int hold_timeout_line, freeze_window_line, heartbeat_line;
  int deletion_retry_line;
  int handshake_timeout_line, handshakes_per_address_line;
  int reserved_connections_line;
  int keep_sets_line;
  int user_line;
  int etcd_endpoints_line, etcd_ca_line, etcd_certificate_line;
  int etcd_key_line, etcd_prefix_line, etcd_lease_line, advertise_line;
};

static void perror_at (struct parse *p, int line, const char *fmt, ...)
  __attribute__((format (printf, 3, 4)));

/* Report one error at LINE (0: the file as a whole). */
static void
perror_at (struct parse *p, int line, const char *fmt, ...)
{
  int err = errno;
  va_list ap;

  flockfile (stderr);
  if (line > 0)
    fprintf (stderr, "%s:%d: ", p->path, line);
  else
    fprintf (stderr, "%s: ", p->path);
  errno = err;                  /* for %m */
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
  funlockfile (stderr);
  p->errors++;
}

/* Split LINE into at most MAX_WORDS words, in place.  Returns the
 * number of words, or -1 after reporting an error. */
static int
split_words (struct parse *p, char *line, char **words)
{
  char *in = line, *out;
  int n = 0;

  for (;;) {
    while (*in == ' ' || *in == '\t' || *in == '\r')
      in++;
    if (*in == '\0' || *in == '#' || *in == '\n')
      return n;
    if (n == MAX_WORDS) {
      perror_at (p, p->line, "too many words (at most %d)", MAX_WORDS);
      return -1;
    }
    words[n++] = out = in;
    while (*in != '\0' && *in != ' ' && *in != '\t' && *in != '\r' &&
           *in != '\n' && *in != '#') {
      if (*in != '"') {
        *out++ = *in++;
        continue;
      }
      in++;
      while (*in != '"') {
        if (*in == '\\' && (in[1] == '"' || in[1] == '\\'))
          in++;
        if (*in == '\0' || *in == '\n') {
          perror_at (p, p->line, "unterminated quoted string");
          return -1;
        }
        *out++ = *in++;
      }
      in++;
    }
    /* The terminator overwrites at most the byte that ended the word,
     * which has been read; a '#' there starts the comment. */
    if (*in == '#' || *in == '\0' || *in == '\n') {
      *out = '\0';
      return n;
    }
    *out = '\0';
    in++;
  }
}

int
conf_parse_duration (const char *s, unsigned *ms)
{
  unsigned long long v = 0, mult;
  const char *q = s;
  bool big = false;

  if (*q < '0' || *q > '9')
    goto bad;
  for (; *q >= '0' && *q <= '9'; q++)
    if (!big && (v = v * 10 + (unsigned) (*q - '0')) > UINT_MAX)
      big = true;
  if (strcmp (q, "ms") == 0)
    mult = 1;
  else if (*q == '\0' || strcmp (q, "s") == 0)
    mult = 1000;
  else if (strcmp (q, "m") == 0)
    mult = 60 * 1000;
  else if (strcmp (q, "h") == 0)
    mult = 3600 * 1000;
  else
    goto bad;
  if (big || v * mult > UINT_MAX) {
    errno = ERANGE;
    return -1;
  }
  *ms = (unsigned) (v * mult);
  return 0;

 bad:
  errno = EINVAL;
  return -1;
}

/* A directive that may appear once: check LINE_SEEN, remember it. */
static bool
first_time (struct parse *p, const char *directive, int *line_seen)
{
  if (*line_seen != 0) {
    perror_at (p, p->line, "'%s' given twice (first on line %d)",
               directive, *line_seen);
    return false;
  }
  *line_seen = p->line;
  return true;
}

/* A file name; READABLE: a file we read at startup (the TLS files),
 * checked now so that the error names the line that gave it. */
static void
set_file (struct parse *p, char **words, int n, char **field, int *line_seen,
          bool readable)
{
  if (n != 2) {
    perror_at (p, p->line, "'%s' takes one argument: a file name", words[0]);
    return;
  }
  if (!first_time (p, words[0], line_seen))
    return;
  if (words[1][0] == '\0') {
    perror_at (p, p->line, "'%s': the file name is empty", words[0]);
    return;
  }
  *field = strdup (words[1]);
  if (*field == NULL)
    perror_at (p, p->line, "%m");
  else if (readable && access (*field, R_OK) == -1)
    perror_at (p, p->line, "%s %s: %m", words[0], *field);
}

static void
set_duration (struct parse *p, char **words, int n, unsigned *field,
              int *line_seen, unsigned min, unsigned max, const char *range)
{
  unsigned ms;
  int r;

  if (n != 2) {
    perror_at (p, p->line, "'%s' takes one argument: a duration such as "
               "10s or 500ms", words[0]);
    return;
  }
  if (!first_time (p, words[0], line_seen))
    return;
  r = conf_parse_duration (words[1], &ms);
  if (r == -1 && errno == EINVAL) {
    perror_at (p, p->line, "'%s': invalid duration '%s' (a number "
               "followed by ms, s, m or h)", words[0], words[1]);
    return;
  }
  if (r == -1 || ms < min || ms > max) {
    perror_at (p, p->line, "'%s': %s is out of range (%s)", words[0],
               words[1], range);
    return;
  }
  *field = ms;
}

/* A count from MIN to MAX. */
static void
set_count (struct parse *p, char **words, int n, unsigned *field,
           int *line_seen, unsigned min, unsigned max)
{
  unsigned long v;
  char *end;

  if (n != 2) {
    perror_at (p, p->line, "'%s' takes one argument: a number", words[0]);
    return;
  }
  if (!first_time (p, words[0], line_seen))
    return;
  errno = 0;
  v = strtoul (words[1], &end, 10);
  if (words[1][0] < '0' || words[1][0] > '9' || *end != '\0' ||
      errno != 0 || v < min || v > max) {
    perror_at (p, p->line, "'%s': invalid number '%s' (%u to %u)", words[0],
               words[1], min, max);
    return;
  }
  *field = (unsigned) v;
}

/* WORDS[2] and WORDS[3] of DIRECTIVE ADDRESS port PORT: whether they
 * are "port" and a port number (reported if not). */
static bool
check_port (struct parse *p, char **words)
{
  char *end;
  long v;

  if (strcmp (words[2], "port") != 0) {
    perror_at (p, p->line, "'%s': expected 'port', not '%s'", words[0],
               words[2]);
    return false;
  }
  errno = 0;
  v = strtol (words[3], &end, 10);
  if (errno != 0 || *end != '\0' || end == words[3] || v < 1 || v > 65535) {
    perror_at (p, p->line, "'%s': invalid port '%s' (1 to 65535)", words[0],
               words[3]);
    return false;
  }
  return true;
}

/* metrics ADDRESS [port PORT]: the Prometheus endpoint (exporter.c),
 * plain HTTP on a numeric address. */
static void
parse_metrics (struct parse *p, char **words, int n)
{
  struct config *conf = p->conf;
  unsigned char addr[sizeof (struct in6_addr)];

  if (n != 2 && n != 4) {
    perror_at (p, p->line, "usage: metrics ADDRESS [port PORT]");
    return;
  }
  if (!first_time (p, words[0], &conf->metrics_line))
    return;
  if (inet_pton (AF_INET, words[1], addr) != 1 &&
      inet_pton (AF_INET6, words[1], addr) != 1) {
    perror_at (p, p->line, "'metrics': invalid address '%s' (a numeric "
               "IPv4 or IPv6 address, such as 127.0.0.1 or ::1)", words[1]);
    return;
  }
  if (n == 4 && !check_port (p, words))
    return;
  conf->metrics_host = strdup (words[1]);
  conf->metrics_port = strdup (n == 4 ? words[3] : CONFIG_METRICS_PORT);
  if (conf->metrics_host == NULL || conf->metrics_port == NULL)
    perror_at (p, p->line, "%m");
}

static void
parse_listen (struct parse *p, char **words, int n)
{
  struct config *conf = p->conf;
  struct config_listen *l;
  const char *port = CONFIG_DEFAULT_PORT;
  size_t i;

  if (n != 2 && n != 4) {
    perror_at (p, p->line, "usage: listen ADDRESS [port PORT]");
    return;
  }
  if (n == 4) {
    if (!check_port (p, words))
      return;
    port = words[3];
  }
  if (words[1][0] == '\0') {
    perror_at (p, p->line, "'listen': the address is empty");
    return;
  }
  for (i = 0; i < conf->listen.len; i++) {
    const char *h = conf->listen.ptr[i].host ? conf->listen.ptr[i].host : "*";

    if (strcmp (h, words[1]) == 0 &&
        strcmp (conf->listen.ptr[i].port, port) == 0) {
      perror_at (p, p->line, "'listen %s port %s' given twice (first on "
                 "line %d)", words[1], port, conf->listen.ptr[i].line);
      return;
    }
  }
  if (config_listen_vector_reserve (&conf->listen, 1) == -1) {
    perror_at (p, p->line, "%m");
    return;
  }
  l = &conf->listen.ptr[conf->listen.len++];
  l->host = strcmp (words[1], "*") == 0 ? NULL : strdup (words[1]);
  l->port = strdup (port);
  l->line = p->line;
  if ((strcmp (words[1], "*") != 0 && l->host == NULL) || l->port == NULL)
    perror_at (p, p->line, "%m");
}

/* user NAME: looked up now, so that an unknown user stops the start
 * (and --check-config) with the line that named it. */
static void
parse_user (struct parse *p, char **words, int n)
{
  struct config *conf = p->conf;
  struct passwd *pw;

  if (n != 2) {
    perror_at (p, p->line, "'user' takes one argument: a user name");
    return;
  }
  if (!first_time (p, words[0], &p->user_line))
    return;
  errno = 0;
  pw = getpwnam (words[1]);
  if (pw == NULL) {
    if (errno == 0 || errno == ENOENT || errno == ESRCH)
      perror_at (p, p->line, "'user': no such user '%s'", words[1]);
    else
      perror_at (p, p->line, "'user': getpwnam %s: %m", words[1]);
    return;
  }
  conf->user_uid = pw->pw_uid;
  conf->user_gid = pw->pw_gid;
  if ((conf->user = strdup (words[1])) == NULL)
    perror_at (p, p->line, "%m");
}

/* A port number of 1 to 65535 in decimal, all of S. */
static bool
valid_port (const char *s)
{
  char *end;
  long v;

  if (*s < '0' || *s > '9')
    return false;
  errno = 0;
  v = strtol (s, &end, 10);
  return errno == 0 && *end == '\0' && v >= 1 && v <= 65535;
}

/* HOST:PORT or [V6]:PORT, a host without blanks, '/' or controls. */
static bool
valid_host_port (const char *s)
{
  const char *colon, *p;

  if (s[0] == '[') {
    colon = strchr (s, ']');
    if (colon == NULL || colon == s + 1 || colon[1] != ':')
      return false;
    colon++;
  }
  else {
    colon = strrchr (s, ':');
    if (colon == NULL || colon == s || memchr (s, ':', colon - s))
      return false;
  }
  for (p = s; p < colon; p++)
    if (*p <= ' ' || *p >= 0x7f || *p == '/' || *p == '@')
      return false;
  return valid_port (colon + 1);
}

/* etcd-endpoints URL[,URL...]: https:// only, each HOST:PORT. */
static void
parse_etcd_endpoints (struct parse *p, char **words, int n)
{
  struct config *conf = p->conf;
  CLEANUP_FREE char *list = NULL;
  char *url, *save = NULL;

  if (n != 2) {
    perror_at (p, p->line, "usage: etcd-endpoints https://HOST:PORT"
               "[,https://HOST:PORT...]");
    return;
  }
  if (!first_time (p, words[0], &p->etcd_endpoints_line))
    return;
  if ((list = strdup (words[1])) == NULL) {
    perror_at (p, p->line, "%m");
    return;
  }
  if (list[0] == '\0' || list[0] == ',' || list[strlen (list) - 1] == ',' ||
      strstr (list, ",,") != NULL) {
    perror_at (p, p->line, "'etcd-endpoints': empty URL in '%s'", words[1]);
    return;
  }
  for (url = strtok_r (list, ",", &save); url;
       url = strtok_r (NULL, ",", &save)) {
    char *copy;

    if (strncmp (url, "http://", 7) == 0) {
      perror_at (p, p->line, "'etcd-endpoints': '%s' is plain http: etcd "
                 "is reached over TLS only (https://HOST:PORT)", url);
      continue;
    }
    if (strncmp (url, "https://", 8) != 0 || !valid_host_port (url + 8)) {
      perror_at (p, p->line, "'etcd-endpoints': invalid URL '%s' "
                 "(https://HOST:PORT)", url);
      continue;
    }
    if (conf->etcd_endpoints.len == CONFIG_ETCD_ENDPOINTS_MAX) {
      perror_at (p, p->line, "'etcd-endpoints': more than %d URLs",
                 CONFIG_ETCD_ENDPOINTS_MAX);
      return;
    }
    if ((copy = strdup (url)) == NULL ||
        config_string_vector_append (&conf->etcd_endpoints, copy) == -1) {
      free (copy);
      perror_at (p, p->line, "%m");
      return;
    }
  }
}

/* etcd-prefix PREFIX: "/" and then printable bytes without blanks, no
 * trailing '/' (every key is PREFIX/NAME). */
static void
parse_etcd_prefix (struct parse *p, char **words, int n)
{
  const unsigned char *c;
  size_t len;

  if (n != 2) {
    perror_at (p, p->line, "'etcd-prefix' takes one argument: a key "
               "prefix such as /snapvol");
    return;
  }
  if (!first_time (p, words[0], &p->etcd_prefix_line))
    return;
  len = strlen (words[1]);
  for (c = (const unsigned char *) words[1]; *c; c++)
    if (*c <= ' ' || *c >= 0x7f)
      break;
  if (words[1][0] != '/' || len < 2 || words[1][len - 1] == '/' ||
      *c != '\0' || len > CONFIG_ETCD_PREFIX_MAX) {
    perror_at (p, p->line, "'etcd-prefix': invalid prefix '%s' (a '/' "
               "and up to %d printable bytes without blanks, not ending "
               "in '/')", words[1], CONFIG_ETCD_PREFIX_MAX - 1);
    return;
  }
  if ((p->conf->etcd_prefix = strdup (words[1])) == NULL)
    perror_at (p, p->line, "%m");
}

/* etcd-lease DURATION: whole seconds, etcd's TTL unit. */
static void
parse_etcd_lease (struct parse *p, char **words, int n)
{
  unsigned ms = 0;

  set_duration (p, words, n, &ms, &p->etcd_lease_line,
                CONFIG_ETCD_LEASE_MIN_S * 1000,
                CONFIG_ETCD_LEASE_MAX_S * 1000, "2s to 600s");
  if (ms == 0)
    return;
  if (ms % 1000 != 0) {
    perror_at (p, p->line, "'etcd-lease': %s is not a whole number of "
               "seconds (etcd's leases count seconds)", words[1]);
    return;
  }
  p->conf->etcd_lease_s = ms / 1000;
}

/* advertise HOST:PORT */
static void
parse_advertise (struct parse *p, char **words, int n)
{
  if (n != 2) {
    perror_at (p, p->line, "usage: advertise HOST:PORT");
    return;
  }
  if (!first_time (p, words[0], &p->advertise_line))
    return;
  if (!valid_host_port (words[1])) {
    perror_at (p, p->line, "'advertise': invalid address '%s' (HOST:PORT, "
               "or [IPV6]:PORT)", words[1]);
    return;
  }
  if ((p->conf->advertise = strdup (words[1])) == NULL)
    perror_at (p, p->line, "%m");
}

static const struct {
  const char *name;
  unsigned role;
} role_names[] = {
  { "provider", ROLE_PROVIDER },
  { "writer", ROLE_WRITER },
  { "requester", ROLE_REQUESTER },
  { "admin", ROLE_ADMIN },
};

static void
parse_allow (struct parse *p, char **words, int n)
{
  struct config *conf = p->conf;
  struct config_allow *a;
  enum config_match match;
  unsigned role = 0;
  size_t i;

  if (n != 4) {
    perror_at (p, p->line, "usage: allow ROLE cn|subject PATTERN");
    return;
  }
  for (i = 0; i < sizeof role_names / sizeof role_names[0]; i++)
    if (strcmp (words[1], role_names[i].name) == 0)
      role = role_names[i].role;
  if (role == 0)
    perror_at (p, p->line, "'allow': unknown role '%s' (provider, writer, "
               "requester or admin)", words[1]);
  if (strcmp (words[2], "cn") == 0)
    match = MATCH_CN;
  else if (strcmp (words[2], "subject") == 0)
    match = MATCH_SUBJECT;
  else {
    perror_at (p, p->line, "'allow': expected 'cn' or 'subject', not '%s'",
               words[2]);
    return;
  }
  if (words[3][0] == '\0') {
    perror_at (p, p->line, "'allow': the pattern is empty");
    return;
  }
  if (role == 0)
    return;
  if (config_allow_vector_reserve (&conf->allow, 1) == -1) {
    perror_at (p, p->line, "%m");
    return;
  }
  a = &conf->allow.ptr[conf->allow.len++];
  a->role = role;
  a->match = match;
  a->pattern = strdup (words[3]);
  a->line = p->line;
  if (a->pattern == NULL)
    perror_at (p, p->line, "%m");
}

static void
parse_line (struct parse *p, char *line)
{
  struct config *conf = p->conf;
  char *words[MAX_WORDS];
  int n = split_words (p, line, words);

  if (n <= 0)
    return;
  if (strcmp (words[0], "listen") == 0)
    parse_listen (p, words, n);
  else if (strcmp (words[0], "certificate") == 0)
    set_file (p, words, n, &conf->certificate, &p->certificate_line, true);
  else if (strcmp (words[0], "key") == 0)
    set_file (p, words, n, &conf->key, &p->key_line, true);
  else if (strcmp (words[0], "ca") == 0)
    set_file (p, words, n, &conf->ca, &p->ca_line, true);
  else if (strcmp (words[0], "catalog") == 0)
    set_file (p, words, n, &conf->catalog, &p->catalog_line, false);
  else if (strcmp (words[0], "pid-file") == 0)
    set_file (p, words, n, &conf->pid_file, &p->pid_file_line, false);
  else if (strcmp (words[0], "user") == 0)
    parse_user (p, words, n);
  else if (strcmp (words[0], "hold-timeout") == 0)
    set_duration (p, words, n, &conf->hold_timeout_ms, &p->hold_timeout_line,
                  1, 60000, "1ms to 60s");
  else if (strcmp (words[0], "freeze-window") == 0)
    set_duration (p, words, n, &conf->freeze_window_ms,
                  &p->freeze_window_line, 1000, 600000, "1s to 600s");
  else if (strcmp (words[0], "heartbeat") == 0)
    set_duration (p, words, n, &conf->heartbeat_ms, &p->heartbeat_line,
                  100, 600000, "100ms to 600s");
  else if (strcmp (words[0], "deletion-retry") == 0)
    set_duration (p, words, n, &conf->deletion_retry_ms,
                  &p->deletion_retry_line, 100, 3600000, "100ms to 1h");
  else if (strcmp (words[0], "handshake-timeout") == 0)
    set_duration (p, words, n, &conf->handshake_timeout_ms,
                  &p->handshake_timeout_line, 100, 10000, "100ms to 10s");
  else if (strcmp (words[0], "handshakes-per-address") == 0)
    set_count (p, words, n, &conf->handshakes_per_address,
               &p->handshakes_per_address_line, 1, CONFIG_MAX_CONNECTIONS);
  else if (strcmp (words[0], "reserved-connections") == 0)
    set_count (p, words, n, &conf->reserved_connections,
               &p->reserved_connections_line, 0,
               CONFIG_MAX_CONNECTIONS / 2);
  else if (strcmp (words[0], "keep-sets") == 0)
    set_count (p, words, n, &conf->keep_sets, &p->keep_sets_line, 1,
               CONFIG_KEEP_SETS_MAX);
  else if (strcmp (words[0], "allow") == 0)
    parse_allow (p, words, n);
  else if (strcmp (words[0], "metrics") == 0)
    parse_metrics (p, words, n);
  else if (strcmp (words[0], "etcd-endpoints") == 0)
    parse_etcd_endpoints (p, words, n);
  else if (strcmp (words[0], "etcd-ca") == 0)
    set_file (p, words, n, &conf->etcd_ca, &p->etcd_ca_line, true);
  else if (strcmp (words[0], "etcd-certificate") == 0)
    set_file (p, words, n, &conf->etcd_certificate,
              &p->etcd_certificate_line, true);
  else if (strcmp (words[0], "etcd-key") == 0)
    set_file (p, words, n, &conf->etcd_key, &p->etcd_key_line, true);
  else if (strcmp (words[0], "etcd-prefix") == 0)
    parse_etcd_prefix (p, words, n);
  else if (strcmp (words[0], "etcd-lease") == 0)
    parse_etcd_lease (p, words, n);
  else if (strcmp (words[0], "advertise") == 0)
    parse_advertise (p, words, n);
  else
    perror_at (p, p->line, "unknown directive '%s'", words[0]);
}

/* The directives that only 'catalog etcd' uses, and their lines. */
static const struct {
  const char *name;
  size_t offset;                /* of the line in struct parse */
  bool required;                /* by 'catalog etcd' */
} etcd_directives[] = {
  { "etcd-endpoints", offsetof (struct parse, etcd_endpoints_line), true },
  { "etcd-ca", offsetof (struct parse, etcd_ca_line), true },
  { "etcd-certificate", offsetof (struct parse, etcd_certificate_line),
    true },
  { "etcd-key", offsetof (struct parse, etcd_key_line), true },
  { "etcd-prefix", offsetof (struct parse, etcd_prefix_line), false },
  { "etcd-lease", offsetof (struct parse, etcd_lease_line), false },
  { "advertise", offsetof (struct parse, advertise_line), false },
};

static int
directive_line (const struct parse *p, size_t i)
{
  return *(const int *) ((const char *) p + etcd_directives[i].offset);
}

/* The default advertise address: the first listen address and port. */
static void
default_advertise (struct parse *p)
{
  const struct config_listen *l = &p->conf->listen.ptr[0];
  bool v6;

  if (l->host == NULL) {
    perror_at (p, 0, "no 'advertise' directive: with 'catalog etcd' and "
               "'listen *' the coordinator cannot tell which address "
               "clients should use for it (advertise HOST:PORT)");
    return;
  }
  v6 = strchr (l->host, ':') != NULL;
  if (asprintf (&p->conf->advertise, "%s%s%s:%s", v6 ? "[" : "", l->host,
                v6 ? "]" : "", l->port) == -1) {
    p->conf->advertise = NULL;
    perror_at (p, 0, "%m");
  }
}

/* A coordinator that loses leadership restarts itself (execv) as the
 * user it has become: it could not bind a privileged port again. */
static void
check_user_ports (struct parse *p)
{
  const struct config *conf = p->conf;
  size_t i;

  if (conf->user == NULL || conf->user_uid == 0)
    return;
  for (i = 0; i < conf->listen.len; i++)
    if (atoi (conf->listen.ptr[i].port) < 1024)
      perror_at (p, p->user_line, "'user %s' with 'catalog etcd' and port "
                 "%s (line %d): a coordinator that loses leadership "
                 "restarts itself as user %s, which cannot bind a port "
                 "below 1024", conf->user, conf->listen.ptr[i].port,
                 conf->listen.ptr[i].line, conf->user);
}

/* 'catalog etcd' needs the etcd directives, and they need it. */
static void
finish_etcd (struct parse *p)
{
  struct config *conf = p->conf;
  size_t i;

  if (!conf->catalog_etcd) {
    for (i = 0; i < sizeof etcd_directives / sizeof etcd_directives[0]; i++)
      if (directive_line (p, i) != 0)
        perror_at (p, directive_line (p, i), "'%s' needs 'catalog etcd'",
                   etcd_directives[i].name);
    return;
  }
  for (i = 0; i < sizeof etcd_directives / sizeof etcd_directives[0]; i++)
    if (etcd_directives[i].required && directive_line (p, i) == 0)
      perror_at (p, 0, "no '%s' directive: 'catalog etcd' (line %d) needs "
                 "it", etcd_directives[i].name, p->catalog_line);
  if (conf->etcd_prefix == NULL &&
      (conf->etcd_prefix = strdup (CONFIG_ETCD_PREFIX)) == NULL)
    perror_at (p, 0, "%m");
  if (conf->etcd_lease_s == 0)
    conf->etcd_lease_s = CONFIG_ETCD_LEASE_S;
  if (conf->advertise == NULL)
    default_advertise (p);
  check_user_ports (p);
}

/* What needs the whole file: required directives and defaults. */
static void
finish (struct parse *p)
{
  struct config *conf = p->conf;

  if (p->certificate_line == 0)
    perror_at (p, 0, "no 'certificate' directive: the coordinator needs "
               "its TLS certificate");
  if (p->key_line == 0)
    perror_at (p, 0, "no 'key' directive: the coordinator needs the "
               "private key of its certificate");
  if (p->ca_line == 0)
    perror_at (p, 0, "no 'ca' directive: the coordinator needs the CA "
               "bundle that peers' certificates chain to");

  if (conf->listen.len == 0) {
    struct config_listen any = { .host = NULL, .line = 0 };

    if ((any.port = strdup (CONFIG_DEFAULT_PORT)) == NULL ||
        config_listen_vector_append (&conf->listen, any) == -1) {
      free (any.port);
      perror_at (p, 0, "%m");
      return;
    }
  }
  if (conf->catalog != NULL && strcmp (conf->catalog, "etcd") == 0) {
    conf->catalog_etcd = true;
    free (conf->catalog);
    conf->catalog = NULL;
  }
  finish_etcd (p);
  if (!conf->catalog_etcd && conf->catalog == NULL &&
      (conf->catalog = strdup (LOCALSTATEDIR "/lib/snapvol/catalog.db"))
      == NULL)
    perror_at (p, 0, "%m");
}

struct config *
conf_load (const char *path)
{
  struct parse p = { .path = path };
  CLEANUP_FREE char *buf = NULL;
  size_t cap = 0;
  ssize_t len;
  FILE *fp;

  p.conf = calloc (1, sizeof *p.conf);
  if (p.conf == NULL || (p.conf->path = strdup (path)) == NULL) {
    fprintf (stderr, "%s: %m\n", path);
    conf_free (p.conf);
    return NULL;
  }
  p.conf->hold_timeout_ms = 10000;
  p.conf->freeze_window_ms = 60000;
  p.conf->heartbeat_ms = 5000;
  p.conf->deletion_retry_ms = CONFIG_DELETION_RETRY_MS;
  p.conf->handshake_timeout_ms = CONFIG_HANDSHAKE_TIMEOUT_MS;
  p.conf->handshakes_per_address = CONFIG_HANDSHAKES_PER_ADDRESS;
  p.conf->reserved_connections = CONFIG_RESERVED_CONNECTIONS;

  fp = fopen (path, "r");
  if (fp == NULL) {
    fprintf (stderr, "%s: %m\n", path);
    conf_free (p.conf);
    return NULL;
  }
  while (errno = 0, (len = getline (&buf, &cap, fp)) != -1) {
    p.line++;
    if ((size_t) len != strlen (buf)) {
      perror_at (&p, p.line, "the line holds a NUL byte");
      continue;
    }
    if (len > MAX_LINE) {
      perror_at (&p, p.line, "the line is longer than %d bytes", MAX_LINE);
      continue;
    }
    parse_line (&p, buf);
  }
  if (errno != 0)
    perror_at (&p, p.line + 1, "read: %m");
  fclose (fp);

  finish (&p);
  if (p.errors > 0) {
    conf_free (p.conf);
    return NULL;
  }
  return p.conf;
}

void
conf_free (struct config *conf)
{
  size_t i;

  if (conf == NULL)
    return;
  for (i = 0; i < conf->listen.len; i++) {
    free (conf->listen.ptr[i].host);
    free (conf->listen.ptr[i].port);
  }
  config_listen_vector_reset (&conf->listen);
  for (i = 0; i < conf->allow.len; i++)
    free (conf->allow.ptr[i].pattern);
  config_allow_vector_reset (&conf->allow);
  free (conf->path);
  free (conf->certificate);
  free (conf->key);
  free (conf->ca);
  free (conf->catalog);
  free (conf->pid_file);
  free (conf->user);
  free (conf->metrics_host);
  free (conf->metrics_port);
  for (i = 0; i < conf->etcd_endpoints.len; i++)
    free (conf->etcd_endpoints.ptr[i]);
  config_string_vector_reset (&conf->etcd_endpoints);
  free (conf->etcd_ca);
  free (conf->etcd_certificate);
  free (conf->etcd_key);
  free (conf->etcd_prefix);
  free (conf->advertise);
  free (conf);
}

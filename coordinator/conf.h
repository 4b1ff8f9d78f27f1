/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * conf.h: the coordinator's configuration file (docs/coordinator.md).
 */

#ifndef SNAPVOL_CONF_H
#define SNAPVOL_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "vector.h"

/* Roles a certificate may hold (a bit mask). */
#define ROLE_PROVIDER   0x1u
#define ROLE_WRITER     0x2u
#define ROLE_REQUESTER  0x4u
#define ROLE_ADMIN      0x8u
#define ROLE_ANY        (ROLE_PROVIDER | ROLE_WRITER | ROLE_REQUESTER | \
                         ROLE_ADMIN)

#define CONFIG_DEFAULT_PORT "10810"
/* deletion-retry's default: the first retry of a failed deletion. */
#define CONFIG_DELETION_RETRY_MS 30000
/* Defaults of the limits on connections still in their TLS handshake
 * (docs/coordinator.md, Connections). */
#define CONFIG_MAX_CONNECTIONS 1024
#define CONFIG_HANDSHAKE_TIMEOUT_MS 5000
#define CONFIG_HANDSHAKES_PER_ADDRESS 128
#define CONFIG_RESERVED_CONNECTIONS 128
/* metrics: the port when the directive names none. */
#define CONFIG_METRICS_PORT "9470"
/* keep-sets: at most this many committed sets kept. */
#define CONFIG_KEEP_SETS_MAX 1000000
/* catalog etcd (docs/coordinator.md, "Several coordinators on etcd"):
 * the default key prefix, the leader's lease TTL and its bounds (etcd
 * raises a TTL below its own minimum, 2 s with its default election
 * timeout), and the most endpoints etcd-endpoints may list. */
#define CONFIG_ETCD_PREFIX "/snapvol"
#define CONFIG_ETCD_PREFIX_MAX 256
#define CONFIG_ETCD_LEASE_S 3
#define CONFIG_ETCD_LEASE_MIN_S 2
#define CONFIG_ETCD_LEASE_MAX_S 600
#define CONFIG_ETCD_ENDPOINTS_MAX 16

struct config_listen {
  char *host;                   /* NULL for every address ("*") */
  char *port;
  int line;
};

enum config_match {
  MATCH_CN,                     /* fnmatch on the certificate's CN */
  MATCH_SUBJECT,                /* fnmatch on the RFC 2253 subject */
};

struct config_allow {
  unsigned role;                /* one ROLE_* bit */
  enum config_match match;
  char *pattern;
  int line;
};

DEFINE_VECTOR_TYPE (config_listen_vector, struct config_listen);
DEFINE_VECTOR_TYPE (config_allow_vector, struct config_allow);
DEFINE_VECTOR_TYPE (config_string_vector, char *);

struct config {
  char *path;                   /* the file read */
  config_listen_vector listen;
  char *certificate, *key, *ca;
  char *catalog;                /* NULL with 'catalog etcd' */
  bool catalog_etcd;            /* 'catalog etcd': leadership on etcd */
  config_string_vector etcd_endpoints;  /* https://HOST:PORT each */
  char *etcd_ca, *etcd_certificate, *etcd_key;
  char *etcd_prefix;            /* no trailing '/' */
  unsigned etcd_lease_s;        /* the leader's lease TTL */
  char *advertise;              /* HOST:PORT clients are told to use */
  char *pid_file;               /* NULL: none */
  char *user;                   /* NULL: keep the user we started as; */
  uid_t user_uid;               /* else its ids, looked up by conf_load */
  gid_t user_gid;
  unsigned hold_timeout_ms;     /* set.create's defaults and maxima */
  unsigned freeze_window_ms;
  unsigned heartbeat_ms;
  unsigned deletion_retry_ms;   /* first retry of a failed deletion */
  unsigned handshake_timeout_ms;        /* TCP connect to TLS done */
  unsigned handshakes_per_address;      /* in their handshake, per IP */
  unsigned reserved_connections;        /* for handshakes already done */
  unsigned keep_sets;           /* committed sets kept; 0: all */
  char *metrics_host;           /* NULL: no metrics endpoint */
  char *metrics_port;
  int metrics_line;
  config_allow_vector allow;
};

/* Read and check the configuration file PATH.  Every error is printed
 * on stderr as "PATH:LINE: message" (or "PATH: message" for what no
 * line holds, a missing directive), all of them, and then NULL is
 * returned.  The caller owns the result (conf_free). */
extern struct config *conf_load (const char *path)
  __attribute__((nonnull));
extern void conf_free (struct config *conf);

/* Parse a duration, the one rule for every duration the coordinator
 * reads: digits followed by ms, s, m or h (seconds without a unit),
 * into *MS.  -1 with errno EINVAL if S is not one, ERANGE if it
 * exceeds UINT_MAX milliseconds. */
extern int conf_parse_duration (const char *s, unsigned *ms)
  __attribute__((nonnull));

#endif /* SNAPVOL_CONF_H */

/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * etcd.h: a small blocking client of etcd's v3 API, spoken through
 * etcd's JSON gateway over HTTPS with a client certificate: leases,
 * reads and transactions, which is all the coordinator's election and
 * its catalog on etcd need (docs/coordinator.md, "The catalog on
 * etcd").
 *
 * Every call blocks, each attempt on one endpoint bounded by the
 * configured timeout; an endpoint that cannot be reached (connect
 * failure, TLS failure, timeout) is skipped for the next one, and the
 * last endpoint that answered is tried first by the next call.  A call
 * fails with -1, errno set (ETIMEDOUT, ECONNREFUSED, EPROTO for an
 * answer that is not what etcd sends, EIO for an error etcd reports,
 * ENOMEM) and a message in ERR naming the endpoint(s) and, when etcd
 * answered with an error, etcd's own text ("etcdserver: request timed
 * out" when the cluster has lost its quorum).  An error that etcd
 * itself answered is not retried on another endpoint: they share one
 * store.
 *
 * One struct etcd is used by one thread at a time.
 */

#ifndef SNAPVOL_ETCD_H
#define SNAPVOL_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct etcd;

/* Default time for one attempt on one endpoint, connect included. */
#define ETCD_DEFAULT_TIMEOUT_MS 1000

struct etcd_conf {
  const char *const *endpoints; size_t nendpoints;   /* https://HOST:PORT */
  const char *ca, *certificate, *key;   /* PEM files; NULL: none */
  int timeout_ms;                       /* <= 0: ETCD_DEFAULT_TIMEOUT_MS */
};

/* Check CONF (at least one endpoint, each https://HOST:PORT) and copy
 * it.  Does not connect.  NULL with a message in ERR. */
extern struct etcd *etcd_open (const struct etcd_conf *conf, char *err,
                               size_t errlen)
  __attribute__((nonnull));
extern void etcd_close (struct etcd *e);

/* The endpoint the next call tries first (the last one that
 * answered).  Owned by E. */
extern const char *etcd_endpoint (const struct etcd *e)
  __attribute__((nonnull));

/* Leases.  TTL in seconds; *ttl_left is 0 when the lease no longer
 * exists (expired or revoked). */
extern int etcd_lease_grant (struct etcd *e, int64_t ttl_s, int64_t *lease,
                             char *err, size_t errlen)
  __attribute__((nonnull));
extern int etcd_lease_keepalive (struct etcd *e, int64_t lease,
                                 int64_t *ttl_left, char *err, size_t errlen)
  __attribute__((nonnull));
/* Revoking a lease that no longer exists is not an error. */
extern int etcd_lease_revoke (struct etcd *e, int64_t lease, char *err,
                              size_t errlen)
  __attribute__((nonnull));

/* A key and its value.  VALUE holds LEN bytes and a terminating NUL
 * not counted in LEN (so a text value reads as a string). */
struct etcd_kv {
  char *key; void *value; size_t len;
  int64_t create_revision, mod_revision, lease;
};
/* Frees the members only; KV may be NULL. */
extern void etcd_kv_free (struct etcd_kv *kv);
/* Free an array of N kvs as etcd_range returns it. */
extern void etcd_kvs_free (struct etcd_kv *kvs, size_t n);

/* The key KEY: *found false when absent (KV then zeroed); *revision
 * (may be NULL) the store's revision.  KV's members are the caller's
 * (etcd_kv_free). */
extern int etcd_get (struct etcd *e, const char *key, struct etcd_kv *kv,
                     bool *found, int64_t *revision, char *err,
                     size_t errlen)
  __attribute__((nonnull (1, 2, 3, 4, 6)));
/* Keys in [FROM, prefix end of PREFIX), ascending, at most LIMIT (0:
 * no limit); FROM NULL means PREFIX.  *kvs is a new array of *n
 * (etcd_kvs_free; NULL when none). */
extern int etcd_range (struct etcd *e, const char *prefix, const char *from,
                       int64_t limit, struct etcd_kv **kvs, size_t *n,
                       int64_t *revision, char *err, size_t errlen)
  __attribute__((nonnull (1, 2, 5, 6, 8)));

/* The last key under PREFIX (keys only: KV's value is empty), *found
 * false when there is none. */
extern int etcd_last_key (struct etcd *e, const char *prefix,
                          struct etcd_kv *kv, bool *found, char *err,
                          size_t errlen)
  __attribute__((nonnull));

enum etcd_target { ETCD_CREATE, ETCD_MOD, ETCD_VALUE };
struct etcd_cmp {
  const char *key; enum etcd_target target;
  int64_t revision;                   /* CREATE / MOD: equal to */
  const void *value; size_t len;      /* VALUE: equal to */
};
/* ETCD_DELETE_RANGE deletes the keys in [KEY, RANGE_END). */
enum etcd_op_kind { ETCD_PUT, ETCD_DELETE, ETCD_DELETE_PREFIX,
                    ETCD_DELETE_RANGE };
struct etcd_op {
  enum etcd_op_kind kind; const char *key;
  const void *value; size_t len; int64_t lease;  /* PUT; lease 0: none */
  const char *range_end;                         /* DELETE_RANGE */
};
/* All compares true: every op applied atomically, *succeeded true,
 * *revision (may be NULL) the revision of the txn.  Else nothing
 * applied, *succeeded false.  -1 only when etcd did not answer the
 * txn (an error etcd answered, such as too many operations or a
 * request too large, included).  etcd limits a txn to 128 ops and a
 * request to 1.5 MiB by default. */
extern int etcd_txn (struct etcd *e, const struct etcd_cmp *cmps,
                     size_t ncmps, const struct etcd_op *ops, size_t nops,
                     bool *succeeded, int64_t *revision, char *err,
                     size_t errlen)
  __attribute__((nonnull (1, 6, 8)));

/* One put or one delete, unguarded (tests and tools). */
extern int etcd_put (struct etcd *e, const char *key, const void *value,
                     size_t len, int64_t lease, char *err, size_t errlen)
  __attribute__((nonnull (1, 2, 6)));
/* Delete KEY, or every key under it with PREFIX true; *deleted (may be
 * NULL) how many. */
extern int etcd_delete (struct etcd *e, const char *key, bool prefix,
                        int64_t *deleted, char *err, size_t errlen)
  __attribute__((nonnull (1, 2, 5)));

#endif /* SNAPVOL_ETCD_H */

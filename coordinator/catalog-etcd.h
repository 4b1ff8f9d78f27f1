/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * catalog-etcd.h: the coordinator's catalog kept on etcd: an in-memory
 * catalog (catalog.h) whose every write transaction is appended to a
 * log on etcd, guarded by the coordinator's leadership, before it
 * commits, and which a new leader rebuilds from etcd.  The key layout
 * is in docs/coordinator.md ("The catalog on etcd").
 *
 * Both functions block on etcd (each call bounded by the etcd
 * handle's timeout per endpoint).  Not thread-safe, like the catalog.
 */

#ifndef SNAPVOL_CATALOG_ETCD_H
#define SNAPVOL_CATALOG_ETCD_H

#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "etcd.h"

/* How many log entries, by default, before the log is compacted into
 * an image of the catalog. */
#define CATALOG_ETCD_COMPACT_EVERY 1000

/* The largest value written to one key (a log entry, or a chunk of a
 * changeset or image that is larger): well below etcd's default
 * request limit of 1.5 MiB. */
#define CATALOG_ETCD_CHUNK (512 * 1024)

/* Build an in-memory catalog from PREFIX's image and log.  NULL with
 * errno (EILSEQ: what etcd holds is not a whole catalog -- a missing
 * log entry or chunk, a bad image or changeset; EIO and the others of
 * etcd.h: etcd did not answer) and a message in ERR. */
extern struct catalog *catalog_etcd_load (struct etcd *e, const char *prefix,
                                          char *err, size_t errlen)
  __attribute__((nonnull));

/* From now on every write transaction of CAT (an in-memory catalog, as
 * catalog_etcd_load returns it) is appended to PREFIX's log guarded by
 * the leader key PREFIX/leader having create_revision TERM and value
 * ADVERTISE; a refused guard makes the call fail with errno EPERM
 * (catalog_errmsg: "not the leader any more ..."), anything else with
 * EIO.  E and CAT must outlive the attachment; it ends with
 * catalog_close (CAT).  Reads the log's last index from etcd: -1 with a
 * message in ERR if etcd does not answer. */
extern int catalog_etcd_attach (struct catalog *cat, struct etcd *e,
                                const char *prefix, uint64_t term,
                                const char *advertise, char *err,
                                size_t errlen)
  __attribute__((nonnull));

/* catalog_etcd_attach, compacting the log every EVERY entries (>= 1)
 * after the transaction that reaches it has committed. */
extern int catalog_etcd_attach_every (struct catalog *cat, struct etcd *e,
                                      const char *prefix, uint64_t term,
                                      const char *advertise,
                                      unsigned every, char *err,
                                      size_t errlen)
  __attribute__((nonnull));

#endif /* SNAPVOL_CATALOG_ETCD_H */

/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * election.h: leadership among coordinators sharing one etcd cluster
 * ('catalog etcd'; docs/coordinator.md, "Several coordinators on etcd").
 *
 * Design notes
 *
 * One key, PREFIX/leader, names the leader: its value is the leader's
 * advertise address and it is bound to the leader's lease, so it goes
 * when the lease does.  A coordinator campaigns with one transaction:
 * if the key does not exist (create_revision 0) put it with its own
 * lease, else nothing.  The winner's term is the key's create_revision:
 * etcd's revisions only grow, so a later leader has a larger term.
 *
 * Everything runs from one timer of the event loop, every
 * ELECTION_POLL_MS.  A follower reads the key (a poll, not a watch:
 * the gateway's watch is a stream this client does not keep) and
 * campaigns when it is gone; while etcd does not answer, it polls
 * less often (doubling, up to 2.4 s), since each failed read held the
 * loop for the client's timeout.  The leader renews its lease every third
 * of its TTL and reads the key on every tick; it has lost leadership
 * when the lease is gone, when no renewal has succeeded for a whole
 * TTL (counted from when the last successful renewal was sent, so
 * never after etcd's own expiry), or when the key no longer holds its
 * term and address.  Losing it is final for the process: the owner's
 * lost() callback restarts the daemon (main.c), so that nothing of the
 * term survives.
 *
 * Every etcd call blocks the event loop, each bounded by the client's
 * per-endpoint timeout (etcd.h).
 */

#ifndef SNAPVOL_ELECTION_H
#define SNAPVOL_ELECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

struct config;
struct etcd;
struct election;

/* How often a follower reads the leader key (and the leader checks it). */
#define ELECTION_POLL_MS 300

struct election_ops {
  /* This coordinator has won with TERM: load the catalog and serve.
   * -1 if it could not (logged): the election then gives the
   * leadership up (revokes its lease) and calls lost(). */
  int (*elected) (void *arg, struct etcd *e, uint64_t term);
  /* Leadership, once won, is lost, for the reason WHY: the owner stops
   * serving for good (restarts the process).  Also called when an
   * elected() failed. */
  void (*lost) (void *arg, const char *why);
};

/* Connect to the etcd endpoints of CONF (not yet to the cluster: a
 * first call fails later and is retried) and set the timer on BASE;
 * the first campaign runs from the loop at once.  NULL with ERR
 * set. */
extern struct election *election_new (struct event_base *base,
                                       const struct config *conf,
                                       const struct election_ops *ops,
                                       void *arg, char *err, size_t errlen)
  __attribute__((nonnull (1, 2, 3)));

/* Stop; a leader revokes its lease (bounded by the etcd timeout) so
 * that another coordinator leads at once rather than after the TTL. */
extern void election_free (struct election *el);

extern bool election_is_leader (const struct election *el)
  __attribute__((nonnull));

/* The leader's advertise address as last read (this coordinator's own
 * when it leads), or NULL when no leader is known; then *WHY (if WHY
 * is not NULL) says why (no leader elected yet, etcd unreachable ...). */
extern const char *election_leader (const struct election *el,
                                    const char **why)
  __attribute__((nonnull (1)));

#endif /* SNAPVOL_ELECTION_H */

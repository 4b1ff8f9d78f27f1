/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * coord.h: the daemon's state shared by the coordinator's modules.  A
 * method or step that fails says why in a struct rpcerr
 * (common/rpcerr.h); clocks and delays are common/timespec.h's.
 *
 * Design notes
 *
 * The coordinator is one thread running one libevent loop.  Nothing
 * blocks in it except catalog writes (SQLite, fsync'd: a few per set
 * and per registration), so no lock exists anywhere.  Modules and what
 * they own:
 *
 *   conf.c      the configuration file (read once at startup)
 *   roles.c     certificate -> roles, role names
 *   listener.c  listening sockets, bound before the daemon forks
 *   conn.c      TLS connections, framing, bidirectional JSON-RPC:
 *               in-order answers, outgoing calls with deadlines,
 *               handshake / heartbeat / idle timeouts
 *   methods.c   the methods peers call, each checked against the
 *               caller's roles (deny by default) and its parameters
 *   registry.c  providers, writers and their volumes
 *   set.c       the snapshot-set state machine and its FIFO queue
 *   committed.c what requesters do with committed sets: snapshot.diff
 *               forwarded, set.diff, set.hold, set.release
 *   status.c    coordinator.status: peers, newest sets, failures, read
 *               in one turn of the loop
 *   fanout.c    one call to each provider of a set, one callback
 *   catalog.c   the SQLite catalog and recovery
 *   election.c  leadership on etcd ('catalog etcd'): until it is won,
 *               cat, reg and sets are NULL and methods.c answers
 *               every request but coordinator.status "not the leader"
 *   metrics.c   counters and histograms of sets (Prometheus text)
 *   exporter.c  GET /metrics over HTTP, when configured
 *
 * Layers, top to bottom; calls go down only:
 *
 *   main.c      wires the layers together (below), startup, shutdown
 *   methods.c   requests, by method and role; exporter.c, scrapes
 *   set.c, committed.c  snapshot sets; status.c, reading the layers
 *               below
 *   fanout.c    calls to every provider of a set
 *   registry.c  peers
 *   conn.c      the transport
 *   catalog.c, roles.c, params.c, conf.c, metrics.c: leaves any layer
 *               uses
 *
 * A lower layer reports upward only through a table of callbacks it is
 * given at creation, which main.c fills: conn.c hands requests to
 * methods_dispatch and a registered peer's traffic and closing to the
 * registry through struct conn_ops (conn.h); the registry announces
 * registrations, forgotten providers and peers gone to the set layer
 * through struct registry_observer (registry.h).  set.c and registry.c
 * make calls through conn.c and learn their outcome from a callback
 * that conn.c always runs exactly once, from the event loop, never from
 * inside the call that started it.
 *
 * struct coord holds each layer's handle so that main.c can wire and
 * free them; a module uses the handles of the layers below it only.
 */

#ifndef SNAPVOL_COORD_H
#define SNAPVOL_COORD_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/ssl.h>

#include "rpcerr.h"             /* struct rpcerr: why a method failed */
#include "uuid.h"

struct config;
struct catalog;
struct registry;
struct sets;
struct listeners;
struct conns;
struct metrics;
struct exporter;
struct rebuild;
struct election;

struct coord {
  struct event_base *base;
  const struct config *conf;
  SSL_CTX *tls;
  struct catalog *cat;
  struct registry *reg;
  struct sets *sets;
  struct listeners *listeners;
  struct conns *conns;
  struct metrics *metrics;      /* counters of sets (metrics.c) */
  struct exporter *exporter;    /* NULL without 'metrics' */
  unsigned rebuild_ms;          /* --rebuild-catalog's window, or 0 */
  struct rebuild *rebuild;      /* the window while it runs, or NULL */
  struct election *election;    /* NULL without 'catalog etcd' */
  bool stopping;                /* a shutdown has started */
  /* The leader's term (docs/protocol.md, "Terms"): set by the election
   * when this coordinator wins, 0 with the SQLite catalog.  Sent in
   * every call to a provider or writer and in their register results
   * when > 0. */
  uint64_t term;
};

#endif /* SNAPVOL_COORD_H */

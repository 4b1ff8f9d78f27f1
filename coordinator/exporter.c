/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * exporter.c: GET /metrics in the Prometheus text format 0.0.4, with
 * libevent's HTTP server on the coordinator's event loop.
 *
 * Plain HTTP, as Prometheus scrapes usually are, on an address meant
 * for a local or admin network: what it shows (counts, durations,
 * peers' states) names no peer, set or volume, but anyone who can
 * reach the port reads it, so an address beyond loopback is warned
 * about at startup.  A scrape is answered at once from memory and a
 * few catalog counts (one SQLite read); a client gets EXPORTER_TIMEOUT_S
 * to send its request and take the answer.  Any other path is 404, any
 * other method on /metrics 405.
 */

#include <config.h>

#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "catalog.h"
#include "conf.h"
#include "exporter.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "registry.h"
#include "set.h"

#define EXPORTER_TIMEOUT_S 10
#define EXPORTER_MAX_HEADERS 8192
#define EXPORTER_MAX_BODY 1024
#define EXPORTER_BACKLOG 64

struct exporter {
  int fd;
  struct evhttp *http;
};

/* Whether AI's address is a loopback one (127.0.0.0/8, ::1). */
static bool
is_loopback (const struct addrinfo *ai)
{
  if (ai->ai_family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *) ai->ai_addr;

    return (ntohl (in->sin_addr.s_addr) >> 24) == 127;
  }
  return IN6_IS_ADDR_LOOPBACK (&((const struct sockaddr_in6 *)
                                 ai->ai_addr)->sin6_addr);
}

int
exporter_bind (struct coord *co)
{
  const struct config *conf = co->conf;
  struct addrinfo hints = {
    .ai_family = AF_UNSPEC,
    .ai_socktype = SOCK_STREAM,
    .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV,
  };
  struct addrinfo *res;
  int r, fd;

  co->exporter = NULL;
  if (conf->metrics_host == NULL)
    return 0;
  r = getaddrinfo (conf->metrics_host, conf->metrics_port, &hints, &res);
  if (r != 0) {
    log_warnx ("%s:%d: metrics %s port %s: %s", conf->path,
               conf->metrics_line, conf->metrics_host, conf->metrics_port,
               r == EAI_SYSTEM ? strerror (errno) : gai_strerror (r));
    return -1;
  }
  fd = listener_bind_one (res, EXPORTER_BACKLOG);
  if (fd == -1) {
    log_warnx ("%s:%d: metrics %s port %s: %s", conf->path,
               conf->metrics_line, conf->metrics_host, conf->metrics_port,
               strerror (errno));
    freeaddrinfo (res);
    return -1;
  }
  if (!is_loopback (res))
    log_warnx ("%s:%d: metrics %s port %s: plain HTTP beyond loopback: "
               "anyone who can reach this address reads the metrics; keep "
               "it on an admin network", conf->path, conf->metrics_line,
               conf->metrics_host, conf->metrics_port);
  freeaddrinfo (res);
  co->exporter = calloc (1, sizeof *co->exporter);
  if (co->exporter == NULL) {
    log_warn ("metrics");
    close (fd);
    return -1;
  }
  co->exporter->fd = fd;
  return 0;
}

/* The gauges, read now. */

static int
render_sets (struct coord *co, struct evbuffer *out)
{
  size_t running, queued;

  sets_counts (co->sets, &running, &queued);
  return metrics_gauge_header (out, "sets_running", "Snapshot sets or "
                               "reverts running now (0 or 1).") == -1 ||
    metrics_gauge (out, "sets_running", NULL, NULL, (int64_t) running) == -1 ||
    metrics_gauge_header (out, "sets_queued", "Snapshot sets or reverts "
                          "waiting behind the running one.") == -1 ||
    metrics_gauge (out, "sets_queued", NULL, NULL, (int64_t) queued) == -1
    ? -1 : 0;
}

static int
render_peers (struct coord *co, struct evbuffer *out)
{
  const char *const *state;
  int64_t connected = 0, away = 0;
  struct provider *p;
  struct writer *w;

  TAILQ_FOREACH (p, &co->reg->providers, entry)
    if (p->conn != NULL)
      connected++;
    else
      away++;
  if (metrics_gauge_header (out, "providers", "Providers known to the "
                            "coordinator, by state.") == -1 ||
      metrics_gauge (out, "providers", "state", "connected", connected) == -1 ||
      metrics_gauge (out, "providers", "state", "disconnected", away) == -1 ||
      metrics_gauge_header (out, "writers", "Writers known to the "
                            "coordinator, by state (as writer.list shows "
                            "it).") == -1)
    return -1;
  for (state = registry_writer_states; *state != NULL; state++) {
    int64_t n = 0;

    TAILQ_FOREACH (w, &co->reg->writers, entry)
      if (strcmp (w->state, *state) == 0)
        n++;
    if (metrics_gauge (out, "writers", "state", *state, n) == -1)
      return -1;
  }
  return 0;
}

static int
render_catalog (struct coord *co, struct evbuffer *out)
{
  struct catalog_stats st;
  uint64_t durable, lazy;

  catalog_commits (co->cat, &durable, &lazy);
  if (metrics_counter_header (out, "catalog_commits_total", "Write "
                              "transactions of the catalog, by durability "
                              "(durable: fsync'd before the coordinator "
                              "goes on).") == -1 ||
      metrics_gauge (out, "catalog_commits_total", "sync", "durable",
                     (int64_t) durable) == -1 ||
      metrics_gauge (out, "catalog_commits_total", "sync", "lazy",
                     (int64_t) lazy) == -1)
    return -1;
  if (catalog_stats (co->cat, &st) == -1)
    return 0;                   /* logged; the rest is still worth showing */
  return metrics_gauge_header (out, "catalog_sets", "Snapshot sets in the "
                               "catalog, by state.") == -1 ||
    metrics_gauge (out, "catalog_sets", "state", "committed",
                   st.committed) == -1 ||
    metrics_gauge (out, "catalog_sets", "state", "failed", st.failed) == -1 ||
    metrics_gauge (out, "catalog_sets", "state", "unfinished",
                   st.unfinished) == -1 ||
    metrics_gauge_header (out, "catalog_snapshots", "Snapshots of the sets "
                          "in the catalog.") == -1 ||
    metrics_gauge (out, "catalog_snapshots", NULL, NULL, st.snapshots) == -1 ||
    metrics_gauge_header (out, "catalog_pending_deletions", "Deletions "
                          "waiting for their provider.") == -1 ||
    metrics_gauge (out, "catalog_pending_deletions", NULL, NULL,
                   st.pending_deletions) == -1 ||
    metrics_gauge_header (out, "catalog_bytes", "Size of the catalog's "
                          "database file.") == -1 ||
    metrics_gauge (out, "catalog_bytes", NULL, NULL, st.bytes) == -1
    ? -1 : 0;
}

static void
scrape_cb (struct evhttp_request *req, void *arg)
{
  struct coord *co = arg;
  const char *path = evhttp_uri_get_path (evhttp_request_get_evhttp_uri (req));
  struct evbuffer *out;

  if (path == NULL || strcmp (path, "/metrics") != 0) {
    evhttp_send_error (req, HTTP_NOTFOUND, "only /metrics is served here");
    return;
  }
  if (evhttp_request_get_command (req) != EVHTTP_REQ_GET) {
    evhttp_add_header (evhttp_request_get_output_headers (req), "Allow",
                       "GET");
    evhttp_send_error (req, HTTP_BADMETHOD, "only GET is served here");
    return;
  }
  out = evbuffer_new ();
  /* A follower ('catalog etcd') has no sets, peers or catalog yet. */
  if (out == NULL || metrics_render (co->metrics, out) == -1 ||
      (co->sets != NULL &&
       (render_sets (co, out) == -1 || render_peers (co, out) == -1 ||
        render_catalog (co, out) == -1))) {
    log_warnx ("metrics: out of memory");
    evhttp_send_error (req, HTTP_INTERNAL, "out of memory");
    if (out)
      evbuffer_free (out);
    return;
  }
  evhttp_add_header (evhttp_request_get_output_headers (req), "Content-Type",
                     "text/plain; version=0.0.4; charset=utf-8");
  evhttp_send_reply (req, HTTP_OK, "OK", out);
  evbuffer_free (out);
}

int
exporter_start (struct coord *co)
{
  struct exporter *ex = co->exporter;

  if (ex == NULL)
    return 0;
  ex->http = evhttp_new (co->base);
  if (ex->http == NULL) {
    log_warnx ("metrics: cannot create the HTTP server");
    return -1;
  }
  evhttp_set_timeout (ex->http, EXPORTER_TIMEOUT_S);
  evhttp_set_max_headers_size (ex->http, EXPORTER_MAX_HEADERS);
  evhttp_set_max_body_size (ex->http, EXPORTER_MAX_BODY);
  evhttp_set_allowed_methods (ex->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
                              EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                              EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                              EVHTTP_REQ_PATCH);
  evhttp_set_gencb (ex->http, scrape_cb, co);
  if (evhttp_accept_socket_with_handle (ex->http, ex->fd) == NULL) {
    log_warnx ("metrics %s port %s: cannot serve it",
               co->conf->metrics_host, co->conf->metrics_port);
    return -1;
  }
  ex->fd = -1;                  /* the HTTP server closes it */
  log_info ("serving metrics on http://%s%s%s:%s/metrics (plain HTTP)",
            strchr (co->conf->metrics_host, ':') ? "[" : "",
            co->conf->metrics_host,
            strchr (co->conf->metrics_host, ':') ? "]" : "",
            co->conf->metrics_port);
  return 0;
}

void
exporter_free (struct exporter *ex)
{
  if (ex == NULL)
    return;
  if (ex->http != NULL)
    evhttp_free (ex->http);
  if (ex->fd != -1)
    close (ex->fd);
  free (ex);
}

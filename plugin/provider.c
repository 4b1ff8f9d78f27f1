/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * provider.c: the provider link to snapvol-coordinator (see provider.h).
 *
 * Design notes
 *
 * The link is common/rpcpeer.c run in a thread of its own: it
 * connects with mutual TLS, registers with provider.register (the
 * volumes as volume.list describes them), sends ping every heartbeat,
 * and reconnects with backoff after any failure.  The coordinator's
 * calls are answered by rpc_call, the very dispatcher of the control
 * socket, so both transports run the same code -- but only the methods
 * the coordinator protocol needs (link_methods): deny by default, so
 * that a coordinator, or whoever holds its key, cannot create or
 * delete volumes or take snapshots outside a set through the link.
 *
 * Holds: the link has a hold table of its own (holds.c), with its own
 * reaper, so that a hold taken by the coordinator is a lease whether
 * or not control= is given: a coordinator that dies between
 * hold.begin and hold.commit stalls writes for one lease at most.  A
 * hold outlives a connection: after a reconnect the coordinator may
 * still commit or release it.  Hold ids of one table are unknown to
 * the other: the control socket cannot end the coordinator's holds.
 *
 * Threads (all started in .after_fork, since fork keeps only the
 * calling thread, and all with every signal blocked): the link thread
 * (rpcpeer_run), the worker it starts, and the hold reaper.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <jansson.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "holds.h"
#include "jsonrpc.h"
#include "provider.h"
#include "rpc-methods.h"
#include "rpcconn.h"
#include "rpcpeer.h"
#include "tls.h"

/* Configuration, fixed once .config_complete returns. */
static char *coordinator;               /* HOST:PORT as given */
static char *tls_certificate, *tls_key, *tls_ca;
static char *provider_name;
static char *nbd_uri;
static SSL_CTX *tls_ctx;

struct provider {
  struct holds *holds;
  struct rpc_context rpc;
  char *dir;
  struct rpcpeer *peer;
  pthread_t thread;
  bool started;
};

/* Configuration. */

static int
config_string (char **var, const char *key, const char *value, bool path)
{
  if (*var != NULL) {
    nbdkit_error ("%s=%s: %s given twice", key, value, key);
    return -1;
  }
  if (*value == '\0') {
    nbdkit_error ("%s=: the value must not be empty", key);
    return -1;
  }
  /* nbdkit changes to / when it daemonizes. */
  *var = path ? nbdkit_absolute_path (value) : strdup (value);
  if (*var == NULL) {
    if (!path)
      nbdkit_error ("strdup: %m");
    return -1;
  }
  return 0;
}

int
provider_config (const char *key, const char *value)
{
  if (strcmp (key, "coordinator") == 0)
    return config_string (&coordinator, key, value, false);
  if (strcmp (key, "tls-certificate") == 0)
    return config_string (&tls_certificate, key, value, true);
  if (strcmp (key, "tls-key") == 0)
    return config_string (&tls_key, key, value, true);
  if (strcmp (key, "tls-ca") == 0)
    return config_string (&tls_ca, key, value, true);
  if (strcmp (key, "provider") == 0)
    return config_string (&provider_name, key, value, false);
  if (strcmp (key, "nbd-uri") == 0)
    return config_string (&nbd_uri, key, value, false);
  return 1;
}

/* A provider name follows the rules of volume names (docs/protocol.md). */
static bool
valid_name (const char *s)
{
  size_t n = strlen (s), i;

  if (n == 0 || n > SV_NAME_MAX || s[0] == '.')
    return false;
  for (i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
          (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' ||
          s[i] == '-'))
      return false;
  return true;
}

static int
check_name (void)
{
  char host[HOST_NAME_MAX + 1];

  if (provider_name != NULL) {
    if (!valid_name (provider_name)) {
      nbdkit_error ("provider=%s: invalid name: it must be 1 to %d "
                    "characters from A-Z a-z 0-9 . _ -, not starting "
                    "with '.'", provider_name, SV_NAME_MAX);
      return -1;
    }
    return 0;
  }
  if (gethostname (host, sizeof host) == -1) {
    nbdkit_error ("gethostname: %m; give provider=NAME");
    return -1;
  }
  host[sizeof host - 1] = '\0';
  if (!valid_name (host)) {
    nbdkit_error ("the host name '%s' is not a valid provider name: give "
                  "provider=NAME (1 to %d characters from A-Z a-z 0-9 . _ -)",
                  host, SV_NAME_MAX);
    return -1;
  }
  provider_name = strdup (host);
  if (provider_name == NULL) {
    nbdkit_error ("strdup: %m");
    return -1;
  }
  return 0;
}

static int
check_nbd_uri (void)
{
  static const char *const schemes[] = {
    "nbd://", "nbds://", "nbd+unix://", "nbds+unix://",
  };
  size_t i;
  const char *p;

  if (nbd_uri == NULL) {
    nbdkit_error ("coordinator=%s needs nbd-uri=URI: how NBD clients reach "
                  "this server, without an export name (for example "
                  "nbd://storage1.example.com:10809)", coordinator);
    return -1;
  }
  for (p = nbd_uri; *p; p++)
    if ((unsigned char) *p <= ' ' || *p == 0x7f) {
      nbdkit_error ("nbd-uri=%s: the URI must not contain blanks or control "
                    "characters", nbd_uri);
      return -1;
    }
  for (i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
    if (strncmp (nbd_uri, schemes[i], strlen (schemes[i])) == 0)
      return 0;
  nbdkit_error ("nbd-uri=%s: expected an NBD URI: nbd://HOST:PORT, "
                "nbds://HOST:PORT or nbd+unix:///?socket=PATH", nbd_uri);
  return -1;
}

static int
check_file (const char *key, const char *file)
{
  if (access (file, R_OK) == -1) {
    nbdkit_error ("%s=%s: %m", key, file);
    return -1;
  }
  return 0;
}

int
provider_config_complete (void)
{
  const struct tls_files files = {
    .certificate = tls_certificate, .key = tls_key, .ca = tls_ca,
  };
  struct rpcconn_targets *targets;
  char err[512];

  if (coordinator == NULL) {
    const char *key = tls_certificate ? "tls-certificate"
      : tls_key ? "tls-key" : tls_ca ? "tls-ca"
      : provider_name ? "provider" : NULL;

    if (key != NULL) {
      nbdkit_error ("%s= is only used with coordinator=HOST:PORT", key);
      return -1;
    }
    /* Without a coordinator nbd-uri= only tells pool.info's callers
     * (snapvolctl backup) where the exports are. */
    return nbd_uri ? check_nbd_uri () : 0;
  }

  targets = rpcconn_targets_new (coordinator, err, sizeof err);
  if (targets == NULL) {
    nbdkit_error ("coordinator=%s: %s", coordinator, err);
    return -1;
  }
  rpcconn_targets_free (targets);
  if (tls_certificate == NULL || tls_key == NULL || tls_ca == NULL) {
    nbdkit_error ("coordinator=%s needs tls-certificate=FILE, tls-key=FILE "
                  "and tls-ca=FILE (missing:%s%s%s): the coordinator link "
                  "always uses TLS with client certificates", coordinator,
                  tls_certificate ? "" : " tls-certificate",
                  tls_key ? "" : " tls-key", tls_ca ? "" : " tls-ca");
    return -1;
  }
  if (check_nbd_uri () == -1 || check_name () == -1 ||
      check_file ("tls-certificate", tls_certificate) == -1 ||
      check_file ("tls-key", tls_key) == -1 ||
      check_file ("tls-ca", tls_ca) == -1)
    return -1;
  tls_ctx = tls_client_context (&files, err, sizeof err);
  if (tls_ctx == NULL) {
    nbdkit_error ("coordinator=%s: %s", coordinator, err);
    return -1;
  }
  return 0;
}

const char *
provider_nbd_uri (void)
{
  return nbd_uri;
}

bool
provider_enabled (void)
{
  return coordinator != NULL;
}

void
provider_unload (void)
{
  SSL_CTX_free (tls_ctx);
  tls_ctx = NULL;
  free (coordinator);
  free (tls_certificate);
  free (tls_key);
  free (tls_ca);
  free (provider_name);
  free (nbd_uri);
}

/* The link's operations (common/rpcpeer.h). */

static json_t *
registration (void *opaque, const char **method, char *err, size_t errlen)
{
  struct provider *pr = opaque;
  json_t *zero = json_integer (0);
  json_t *reply, *volumes, *params;
  const char *message;
  int code;

  reply = zero ? rpc_call (&pr->rpc, zero, "volume.list", NULL) : NULL;
  json_decref (zero);
  if (reply == NULL) {
    snprintf (err, errlen, "out of memory");
    return NULL;
  }
  if (rpcconn_response_error (reply, &code, &message, NULL)) {
    snprintf (err, errlen, "volume.list: %s", message);
    json_decref (reply);
    return NULL;
  }
  volumes = json_object_get (reply, "result");
  params = json_pack ("{s:s, s:s, s:O, s:s}",
                      "name", provider_name,
                      "nbd_uri", nbd_uri,
                      "volumes", volumes,
                      "version", PACKAGE_VERSION);
  json_decref (reply);
  if (params == NULL)
    snprintf (err, errlen, "out of memory");
  *method = "provider.register";
  return params;
}

/* What the coordinator may call on a provider (docs/protocol.md,
 * Part 2: provider.register); ping is answered by rpcpeer itself. */
static const char *const link_methods[] = {
  "volume.list", "hold.begin", "hold.commit", "hold.revert",
  "hold.release", "revert.undo", "snapshot.list", "snapshot.delete",
  "snapshot.diff", "snapshot.hold", "snapshot.release", NULL
};

/* "a, b and c": the methods of link_methods, for the refusal. */
static void
link_methods_text (char *buf, size_t len)
{
  size_t i, n, used = 0;

  for (n = 0; link_methods[n] != NULL; n++)
    ;
  buf[0] = '\0';
  for (i = 0; i < n && used < len; i++)
    used += snprintf (buf + used, len - used, "%s%s",
                      i == 0 ? "" : i + 1 == n ? " and " : ", ",
                      link_methods[i]);
}

static json_t *
call (void *opaque, const struct rpcpeer_call *c)
{
  struct provider *pr = opaque;
  const char *const *m;

  for (m = link_methods; *m != NULL; m++)
    if (strcmp (*m, c->method) == 0)
      break;
  if (*m == NULL) {
    char only[256];

    link_methods_text (only, sizeof only);
    nbdkit_debug ("provider link: refused %.64s", c->method);
    return jsonrpc_error (c->id, JSONRPC_METHOD_NOT_FOUND, NULL,
                          "method '%.64s' is not served on the coordinator "
                          "link (only %s)", c->method, only);
  }
  nbdkit_debug ("provider link: %.64s", c->method);
  return rpc_call (&pr->rpc, c->id, c->method, c->params);
}

static void
disconnected (void *opaque, uint64_t session, const char *why)
{
  nbdkit_debug ("provider link: session %" PRIu64 " ended: %s", session, why);
}

static void
log_message (void *opaque, int priority, const char *msg)
{
  if (priority <= LOG_WARNING)
    nbdkit_error ("%s", msg);
  else
    nbdkit_debug ("%s", msg);
}

static const struct rpcpeer_ops ops = {
  .registration = registration,
  .call = call,
  .disconnected = disconnected,
  .log = log_message,
};

/* The link. */

struct provider *
provider_new (struct sv_pool *pool, const char *dir,
              uint32_t default_cluster_size)
{
  const struct rpcpeer_config cfg = {
    .what = "coordinator",
    .address = coordinator,
    .tls = tls_ctx,
  };
  struct provider *pr = calloc (1, sizeof *pr);

  if (pr == NULL) {
    nbdkit_error ("calloc: %m");
    return NULL;
  }
  pr->dir = strdup (dir);
  if (pr->dir == NULL) {
    nbdkit_error ("strdup: %m");
    goto err;
  }
  pr->holds = holds_new (pool);
  if (pr->holds == NULL) {
    nbdkit_error ("provider link: cannot create the hold table: %m");
    goto err;
  }
  pr->rpc.pool = pool;
  pr->rpc.holds = pr->holds;
  pr->rpc.dir = pr->dir;
  pr->rpc.nbd_uri = nbd_uri;
  pr->rpc.default_cluster_size = default_cluster_size;
  pr->peer = rpcpeer_new (&cfg, &ops, pr);
  if (pr->peer == NULL) {
    nbdkit_error ("provider link: %m");
    goto err;
  }
  return pr;

 err:
  provider_stop (pr);
  return NULL;
}

static void *
link_thread (void *arg)
{
  struct provider *pr = arg;

  if (rpcpeer_run (pr->peer) == -1)
    nbdkit_error ("provider link: cannot start its worker thread: %m");
  return NULL;
}

int
provider_start (struct provider *pr)
{
  sigset_t all, old;
  int err = 0;

  /* Every thread started from here inherits the mask. */
  sigfillset (&all);
  pthread_sigmask (SIG_BLOCK, &all, &old);
  if (holds_start (pr->holds) == -1) {
    err = errno;
    nbdkit_error ("provider link: cannot start the hold reaper: %m");
  }
  else {
    err = pthread_create (&pr->thread, NULL, link_thread, pr);
    if (err != 0) {
      errno = err;
      nbdkit_error ("provider link: pthread_create: %m");
    }
    else
      pr->started = true;
  }
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  if (err != 0)
    return -1;
  nbdkit_debug ("provider link: provider %s, coordinator %s, nbd-uri %s",
                provider_name, coordinator, nbd_uri);
  return 0;
}

void
provider_stop (struct provider *pr)
{
  if (pr == NULL)
    return;
  if (pr->started) {
    rpcpeer_stop (pr->peer);
    pthread_join (pr->thread, NULL);
  }
  rpcpeer_free (pr->peer);
  /* No call runs any more: release the holds left. */
  holds_free (pr->holds);
  free (pr->dir);
  free (pr);
}

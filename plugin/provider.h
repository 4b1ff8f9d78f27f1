/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * provider.h: the provider link: the plugin's connection to
 * snapvol-coordinator (coordinator=HOST:PORT), over which the
 * coordinator calls the control methods (docs/protocol.md, Part 2).
 */

#ifndef SNAPVOL_PROVIDER_H
#define SNAPVOL_PROVIDER_H

#include <stdbool.h>
#include <stdint.h>

#include "pool.h"

#define provider_config_help \
  "coordinator=HOST:PORT Register with snapvol-coordinator at HOST:PORT.\n" \
  "tls-certificate=FILE  Our certificate for the coordinator link.\n" \
  "tls-key=FILE          Its private key.\n" \
  "tls-ca=FILE           The CA bundle the coordinator must chain to.\n" \
  "provider=NAME         Our name at the coordinator (default: host name).\n" \
  "nbd-uri=URI           How NBD clients reach this server (nbd://HOST:PORT)."

/* Take the plugin parameter KEY=VALUE if it belongs to the provider
 * link: 0 if taken, 1 if KEY is not one of ours, -1 on error (reported
 * with nbdkit_error). */
extern int provider_config (const char *key, const char *value)
  __attribute__((nonnull));

/* Check the provider parameters as a whole and load the TLS files, so
 * that every mistake is reported before nbdkit forks.  -1 on error
 * (reported with nbdkit_error, naming the parameter). */
extern int provider_config_complete (void);

/* nbd-uri= as given (checked), or NULL: how NBD clients reach this
 * server.  It may be given without coordinator= (pool.info reports
 * it).  Fixed once .config_complete returns. */
extern const char *provider_nbd_uri (void);

/* Whether coordinator= was given. */
extern bool provider_enabled (void);

/* Free the configuration.  For .unload. */
extern void provider_unload (void);

struct provider;

/* A provider link for POOL (directory DIR), not yet started: call from
 * .get_ready, when provider_enabled.  NULL on error (reported). */
extern struct provider *provider_new (struct sv_pool *pool, const char *dir,
                                      uint32_t default_cluster_size)
  __attribute__((nonnull));

/* Start the link's threads (the link itself, its worker and the hold
 * reaper), with every signal blocked.  Call from .after_fork.  -1 on
 * error (reported). */
extern int provider_start (struct provider *pr) __attribute__((nonnull));

/* Stop the threads (a call being run by the coordinator's link is
 * finished first: at most a hold.begin's wait_ms), release the holds
 * taken through the link, free PR.  PR may be NULL or not started. */
extern void provider_stop (struct provider *pr);

#endif /* SNAPVOL_PROVIDER_H */

/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * rpc-methods.h: the control methods (pool.*, volume.*, snapshot.*,
 * hold.*), independent of the transport that carries them.
 */

#ifndef SNAPVOL_RPC_METHODS_H
#define SNAPVOL_RPC_METHODS_H

#include <stdint.h>
#include <jansson.h>

#include "holds.h"
#include "pool.h"

/* What the methods act on.  Everything is owned by the caller and
 * must outlive every rpc_call. */
struct rpc_context {
  struct sv_pool *pool;
  struct holds *holds;
  const char *dir;                      /* the pool directory */
  uint32_t default_cluster_size;        /* for volume.create */
  const char *nbd_uri;                  /* nbd-uri=, or NULL (pool.info) */
};

/* Run METHOD with PARAMS (NULL when the request had none) and return
 * the JSON-RPC response (a result or an error) for ID, as a new
 * reference.  The parameters are validated before anything runs.
 * Returns NULL only when out of memory.  May block: the engine may
 * fsync, and hold.begin waits up to its wait_ms. */
extern json_t *rpc_call (const struct rpc_context *ctx, json_t *id,
                         const char *method, json_t *params)
  __attribute__((nonnull (1, 2, 3)));

#endif /* SNAPVOL_RPC_METHODS_H */

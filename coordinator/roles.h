/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * roles.h: which roles a peer's certificate holds.
 *
 * A leaf: pure functions of the configuration's allow rules, with no
 * state of their own.  Callers (the transport, at the end of a TLS
 * handshake, and methods.c, in its refusals) may call them anywhere.
 */

#ifndef SNAPVOL_ROLES_H
#define SNAPVOL_ROLES_H

#include <stddef.h>

#include "conf.h"

/* The roles (ROLE_* mask) CONF's allow rules grant a certificate with
 * SUBJECT (RFC 2253) and common name CN (NULL if it has none: then
 * only "subject" rules can match).  0 means none: the peer is refused.
 * Does not block. */
extern unsigned roles_of (const struct config *conf, const char *subject,
                          const char *cn)
  __attribute__((nonnull (1, 2)));

/* The names of the roles in MASK, comma-separated ("writer",
 * "provider,admin", or "none"), into BUF.  Returns BUF. */
extern const char *roles_names (unsigned mask, char *buf, size_t len)
  __attribute__((nonnull));

#endif /* SNAPVOL_ROLES_H */

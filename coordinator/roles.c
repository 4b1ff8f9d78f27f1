/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * roles.c: binding roles to certificates with the configuration's
 * "allow" rules.  Deny by default: a certificate no rule matches holds
 * no role, and each method names the roles that may call it
 * (methods.c); nothing is allowed because it was not forbidden.
 */

#include <config.h>

#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "roles.h"

unsigned
roles_of (const struct config *conf, const char *subject, const char *cn)
{
  unsigned roles = 0;
  size_t i;

  for (i = 0; i < conf->allow.len; i++) {
    const struct config_allow *a = &conf->allow.ptr[i];
    const char *value = a->match == MATCH_CN ? cn : subject;

    /* No FNM_PATHNAME or FNM_PERIOD: a CN is not a path, and "*"
     * should match "storage-1.example.com" as an admin expects. */
    if (value != NULL && fnmatch (a->pattern, value, 0) == 0)
      roles |= a->role;
  }
  return roles;
}

const char *
roles_names (unsigned mask, char *buf, size_t len)
{
  static const struct {
    unsigned role;
    const char *name;
  } names[] = {
    { ROLE_PROVIDER, "provider" },
    { ROLE_WRITER, "writer" },
    { ROLE_REQUESTER, "requester" },
    { ROLE_ADMIN, "admin" },
  };
  size_t i, off = 0;

  if (len == 0)
    return buf;
  buf[0] = '\0';
  for (i = 0; i < sizeof names / sizeof names[0]; i++) {
    int r;

    if (!(mask & names[i].role))
      continue;
    r = snprintf (buf + off, len - off, "%s%s", off ? "," : "",
                  names[i].name);
    if (r < 0 || (size_t) r >= len - off)
      break;
    off += (size_t) r;
  }
  if (off == 0)
    snprintf (buf, len, "none");
  return buf;
}

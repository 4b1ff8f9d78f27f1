/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * outcome.c: how the set code and the deleter describe a call that did
 * not succeed (outcome.h).
 */

#include <config.h>

#include <stdio.h>

#include "outcome.h"

const char *
call_outcome_describe (const struct call_outcome *o, const char *method,
                       char *buf, size_t len)
{
  switch (o->end) {
  case CALL_ERROR:
    snprintf (buf, len, "%s failed: %s (error %d)", method,
              o->message ? o->message : "", o->code);
    break;
  default:
    snprintf (buf, len, "%s", o->message ? o->message : "failed");
    break;
  }
  return buf;
}

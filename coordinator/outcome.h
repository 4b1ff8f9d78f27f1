/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * outcome.h: how the set code, the deleter and the requests forwarded
 * to providers describe a call that did not succeed.
 */

#ifndef SNAPVOL_OUTCOME_H
#define SNAPVOL_OUTCOME_H

#include <stddef.h>

#include "conn.h"
#include "coord.h"

/* Describe the unsuccessful outcome O of METHOD into BUF (LEN bytes):
 * "METHOD failed: MESSAGE (error CODE)" for an error answer, else the
 * message conn.c gave.  Returns BUF. */
extern const char *call_outcome_describe (const struct call_outcome *o,
                                          const char *method, char *buf,
                                          size_t len)
  __attribute__((nonnull));

/* The answer a requester gets when the call on its behalf to PROVIDER
 * ended unsuccessfully with O (not CALL_OK): the provider's error with
 * its code and data, the message prefixed "provider NAME: "; no answer
 * before the deadline -32008; the connection gone -32009 (each with
 * conn.c's message after the prefix).  Fills E (replacing its data);
 * returns -1. */
extern int call_outcome_error (const struct call_outcome *o,
                               const char *provider, struct rpcerr *e)
  __attribute__((nonnull));

#endif /* SNAPVOL_OUTCOME_H */

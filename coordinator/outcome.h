/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * outcome.h: how the set code and the deleter describe a call that did
 * not succeed.
 */

#ifndef SNAPVOL_OUTCOME_H
#define SNAPVOL_OUTCOME_H

#include <stddef.h>

#include "conn.h"

/* Describe the unsuccessful outcome O of METHOD into BUF (LEN bytes):
 * "METHOD failed: MESSAGE (error CODE)" for an error answer, else the
 * message conn.c gave.  Returns BUF. */
extern const char *call_outcome_describe (const struct call_outcome *o,
                                          const char *method, char *buf,
                                          size_t len)
  __attribute__((nonnull));

#endif /* SNAPVOL_OUTCOME_H */

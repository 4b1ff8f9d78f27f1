/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * policyfile.h: the pool's policy file, DIR/policy (layer 3): its
 * encoding, its validation through ondisk_check, and its atomic
 * replacement.  docs/design.md, "Encoding" and "Policies".
 */

#ifndef SNAPVOL_POLICYFILE_H
#define SNAPVOL_POLICYFILE_H

#include <stddef.h>

#include "pool.h"
#include "sio.h"

/* One policy: the pool's default (VOLUME "") or a volume's own. */
struct policy_entry {
  char volume[SV_NAME_MAX + 1];
  struct sv_policy p;
};

/* Entry 0 is the pool's default; volumes follow in strcmp order. */
struct policy_table {
  struct policy_entry *v;
  size_t n;
};

/* Read DIR/policy into *T (freed with policy_table_free).  A missing
 * file is the empty default (every rule off, no space policy): 0.
 * -1 with EILSEQ (a bad block, checksum or entry: the message names
 * the file and the entry), EPROTONOSUPPORT (another version), ENOMEM,
 * or the read's errno. */
extern int policyfile_load (const struct sv_io *io, const char *dir,
                            struct policy_table *t)
  __attribute__((nonnull));

/* Replace DIR/policy with T: written to DIR/policy.tmp, synced,
 * renamed over DIR/policy, and DIR synced: a crash leaves the old file
 * or the new one.  0, or -1 with the errno of the failed call. */
extern int policyfile_store (const struct sv_io *io, const char *dir,
                             const struct policy_table *t)
  __attribute__((nonnull));

extern void policy_table_free (struct policy_table *t)
  __attribute__((nonnull));

#endif /* SNAPVOL_POLICYFILE_H */

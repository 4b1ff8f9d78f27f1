/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * blockhash.h: SHA-256 of two 4 KiB blocks at once, for the backup's
 * digest table (copy.c).
 *
 * The digests are plain SHA-256 (FIPS 180-4) of each block, the same
 * bytes OpenSSL's SHA256 () gives; only the speed differs.  The x86
 * SHA extensions compute one 64-byte round group as a chain of
 * dependent sha256rnds2 instructions, so one message leaves the unit
 * idle for most of each instruction's latency; two independent
 * messages interleaved fill it.  Measured on the 2-core bench machine
 * (docs/performance.md, "Backups"): 2.66 GB/s of CPU time against
 * OpenSSL's 1.50 GB/s on 4 KiB blocks.
 */

#ifndef SNAPVOL_BLOCKHASH_H
#define SNAPVOL_BLOCKHASH_H

#include <stdbool.h>

#define BLOCKHASH_BLOCK  4096
#define BLOCKHASH_DIGEST 32

/* Whether this CPU has what blockhash_pair needs (the SHA extensions
 * and SSE4.1).  Asks the CPU once; thread-safe.  Always false on other
 * architectures. */
extern bool blockhash_available (void);

/* The SHA-256 digests of the BLOCKHASH_BLOCK bytes at A and at B into
 * OUT_A and OUT_B.  Only when blockhash_available () is true; never
 * fails, never allocates. */
extern void blockhash_pair (const unsigned char *a, const unsigned char *b,
                            unsigned char out_a[BLOCKHASH_DIGEST],
                            unsigned char out_b[BLOCKHASH_DIGEST])
  __attribute__((nonnull));

#endif /* SNAPVOL_BLOCKHASH_H */

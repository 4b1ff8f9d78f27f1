/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * test-blockhash.c: unit tests of client/blockhash.h: the two-lane
 * SHA-256 of 4 KiB blocks gives, for each lane, exactly OpenSSL's
 * SHA-256 of that block, whatever the other lane holds, and the known
 * digest of a zero block.  Skipped on a CPU without the SHA
 * extensions (the backup then uses OpenSSL alone).
 */

#include <config.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "blockhash.h"

#define NBLOCKS 64

static unsigned char blocks[NBLOCKS][BLOCKHASH_BLOCK];

/* Blocks unlike each other: a pseudo-random fill, all zeroes, all
 * ones, a single bit set in the first and in the last byte. */
static void
fill_blocks (void)
{
  uint64_t x = 0x9e3779b97f4a7c15ULL;
  size_t i, k;

  for (i = 0; i < NBLOCKS; i++)
    for (k = 0; k < BLOCKHASH_BLOCK; k++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      blocks[i][k] = (unsigned char) x;
    }
  memset (blocks[1], 0, BLOCKHASH_BLOCK);
  memset (blocks[2], 0xff, BLOCKHASH_BLOCK);
  memset (blocks[3], 0, BLOCKHASH_BLOCK);
  blocks[3][0] = 1;
  memset (blocks[4], 0, BLOCKHASH_BLOCK);
  blocks[4][BLOCKHASH_BLOCK - 1] = 0x80;
}

static void
hex (const unsigned char d[BLOCKHASH_DIGEST], char out[65])
{
  int i;

  for (i = 0; i < BLOCKHASH_DIGEST; i++)
    snprintf (out + 2 * i, 3, "%02x", d[i]);
}

static void
test_every_pair_of_blocks_hashes_as_openssl_does (void **state)
{
  unsigned char a[BLOCKHASH_DIGEST], b[BLOCKHASH_DIGEST];
  unsigned char want_a[BLOCKHASH_DIGEST], want_b[BLOCKHASH_DIGEST];
  char got[65], want[65];
  size_t i, k;

  (void) state;
  if (!blockhash_available ())
    skip ();
  for (i = 0; i < NBLOCKS; i++)
    for (k = 0; k < NBLOCKS; k += 7) {
      blockhash_pair (blocks[i], blocks[k], a, b);
      SHA256 (blocks[i], BLOCKHASH_BLOCK, want_a);
      SHA256 (blocks[k], BLOCKHASH_BLOCK, want_b);
      hex (a, got);
      hex (want_a, want);
      assert_string_equal (got, want);
      hex (b, got);
      hex (want_b, want);
      assert_string_equal (got, want);
    }
}

static void
test_a_zero_block_has_the_known_digest (void **state)
{
  unsigned char a[BLOCKHASH_DIGEST], b[BLOCKHASH_DIGEST];
  char got[65];

  (void) state;
  if (!blockhash_available ())
    skip ();
  blockhash_pair (blocks[1], blocks[2], a, b);
  hex (a, got);
  /* sha256sum of 4096 zero bytes (head -c 4096 /dev/zero). */
  assert_string_equal (got, "ad7facb2586fc6e966c004d7d1d16b024f5805ff7cb47c7a"
                       "85dabd8b48892ca7");
}

static void
test_output_may_alias_nothing_but_its_own_lane (void **state)
{
  unsigned char both[2 * BLOCKHASH_DIGEST], want[BLOCKHASH_DIGEST];

  (void) state;
  if (!blockhash_available ())
    skip ();
  /* Adjacent outputs, as in the backup's digest table. */
  blockhash_pair (blocks[0], blocks[5], both, both + BLOCKHASH_DIGEST);
  SHA256 (blocks[0], BLOCKHASH_BLOCK, want);
  assert_memory_equal (both, want, BLOCKHASH_DIGEST);
  SHA256 (blocks[5], BLOCKHASH_BLOCK, want);
  assert_memory_equal (both + BLOCKHASH_DIGEST, want, BLOCKHASH_DIGEST);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_every_pair_of_blocks_hashes_as_openssl_does),
    cmocka_unit_test (test_a_zero_block_has_the_known_digest),
    cmocka_unit_test (test_output_may_alias_nothing_but_its_own_lane),
  };

  fill_blocks ();
  return cmocka_run_group_tests (tests, NULL, NULL);
}

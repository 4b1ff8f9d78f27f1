/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * blockhash.c: SHA-256 of two 4 KiB blocks at once with the x86 SHA
 * extensions (see blockhash.h).
 *
 * Design notes
 *
 * The state registers.  sha256rnds2 keeps the eight working variables
 * in two registers, ABEF = {F, E, B, A} and CDGH = {H, G, D, C}
 * (32-bit lanes, lowest first), and does two rounds per instruction:
 * rnds2 (CDGH, ABEF, W+K) returns the new ABEF, and the old ABEF is
 * the new CDGH.  So a pair of calls with the two registers swapped is
 * four rounds.
 *
 * The message schedule, four words at a time: with M0..M3 the last
 * sixteen words W[t-16..t-1] (M0 oldest), the next four are
 * msg2 (msg1 (M0, M1) + {W[t-7..t-4]}, M3), where msg1 adds sigma0 of
 * W[t-15..t-12], the middle term is alignr (M3, M2, 4 bytes), and msg2
 * adds sigma1 of the two words before each (it computes the last two
 * from the first two).  The ring of four registers is indexed by the
 * round group modulo 4.
 *
 * A 4 KiB block is 64 chunks of 64 bytes and one padding chunk, the
 * same for every block (0x80, zeroes, the length 32768 in bits, big
 * endian), so two blocks run in lockstep through one loop and the
 * compiler interleaves their independent instructions.
 */

#include <config.h>

#include <stdint.h>
#include <stdlib.h>

#include "blockhash.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#define LANES 2
#define TARGET __attribute__((target ("sha,sse4.1")))

/* FIPS 180-4, 4.2.2: the first 32 bits of the fractional parts of the
 * cube roots of the first 64 primes. */
static const uint32_t round_k[64] __attribute__((aligned (16))) = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5,
  0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
  0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
  0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
  0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3,
  0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5,
  0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* FIPS 180-4, 5.3.3: the initial hash value H(0), A to H. */
static const uint32_t initial_h[8] __attribute__((aligned (16))) = {
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
  0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

/* The last chunk of every 4 KiB message: 0x80, zeroes, and the
 * message's length in bits (32768) as a big-endian 64-bit number. */
static const unsigned char pad_chunk[64] = {
  [0] = 0x80, [62] = 0x80,
};

/* Reverses the bytes of each 32-bit lane: SHA-256 words are big
 * endian. */
TARGET static inline __m128i
byte_swap_mask (void)
{
  return _mm_set_epi64x (0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
}

/* One 64-byte chunk of each lane: update ABEF and CDGH. */
TARGET static inline void
compress (__m128i abef[LANES], __m128i cdgh[LANES],
          const unsigned char *const chunk[LANES])
{
  const __m128i swap = byte_swap_mask ();
  __m128i m[LANES][4], s0[LANES], s1[LANES], wk;
  int g, l;

  for (l = 0; l < LANES; l++) {
    s0[l] = abef[l];
    s1[l] = cdgh[l];
  }
#pragma GCC unroll 16
  for (g = 0; g < 16; g++) {
    const __m128i k = _mm_load_si128 ((const __m128i *) &round_k[4 * g]);

#pragma GCC unroll 2
    for (l = 0; l < LANES; l++) {
      if (g < 4)
        m[l][g] = _mm_shuffle_epi8
          (_mm_loadu_si128 ((const __m128i *) (chunk[l] + 16 * g)), swap);
      else
        m[l][g & 3] = _mm_sha256msg2_epu32
          (_mm_add_epi32 (_mm_sha256msg1_epu32 (m[l][g & 3],
                                                m[l][(g + 1) & 3]),
                          _mm_alignr_epi8 (m[l][(g + 3) & 3],
                                           m[l][(g + 2) & 3], 4)),
           m[l][(g + 3) & 3]);
      wk = _mm_add_epi32 (m[l][g & 3], k);
      s1[l] = _mm_sha256rnds2_epu32 (s1[l], s0[l], wk);
      s0[l] = _mm_sha256rnds2_epu32 (s0[l], s1[l],
                                     _mm_shuffle_epi32 (wk, 0x0e));
    }
  }
  for (l = 0; l < LANES; l++) {
    abef[l] = _mm_add_epi32 (abef[l], s0[l]);
    cdgh[l] = _mm_add_epi32 (cdgh[l], s1[l]);
  }
}

TARGET static void
hash_pair (const unsigned char *const block[LANES],
           unsigned char *const out[LANES])
{
  const __m128i swap = byte_swap_mask ();
  const __m128i abcd = _mm_load_si128 ((const __m128i *) &initial_h[0]);
  const __m128i efgh = _mm_load_si128 ((const __m128i *) &initial_h[4]);
  /* {A B C D} and {E F G H} into {F E B A} and {H G D C}. */
  const __m128i badc = _mm_shuffle_epi32 (abcd, 0xb1);
  const __m128i hgfe = _mm_shuffle_epi32 (efgh, 0x1b);
  __m128i abef[LANES], cdgh[LANES];
  const unsigned char *chunk[LANES];
  int i, l;

  for (l = 0; l < LANES; l++) {
    abef[l] = _mm_alignr_epi8 (badc, hgfe, 8);
    cdgh[l] = _mm_blend_epi16 (hgfe, badc, 0xf0);
  }
  for (i = 0; i < BLOCKHASH_BLOCK / 64; i++) {
    for (l = 0; l < LANES; l++)
      chunk[l] = block[l] + 64 * i;
    compress (abef, cdgh, chunk);
  }
  for (l = 0; l < LANES; l++)
    chunk[l] = pad_chunk;
  compress (abef, cdgh, chunk);

  /* Back to {A B C D} and {E F G H}, each word big endian. */
  for (l = 0; l < LANES; l++) {
    const __m128i feba = _mm_shuffle_epi32 (abef[l], 0x1b);
    const __m128i dchg = _mm_shuffle_epi32 (cdgh[l], 0xb1);

    _mm_storeu_si128 ((__m128i *) out[l],
                      _mm_shuffle_epi8 (_mm_blend_epi16 (feba, dchg, 0xf0),
                                        swap));
    _mm_storeu_si128 ((__m128i *) (out[l] + 16),
                      _mm_shuffle_epi8 (_mm_alignr_epi8 (dchg, feba, 8),
                                        swap));
  }
}

bool
blockhash_available (void)
{
  return __builtin_cpu_supports ("sha") && __builtin_cpu_supports ("sse4.1");
}

void
blockhash_pair (const unsigned char *a, const unsigned char *b,
                unsigned char out_a[BLOCKHASH_DIGEST],
                unsigned char out_b[BLOCKHASH_DIGEST])
{
  const unsigned char *const block[LANES] = { a, b };
  unsigned char *const out[LANES] = { out_a, out_b };

  hash_pair (block, out);
}

#else /* not x86 */

bool
blockhash_available (void)
{
  return false;
}

void
blockhash_pair (const unsigned char *a, const unsigned char *b,
                unsigned char out_a[BLOCKHASH_DIGEST],
                unsigned char out_b[BLOCKHASH_DIGEST])
{
  (void) a, (void) b, (void) out_a, (void) out_b;
  abort ();                     /* callers check blockhash_available */
}

#endif

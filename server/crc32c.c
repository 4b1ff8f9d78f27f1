/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * crc32c.c: CRC-32C, using the SSE 4.2 instruction when the CPU has it
 * and a slice-by-8 table otherwise.
 */

#include <config.h>

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "crc32c.h"

#define POLY 0x82f63b78u        /* reflected Castagnoli polynomial */

static uint32_t table[8][256];
static int have_sse42;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void
init_tables (void)
{
  uint32_t i, j, c;

  for (i = 0; i < 256; i++) {
    c = i;
    for (j = 0; j < 8; j++)
      c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
    table[0][i] = c;
  }
  for (i = 0; i < 256; i++)
    for (j = 1; j < 8; j++)
      table[j][i] = (table[j - 1][i] >> 8) ^ table[0][table[j - 1][i] & 0xff];
#if defined(__x86_64__)
  __builtin_cpu_init ();
  have_sse42 = __builtin_cpu_supports ("sse4.2");
#endif
}

static uint32_t
crc_sw (uint32_t crc, const uint8_t *p, size_t len)
{
  while (len >= 8) {
    uint64_t v;
    memcpy (&v, p, 8);
    v ^= crc;                   /* little-endian host assumed below */
    crc = table[7][v & 0xff] ^ table[6][(v >> 8) & 0xff] ^
      table[5][(v >> 16) & 0xff] ^ table[4][(v >> 24) & 0xff] ^
      table[3][(v >> 32) & 0xff] ^ table[2][(v >> 40) & 0xff] ^
      table[1][(v >> 48) & 0xff] ^ table[0][v >> 56];
    p += 8;
    len -= 8;
  }
  while (len--)
    crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
  return crc;
}

#if defined(__x86_64__)
__attribute__((target ("sse4.2")))
static uint32_t
crc_hw (uint32_t crc, const uint8_t *p, size_t len)
{
  uint64_t c = crc;

  while (len >= 8) {
    uint64_t v;
    memcpy (&v, p, 8);
    c = __builtin_ia32_crc32di (c, v);
    p += 8;
    len -= 8;
  }
  crc = (uint32_t) c;
  while (len--)
    crc = __builtin_ia32_crc32qi (crc, *p++);
  return crc;
}
#endif

uint32_t
crc32c (uint32_t crc, const void *buf, size_t len)
{
  pthread_once (&once, init_tables);
  crc = ~crc;
#if defined(__x86_64__)
  if (have_sse42)
    return ~crc_hw (crc, buf, len);
#endif
  return ~crc_sw (crc, buf, len);
}

/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * crc32c.h: CRC-32C (Castagnoli), the checksum of every metadata block.
 */

#ifndef SNAPVOL_CRC32C_H
#define SNAPVOL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continue CRC over LEN bytes; start with crc32c (0, ...). */
extern uint32_t crc32c (uint32_t crc, const void *buf, size_t len);

#endif /* SNAPVOL_CRC32C_H */

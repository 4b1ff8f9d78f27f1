/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * fuzz-checkpoint.c: libFuzzer target for checkpoint loading.  The
 * input is mostly a volume's checkpoint (volimage.h describes the
 * layout; a short journal tail may precede it), which the engine loads
 * at pool_open before the volume is read, closed and reopened.
 */

#include <config.h>

#include <stddef.h>
#include <stdint.h>

#include "volimage.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct vimage im;

  if (vimage_parse (&im, data, size, VI_RECORDS_FIRST) == 0)
    vimage_check (&im);
  return 0;
}

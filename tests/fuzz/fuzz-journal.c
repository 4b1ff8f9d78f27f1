/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * fuzz-journal.c: libFuzzer target for journal replay.  The input is
 * mostly the journal records of a volume (volimage.h describes the
 * layout; the checkpoint part is usually empty), which the engine
 * replays at pool_open before the volume is read, closed and reopened.
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

  if (vimage_parse (&im, data, size, VI_CKPT_FIRST) == 0)
    vimage_check (&im);
  return 0;
}

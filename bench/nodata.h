/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * nodata.h: sio_posix without the data file's bytes (nodata.c), for
 * the benchmarks that measure the map, not the data.
 */

#ifndef SNAPVOL_NODATA_H
#define SNAPVOL_NODATA_H

#include <stdint.h>

#include "sio.h"

/* The storage layer: reads of a volume's data file return zeroes,
 * writes, syncs and reservations of it do nothing; everything else is
 * sio_posix.  One per process (it tracks the data files' handles). */
extern const struct sv_io *bu_nodata_io (void);

/* The syncs (fdatasync, and fsync of a directory) asked of the layer
 * so far, those of data files included (which it drops). */
extern uint64_t bu_nodata_syncs (void);

#endif /* SNAPVOL_NODATA_H */

/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * exposure.h: the warning given at start when nbdkit serves NBD beyond
 * loopback without requiring TLS.
 */

#ifndef SNAPVOL_EXPOSURE_H
#define SNAPVOL_EXPOSURE_H

/* Warn, through nbdkit_error, when nbdkit listens on a TCP address
 * other than loopback and its command line does not have
 * --tls=require.  nbdkit tells a plugin neither where it listens nor
 * its TLS mode, so both are read from the process: the listening
 * sockets among its descriptors (nbdkit has bound them by the time
 * .after_fork runs) and /proc/self/cmdline.  Unix sockets, vsock,
 * socket activation of loopback sockets and -s are not warned about.
 * Never fails: what cannot be read is reported as such in a debug
 * message.  Call from .after_fork. */
extern void exposure_check (void);

#endif /* SNAPVOL_EXPOSURE_H */

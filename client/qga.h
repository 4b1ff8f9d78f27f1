/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * qga.h: snapvol-writer's client of the qemu guest agent (--qga
 * SOCKET): freezes a VM's filesystems for the pin of a snapshot set,
 * as libvirt does for `virsh snapshot-create --quiesce`.
 *
 * SOCKET is the host side of the agent's channel: the Unix socket of
 * the chardev behind the guest's virtio-serial port
 * org.qemu.guest_agent.0 (`-chardev socket,path=SOCKET,server=on,
 * wait=off`).  Each call opens its own connection, resynchronises with
 * guest-sync-delimited (a 0xFF byte, then a fresh id the answer must
 * echo after the agent's 0xFF sentinel), sends one command, reads its
 * answer and closes: stale answers of an earlier client that gave up
 * are skipped, and a VM restarted between sets is simply reached
 * again.  The chardev serves one client at a time; while another
 * holds it, a call waits (within its timeout) like any agent that does
 * not answer.
 *
 * docs/writers.md ("VMs: --qga") describes the behaviour the user
 * sees; the exact reasons are tested by
 * tests/e2e/test-e2e-writer-qga-*.sh.
 */

#ifndef SNAPVOL_QGA_H
#define SNAPVOL_QGA_H

#include <stddef.h>

#include "snapvol-writer.h"

struct qga;

/* A client of the agent at PATH (copied).  NULL with errno ENOMEM.
 * Nothing is connected until the first event. */
extern struct qga *qga_new (const char *path) __attribute__((nonnull));

/* Free Q (NULL is allowed).  Does not thaw: snapvol-writer's thaw and
 * abort events do that before the writer ends. */
extern void qga_free (struct qga *q);

/* Handle event EV of the writer's set for the guest, within
 * TIMEOUT_MS (the whole conversation, connect included):
 *
 *   prepare        check that the agent answers and that the guest's
 *                  filesystems are thawed (guest-fsfreeze-status);
 *   freeze         guest-fsfreeze-freeze;
 *   thaw           guest-fsfreeze-thaw;
 *   abort          guest-fsfreeze-thaw, only if a freeze of ours may
 *                  still hold (one whose answer did not come);
 *   post_snapshot  nothing.
 *
 * Returns 0, or -1 with a one-line reason in MESSAGE (LEN bytes,
 * NUL-terminated) naming the socket and the command: the agent cannot
 * be reached, did not answer within TIMEOUT_MS, is not a qemu guest
 * agent, or answered an error (its class and description are quoted).
 *
 * The guest is never left frozen by a failed freeze: when the freeze
 * was sent and its answer is an error, is missing or is not the
 * agent's, a thaw follows at once on a new connection.  The freeze
 * gets two thirds of TIMEOUT_MS and the thaw what is left (at least a
 * third), so the answer still comes within TIMEOUT_MS; the reason says
 * whether the guest is thawed.  If that thaw is not confirmed either, the
 * abort event that follows a failed freeze sends it again.  Blocks;
 * not thread-safe (snapvol-writer runs one event at a time). */
extern int qga_event (struct qga *q, const struct snapvol_writer_event *ev,
                      int timeout_ms, char *message, size_t len)
  __attribute__((nonnull));

#endif /* SNAPVOL_QGA_H */

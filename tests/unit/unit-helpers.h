/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * unit-helpers.h: helpers shared by the engine's unit tests: scratch
 * pools, byte patterns, space and extent queries, on-disk block
 * surgery and child processes.
 *
 * Every helper that can fail fails the current cmocka test, except the
 * ones documented as usable in a forked child (ut_child_*), which must
 * never longjmp into cmocka from another process.
 */

#ifndef SNAPVOL_UNIT_HELPERS_H
#define SNAPVOL_UNIT_HELPERS_H

#include <stddef.h>
#include <stdint.h>

#include "pool.h"

#define KiB 1024u
#define MiB (1024u * 1024u)

/* Assert that EXPR returned -1 (or, for the _null form, NULL) with
 * errno ERR. */
#define assert_fails_with(expr, err)                                    \
  do {                                                                  \
    int r_, e_;                                                         \
    errno = 0;                                                          \
    r_ = (expr);                                                        \
    e_ = errno;                                                         \
    assert_int_equal (r_, -1);                                          \
    assert_int_equal (e_, (err));                                       \
  } while (0)
#define assert_null_with(expr, err)                                     \
  do {                                                                  \
    const void *p_;                                                     \
    int e_;                                                             \
    errno = 0;                                                          \
    p_ = (expr);                                                        \
    e_ = errno;                                                         \
    assert_null (p_);                                                   \
    assert_int_equal (e_, (err));                                       \
  } while (0)

/* Assert that sv_errmsg() contains WHAT. */
#define assert_errmsg_names(what) \
  ut_assert_errmsg_names ((what), __FILE__, __LINE__)
extern void ut_assert_errmsg_names (const char *what, const char *file,
                                    int line);

/* A fresh directory under $TMPDIR (or /tmp); malloc'd path. */
extern char *ut_mkdtemp (void);
/* Remove DIR and everything below it. */
extern void ut_rmtree (const char *dir);

/* Open (create) the pool in DIR; CHECKPOINT_BYTES 0 for the default.
 * No data file reservations (SV_PREALLOC_NONE): a data file's blocks
 * are the data written.  Fails the test on error. */
extern struct sv_pool *ut_pool_open (const char *dir,
                                     uint64_t checkpoint_bytes, int create);
/* The same with every option (OPTS->io selects the storage layer). */
extern struct sv_pool *ut_pool_open_opts (const char *dir,
                                          const struct sv_pool_options *opts,
                                          int create);
extern void ut_pool_close (struct sv_pool *pool);
extern struct sv_view *ut_view_open (struct sv_pool *pool,
                                     const char *export);

/* splitmix64's finaliser: a cheap, well-mixed bijection of 64-bit
 * words (the patterns and the generator below are built on it). */
static inline uint64_t
ut_mix64 (uint64_t x)
{
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/* A seeded pseudo-random generator (splitmix64), the same on every
 * platform, so that a printed seed repeats a run exactly.  *STATE is
 * the whole state; any value is a valid seed. */
extern uint64_t ut_rand (uint64_t *state);
/* Uniform in [0, N), N > 0. */
extern uint64_t ut_rand_below (uint64_t *state, uint64_t n);
/* An unrelated seed derived from SEED and N (e.g. one per iteration),
 * so that one iteration can be rerun without the ones before it. */
extern uint64_t ut_seed_derive (uint64_t seed, uint64_t n);

/* The unsigned integer in environment variable NAME (decimal, or hex
 * with 0x), or DEF when it is unset or empty. */
extern uint64_t ut_env_u64 (const char *name, uint64_t def);

/* Behaviour that contradicts the documentation and has been reported:
 * prints "KNOWN ENGINE ISSUE: WHAT" and returns 1 (the caller then
 * skips the test), unless SNAPVOL_TEST_KNOWN_ISSUES=1 asks to see the
 * failure (to check a fix), then returns 0. */
extern int ut_known_issue (const char *what);

/* Deterministic bytes: the content of [OFF, OFF+LEN) of a device
 * filled with pattern SEED.  Seeds give unrelated contents; no 8-byte
 * aligned word of a pattern is zero. */
extern void ut_pattern (void *buf, size_t len, uint64_t off, uint32_t seed);

/* Write pattern SEED at [OFF, OFF+LEN) (into SHADOW too, if not NULL,
 * SHADOW being the expected content of the whole device). */
extern void ut_write_pattern (struct sv_view *view, uint64_t off,
                              uint32_t len, uint32_t seed, uint8_t *shadow);
/* Read [OFF, OFF+LEN) and compare with EXPECTED, reporting the first
 * differing byte. */
#define assert_view_reads(view, off, len, expected) \
  ut_assert_view_reads ((view), (off), (len), (expected), __FILE__, __LINE__)
extern void ut_assert_view_reads (struct sv_view *view, uint64_t off,
                                  uint32_t len, const void *expected,
                                  const char *file, int line);
/* The same for pattern SEED, and for zeroes. */
#define assert_pattern(view, off, len, seed) \
  ut_assert_pattern ((view), (off), (len), (seed), __FILE__, __LINE__)
#define assert_zero(view, off, len) \
  ut_assert_zero ((view), (off), (len), __FILE__, __LINE__)
extern void ut_assert_pattern (struct sv_view *view, uint64_t off,
                               uint32_t len, uint32_t seed,
                               const char *file, int line);
extern void ut_assert_zero (struct sv_view *view, uint64_t off, uint32_t len,
                            const char *file, int line);

/* Space. */
extern void ut_volume_info (struct sv_pool *pool, const char *name,
                            struct sv_volume_info *vi);
extern void ut_snapshot_info (struct sv_pool *pool, const char *id,
                              struct sv_snapshot_info *si);
extern size_t ut_snapshot_count (struct sv_pool *pool, const char *volume);
/* Bytes the filesystem allocated to DIR/volumes/NAME/data. */
extern uint64_t ut_data_blocks (const char *dir, const char *name);
/* PATH of a file of volume NAME in pool DIR. */
extern void ut_volume_file (char *path, size_t len, const char *dir,
                            const char *name, const char *file);

/* Snapshot one volume; the snapshot's id into ID. */
extern void ut_snapshot (struct sv_pool *pool, const char *name,
                         char id[SV_UUID_STRLEN + 1]);

/* Extents, as view_extents reports them. */
struct ut_extent {
  uint64_t offset, length;
  uint32_t flags;
};
#define UT_MAX_EXTENTS 64
struct ut_extents {
  size_t n;
  struct ut_extent e[UT_MAX_EXTENTS];
};
extern void ut_extents (struct sv_view *view, uint64_t off, uint32_t count,
                        int req_one, struct ut_extents *out);

/* Files. */
extern uint64_t ut_file_size (const char *path);
extern void ut_file_read (const char *path, void *buf, size_t len,
                          uint64_t off);
extern void ut_file_write (const char *path, const void *buf, size_t len,
                           uint64_t off);
extern void ut_file_truncate (const char *path, uint64_t size);
extern void ut_flip_byte (const char *path, uint64_t off);
/* Rewrite the le32 at OFF of the 4 KiB metadata block at the start of
 * PATH and recompute its checksum. */
extern void ut_block_set_le32 (const char *path, size_t off, uint32_t v);

/* The state a power cut leaves when it takes the last commit's journal
 * mark (written after that commit's fdatasync, never synced by itself):
 * the newest of JPATH's two mark slots is zeroed, the older one stands.
 * Fails the test if the file has no mark. */
extern void ut_journal_drop_newest_mark (const char *jpath);
/* The last journal file of volume NAME (highest number) into PATH. */
extern void ut_last_journal (char *path, size_t len, const char *dir,
                             const char *name);

/* A storage I/O layer (POSIX underneath) that can stop the next write
 * of one kind of file until the test lets it go, to hold an operation
 * at a chosen point.  Pass ut_gated_io as sv_pool_options.io. */
enum ut_gate_kind {
  UT_GATE_DATA,                 /* a volume's data file */
  UT_GATE_JOURNAL,              /* a journal file */
};
extern const struct sv_io ut_gated_io;
/* Stop the next write of KIND (one write, in any thread). */
extern void ut_gate_arm (enum ut_gate_kind kind);
/* Wait until a write is stopped. */
extern void ut_gate_wait_stopped (void);
/* Let the stopped write (and any later one) go. */
extern void ut_gate_let_go (void);

/* Run FN(ARG) in a forked child that exits without closing anything,
 * as a killed server would; fails the test unless FN returned 0.  FN
 * must not use cmocka assertions: use ut_child_check. */
extern void ut_run_child (int (*fn) (void *arg), void *arg);
/* In a child: report MSG (with sv_errmsg()) and exit 1 unless OK. */
#define ut_child_check(ok, msg) \
  ut_child_check_at ((ok), (msg), __FILE__, __LINE__)
extern void ut_child_check_at (int ok, const char *msg, const char *file,
                               int line);

#endif /* SNAPVOL_UNIT_HELPERS_H */

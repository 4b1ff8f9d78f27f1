/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * output.h: what snapvolctl prints on stdout: JSON values, aligned
 * tables, and fields of the server's answers made readable.
 *
 * The field readers never fail: the server's answer is not trusted
 * to have every member, so a missing or mistyped one reads as "-"
 * (strings) or 0 (numbers) in the human-readable output.
 */

#ifndef SNAPVOL_OUTPUT_H
#define SNAPVOL_OUTPUT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* Print V on one line followed by a newline.  -1 (reported) on error. */
extern int out_json (json_t *v);

/* Replace control characters in every string within V by '?', so
 * that text from the server (a label) cannot break a table or send
 * escape sequences to the terminal.  For the human-readable output
 * only: --json prints strings as they are, escaped. */
extern void out_sanitize (json_t *v);

/* Member KEY of OBJ as a string ("-" if it is not one). */
extern const char *out_str (json_t *obj, const char *key);
/* Member KEY of OBJ as a non-negative integer (0 if it is not one). */
extern uint64_t out_u64 (json_t *obj, const char *key);
/* Member KEY (bytes) as "64 MiB", into BUF of HUMANSIZE_BUFLEN bytes. */
extern const char *out_size (json_t *obj, const char *key, char *buf,
                             size_t len);
/* Member KEY (Unix seconds) as local "YYYY-MM-DD HH:MM:SS", or "-". */
extern const char *out_time (json_t *obj, const char *key, char *buf,
                             size_t len);
#define OUT_TIME_BUFLEN 32

/* A table of strings printed with aligned columns. */
struct out_column {
  const char *header;
  int right;                    /* right-align (numbers) */
};
struct out_table;

#define OUT_TABLE_MAX_COLUMNS 16

/* NCOLS (at most OUT_TABLE_MAX_COLUMNS) columns described by COLS (not
 * copied: must outlive the table).  NULL with EINVAL or ENOMEM. */
extern struct out_table *out_table_new (const struct out_column *cols,
                                        size_t ncols);
/* Append a row of NCOLS strings (copied).  -1 on ENOMEM. */
extern int out_table_add (struct out_table *t, ...);
/* Print the header and the rows to stdout. */
extern void out_table_print (const struct out_table *t);
extern void out_table_free (struct out_table *t);

/* Add to T the row for ELEM, an element of a listing.  -1 on ENOMEM. */
typedef int out_row_fn (struct out_table *t, json_t *elem);

/* Print LIST (an array) as a table of the NCOLS columns COLS with a
 * row per element made by ROW, or the line NONE ("No volumes.") when
 * LIST is empty.  0, or -1 after logging "WHAT: out of memory". */
extern int out_list (json_t *list, const struct out_column *cols,
                     size_t ncols, const char *none, const char *what,
                     out_row_fn *row)
  __attribute__((nonnull (2, 4, 5, 6)));

#endif /* SNAPVOL_OUTPUT_H */

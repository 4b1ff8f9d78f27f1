/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * fuzz-jsonrpc.c: libFuzzer target for the JSON-RPC framing, decoding
 * and validation of common/jsonrpc.c, which every control connection
 * runs on bytes from its peer.
 *
 * Input: byte 0 chooses how the rest is cut into the pieces fed to the
 * framer (0: all at once, else pieces of 1 to 64 bytes; 0xff also puts
 * a line longer than the limit in front); the rest is the byte stream.
 * Beyond "no crash, no leak", the target checks:
 *   - the framer yields exactly the non-blank complete lines of the
 *     stream, however it is cut, and jsonrpc_recv_fd reads the same
 *     messages from a socket; a line over the limit is refused;
 *   - a decoded message encodes, and the encoding decodes to an equal
 *     message that classifies the same way;
 *   - an invalid message comes with a reason, and the error answer
 *     that echoes it (or an unknown method's name) can be encoded.
 */

#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "jsonrpc.h"


int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void fail (const char *fmt, ...)
  __attribute__((format (printf, 1, 2), noreturn));

static void
fail (const char *fmt, ...)
{
  va_list ap;

  fprintf (stderr, "fuzz-jsonrpc: ");
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fprintf (stderr, "\n");
  abort ();
}

/* The messages a framer must yield from S: each complete line, without
 * its newline, unless it holds only blanks.  Returns their number and,
 * if LINES is not NULL, stores their starts and lengths. */
static size_t
reference_lines (const char *s, size_t n, const char **lines, size_t *lens)
{
  size_t count = 0, start = 0, i, j;

  for (i = 0; i < n; i++) {
    if (s[i] != '\n')
      continue;
    for (j = start; j < i; j++)
      if (s[j] != ' ' && s[j] != '\t' && s[j] != '\r')
        break;
    if (j < i) {
      if (lines) {
        lines[count] = s + start;
        lens[count] = i - start;
      }
      count++;
    }
    start = i + 1;
  }
  return count;
}

/* ANSWER, an error answer echoing TEXT, must have been built and must
 * encode to one line. */
static void
check_answerable (json_t *answer, const char *text)
{
  char *framed;
  size_t len;

  if (answer == NULL)
    fail ("jsonrpc_error could not build an answer echoing \"%s\"", text);
  framed = jsonrpc_encode (answer, &len);
  if (framed == NULL)
    fail ("jsonrpc_encode failed on an error answer: %m");
  if (len == 0 || framed[len - 1] != '\n' || memchr (framed, '\n', len - 1))
    fail ("an encoded answer is not exactly one line");
  json_decref (answer);
  free (framed);
}

/* Decode, classify, re-encode and answer one framed message. */
static void
check_message (const char *text, size_t len)
{
  char err[256], err2[256];
  enum jsonrpc_kind kind, kind2;
  json_t *msg, *again;
  char *framed;
  size_t flen;
  int code = 0;

  msg = jsonrpc_decode (text, len, &code, err, sizeof err);
  if (msg == NULL) {
    if (code != JSONRPC_PARSE_ERROR && code != JSONRPC_INVALID_REQUEST)
      fail ("jsonrpc_decode failed with code %d", code);
    if (err[0] == '\0')
      fail ("jsonrpc_decode failed without a reason");
    check_answerable (jsonrpc_error (NULL, code, NULL, "%s", err), err);
    return;
  }
  if (!json_is_object (msg))
    fail ("jsonrpc_decode returned something other than an object");

  kind = jsonrpc_classify (msg, err, sizeof err);
  if (kind == JSONRPC_INVALID) {
    if (err[0] == '\0')
      fail ("jsonrpc_classify found a message invalid without a reason");
    check_answerable (jsonrpc_error (NULL, JSONRPC_INVALID_REQUEST,
                                     jsonrpc_errno_data (EINVAL), "%s", err),
                      err);
  }
  else if (kind == JSONRPC_REQUEST) {
    const char *method = json_string_value (json_object_get (msg, "method"));
    check_answerable (jsonrpc_error (json_object_get (msg, "id"),
                                     JSONRPC_METHOD_NOT_FOUND, NULL,
                                     "unknown method %s", method), method);
  }

  framed = jsonrpc_encode (msg, &flen);
  if (framed == NULL)
    fail ("jsonrpc_encode failed on a decoded message: %m");
  if (flen == 0 || framed[flen - 1] != '\n' || memchr (framed, '\n', flen - 1))
    fail ("an encoded message is not exactly one line");
  again = jsonrpc_decode (framed, flen - 1, &code, err2, sizeof err2);
  if (again == NULL)
    fail ("a message does not decode after encoding: %s", err2);
  if (!json_equal (msg, again))
    fail ("a message changed through encoding: %s", framed);
  kind2 = jsonrpc_classify (again, err2, sizeof err2);
  if (kind2 != kind)
    fail ("a message classified %d, but %d after encoding", kind, kind2);
  json_decref (again);
  free (framed);
  json_decref (msg);
}

/* Feed S to a framer in pieces of PIECE bytes (0: whole), check the
 * messages against the reference and each message on its own. */
static void
check_framing (const char *s, size_t n, size_t piece)
{
  struct jsonrpc_framer f = JSONRPC_FRAMER_INIT;
  size_t expected = reference_lines (s, n, NULL, NULL);
  const char **lines = malloc ((expected + 1) * sizeof *lines);
  size_t *lens = malloc ((expected + 1) * sizeof *lens);
  size_t off = 0, got = 0;

  if (lines == NULL || lens == NULL)
    fail ("out of memory");
  reference_lines (s, n, lines, lens);
  while (off < n) {
    size_t len = piece == 0 || n - off < piece ? n - off : piece;
    char *msg;
    size_t mlen;
    int r;

    if (jsonrpc_framer_feed (&f, s + off, len) == -1)
      fail ("jsonrpc_framer_feed: %m");
    off += len;
    while ((r = jsonrpc_framer_next (&f, &msg, &mlen)) == 1) {
      if (got == expected || mlen != lens[got] ||
          memcmp (msg, lines[got], mlen) != 0 || msg[mlen] != '\0')
        fail ("the framer's message %zu differs from line %zu of the"
              " stream", got, got);
      if (piece == 0)
        check_message (msg, mlen);
      free (msg);
      got++;
    }
    if (r == -1)
      fail ("jsonrpc_framer_next: %m");
  }
  if (got != expected)
    fail ("the framer yielded %zu messages, the stream has %zu lines",
          got, expected);
  jsonrpc_framer_free (&f);
  free (lines);
  free (lens);
}

/* A line longer than JSONRPC_MAX_MESSAGE followed by S: the framer
 * must refuse it with EMSGSIZE, and keep refusing. */
static void
check_oversize (const char *s, size_t n)
{
  struct jsonrpc_framer f = JSONRPC_FRAMER_INIT;
  static char filler[64 * 1024];
  size_t fed = 0;
  char *msg = NULL;
  int i;

  memset (filler, 'x', sizeof filler);
  while (fed <= JSONRPC_MAX_MESSAGE) {
    if (jsonrpc_framer_feed (&f, filler, sizeof filler) == -1)
      fail ("jsonrpc_framer_feed: %m");
    fed += sizeof filler;
  }
  if (n > 0 && jsonrpc_framer_feed (&f, s, n) == -1)
    fail ("jsonrpc_framer_feed: %m");
  for (i = 0; i < 2; i++)
    if (jsonrpc_framer_next (&f, &msg, NULL) != -1 || errno != EMSGSIZE)
      fail ("the framer did not refuse a line of more than %d bytes",
            JSONRPC_MAX_MESSAGE);
  jsonrpc_framer_free (&f);
}

/* Read S back through a socket with jsonrpc_recv_fd. */
static void
check_recv_fd (const char *s, size_t n)
{
  struct jsonrpc_framer f = JSONRPC_FRAMER_INIT;
  size_t expected = reference_lines (s, n, NULL, NULL), got = 0;
  char err[256];
  int sv[2];

  /* Nobody reads while we write: a stream that does not fit in the
   * socket buffer is skipped rather than blocking. */
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                  sv) == -1)
    fail ("socketpair: %m");
  if (n > 0 && write (sv[1], s, n) != (ssize_t) n) {
    close (sv[0]);
    close (sv[1]);
    return;
  }
  close (sv[1]);
  for (;;) {
    json_t *msg = jsonrpc_recv_fd (sv[0], &f, 5000, err, sizeof err);

    if (msg != NULL) {
      json_decref (msg);
      got++;
      continue;
    }
    if (errno == EBADMSG) {
      got++;
      continue;
    }
    if (errno != ECONNRESET)
      fail ("jsonrpc_recv_fd: %m (%s)", err);
    break;
  }
  if (got != expected)
    fail ("jsonrpc_recv_fd read %zu messages, the stream has %zu lines",
          got, expected);
  jsonrpc_framer_free (&f);
  close (sv[0]);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *s = (const char *) data + 1;
  size_t n;

  if (size < 1)
    return 0;
  n = size - 1;
  check_framing (s, n, 0);
  if (data[0] != 0)
    check_framing (s, n, data[0] % 64 + 1);
  if (data[0] == 0xff)
    check_oversize (s, n);
  check_recv_fd (s, n);
  return 0;
}

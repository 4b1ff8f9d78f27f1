/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * vector.h: growable arrays, one typed struct per element type.
 *
 *   DEFINE_VECTOR_TYPE (string_vector, char *);
 *   string_vector names = empty_vector;
 *   if (string_vector_append (&names, s) == -1) ... (errno is ENOMEM)
 *   for (i = 0; i < names.len; i++) ... names.ptr[i] ...
 *   string_vector_reset (&names);
 *
 * The struct is { ptr, len, cap }: PTR holds LEN elements in room for
 * CAP, callers read and write ptr[0 .. len-1] directly and may lower
 * LEN themselves.  Growth doubles the room (at least VECTOR_MIN_CAP
 * elements), so appending N elements costs O(N) copies in all.  Every
 * size computation is checked: a request whose byte count would not
 * fit in a size_t is refused with ENOMEM before any allocation, and a
 * failed call leaves the vector as it was.  The vector owns PTR, not
 * what the elements point to: free those before _reset.
 *
 * Header only, so that programs which do not link libsvcommon (the
 * benchmarks' floors) can use it too.
 */

#ifndef SNAPVOL_VECTOR_H
#define SNAPVOL_VECTOR_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* The smallest room a vector grows to. */
#define VECTOR_MIN_CAP 8

/* Room for at least N more elements of SIZE bytes after LEN in PTR
 * (room for *CAP).  Returns the (possibly moved) array and updates
 * *CAP, or NULL with errno ENOMEM (PTR and *CAP unchanged, PTR still
 * owned by the caller).  Callers check first that the room is short:
 * this always reallocates.  The typed _reserve is the usual way in; a
 * struct with its own { buf, len, cap } fields calls this directly. */
static inline void *
vector_grow (void *ptr, size_t len, size_t *cap, size_t n, size_t size)
{
  size_t want, newcap, bytes;
  void *p;

  if (__builtin_add_overflow (len, n, &want))
    goto too_big;
  if (__builtin_mul_overflow (*cap, 2, &newcap))
    newcap = want;
  if (newcap < VECTOR_MIN_CAP)
    newcap = VECTOR_MIN_CAP;
  if (newcap < want)
    newcap = want;
  if (__builtin_mul_overflow (newcap, size, &bytes)) {
    /* Doubling overflowed the byte count: try exactly what is asked. */
    newcap = want;
    if (__builtin_mul_overflow (newcap, size, &bytes))
      goto too_big;
  }
  p = realloc (ptr, bytes);
  if (p == NULL)
    return NULL;
  *cap = newcap;
  return p;

 too_big:
  errno = ENOMEM;
  return NULL;
}

/* Define NAME, a vector of TYPE, with:
 *   int NAME_reserve (NAME *v, size_t n): room for N more elements
 *     (LEN unchanged); 0, or -1 with ENOMEM.
 *   int NAME_append (NAME *v, TYPE elem): add ELEM at the end; 0, or
 *     -1 with ENOMEM.
 *   void NAME_reset (NAME *v): free the array, back to empty_vector.
 */
#define DEFINE_VECTOR_TYPE(name, type)                                  \
  typedef struct {                                                      \
    type *ptr;                                                          \
    size_t len;                                                         \
    size_t cap;                                                         \
  } name;                                                               \
                                                                        \
  static inline int __attribute__((unused, nonnull (1)))                    \
  name##_reserve (name *v, size_t n)                                    \
  {                                                                     \
    type *p;                                                            \
                                                                        \
    if (n <= v->cap - v->len)                                           \
      return 0;                                                         \
    p = vector_grow (v->ptr, v->len, &v->cap, n, sizeof (type));        \
    if (p == NULL)                                                      \
      return -1;                                                        \
    v->ptr = p;                                                         \
    return 0;                                                           \
  }                                                                     \
                                                                        \
  static inline int __attribute__((unused, nonnull (1)))                    \
  name##_append (name *v, type elem)                                    \
  {                                                                     \
    if (name##_reserve (v, 1) == -1)                                    \
      return -1;                                                        \
    v->ptr[v->len++] = elem;                                            \
    return 0;                                                           \
  }                                                                     \
                                                                        \
  static inline void __attribute__((unused, nonnull (1)))                   \
  name##_reset (name *v)                                                \
  {                                                                     \
    free (v->ptr);                                                      \
    v->ptr = NULL;                                                      \
    v->len = v->cap = 0;                                                \
  }

#define empty_vector { .ptr = NULL, .len = 0, .cap = 0 }

/* The common case: a list of strings (owned or not, as its user says). */
DEFINE_VECTOR_TYPE (string_vector, char *);

#endif /* SNAPVOL_VECTOR_H */

# SPDX-License-Identifier: BSD-3-Clause
# Flags shared by every folder's Makefile.am.
AM_CPPFLAGS = -I$(top_srcdir)/common -I$(top_srcdir)/server
AM_CFLAGS = $(WARNINGS_CFLAGS) $(SANITIZER_CFLAGS) $(DEBUG_CFLAGS) $(PTHREAD_CFLAGS)
AM_LDFLAGS = $(SANITIZER_LDFLAGS) $(PTHREAD_CFLAGS)

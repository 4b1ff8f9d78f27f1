# SPDX-License-Identifier: BSD-3-Clause
# Flags shared by every folder's Makefile.am.
AM_CPPFLAGS = -I$(top_srcdir)/common -I$(top_srcdir)/server
AM_CFLAGS = $(WARNINGS_CFLAGS) $(SANITIZER_CFLAGS) $(DEBUG_CFLAGS) $(PTHREAD_CFLAGS)
AM_LDFLAGS = $(SANITIZER_LDFLAGS) $(PTHREAD_CFLAGS)

# Manual pages are made from POD by pod2man at build time, as nbdkit's
# are: NAME.N from NAME.pod, in section N.  They are built, not
# distributed (the tarball carries the pod), and each folder lists its
# pages in nodist_manN_MANS and CLEANFILES.
POD2MAN = pod2man
SUFFIXES = .pod .1 .3 .5 .8
POD2MAN_RULE = $(POD2MAN) --section=$${sect} --center=snapvol \
	--release="snapvol-$(VERSION)" --name=`basename $@ .$${sect}` \
	--errors=die $< >$@.tmp && mv $@.tmp $@
.pod.1:
	$(AM_V_GEN)sect=1; $(POD2MAN_RULE)
.pod.3:
	$(AM_V_GEN)sect=3; $(POD2MAN_RULE)
.pod.5:
	$(AM_V_GEN)sect=5; $(POD2MAN_RULE)
.pod.8:
	$(AM_V_GEN)sect=8; $(POD2MAN_RULE)

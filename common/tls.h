/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * tls.h: OpenSSL contexts for the coordinator link, shared by the
 * coordinator, the plugin's provider link, writers and snapvolctl.
 *
 * Both sides present a certificate and verify the other's against one
 * CA bundle: the server requires a client certificate (mutual TLS), the
 * client verifies the server's chain and, when given a name, that the
 * certificate is issued for it (a subjectAltName DNS or IP entry).
 * TLS 1.2 is the minimum; 1.3 is negotiated whenever both sides have it.
 */

#ifndef SNAPVOL_TLS_H
#define SNAPVOL_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>

/* The files a TLS endpoint needs; all three are required.  The key
 * file must be private to its owner: one that group or others may
 * read, write or execute (mode & 077) is refused, as ssh refuses one,
 * with the message "KEY: private key is readable by group or others
 * (mode 0644); chmod 600 it". */
struct tls_files {
  const char *certificate;     /* PEM: our certificate (chain allowed) */
  const char *key;             /* PEM: its private key */
  const char *ca;              /* PEM: the CA bundle peers must chain to */
};

/* A context for the accepting side: peers without a certificate that
 * chains to CA fail the handshake.  NULL on failure with a message
 * naming the file and the reason (OpenSSL's, or the key's mode) in ERR
 * (ERRLEN bytes). */
extern SSL_CTX *tls_server_context (const struct tls_files *files,
                                    char *err, size_t errlen)
  __attribute__((nonnull (1, 2)));

/* A context for the connecting side; same contract. */
extern SSL_CTX *tls_client_context (const struct tls_files *files,
                                    char *err, size_t errlen)
  __attribute__((nonnull (1, 2)));

/* Ask SSL (a client connection not yet handshaken) to check that the
 * server certificate names HOST: an IP address literal is checked
 * against the IP entries, anything else against DNS names.  -1 on
 * failure (out of memory). */
extern int tls_expect_peer_name (SSL *ssl, const char *host)
  __attribute__((nonnull));

/* The subject of the peer's verified certificate in RFC 2253 form
 * ("CN=backup1,O=Example"), malloc'd; NULL if the peer presented no
 * certificate or it did not verify. */
extern char *tls_peer_subject (SSL *ssl) __attribute__((nonnull));

/* The peer certificate's first commonName, malloc'd, or NULL. */
extern char *tls_peer_common_name (SSL *ssl) __attribute__((nonnull));

/* Drain OpenSSL's error queue of this thread into BUF as one line
 * ("error:0A000086:SSL routines::certificate verify failed"); the
 * oldest error is the one kept.  Returns BUF ("unknown TLS error" when
 * the queue was empty). */
extern const char *tls_error_string (char *buf, size_t len)
  __attribute__((nonnull));

#endif /* SNAPVOL_TLS_H */

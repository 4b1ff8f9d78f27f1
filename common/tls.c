/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * tls.c: OpenSSL contexts for mutual TLS (see tls.h).
 */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tls.h"

const char *
tls_error_string (char *buf, size_t len)
{
  unsigned long e, first = 0;

  while ((e = ERR_get_error ()) != 0)
    if (first == 0)
      first = e;
  if (first == 0)
    snprintf (buf, len, "unknown TLS error");
  else
    ERR_error_string_n (first, buf, len);
  return buf;
}

/* Why a private key of mode MODE is refused, or NULL if it is not.
 * Like ssh, any access by group or others is refused: a key they can
 * read is no longer private, and one they can write can be swapped. */
static const char *
key_mode_problem (mode_t mode)
{
  if (mode & (S_IRGRP | S_IROTH))
    return "readable";
  if (mode & (S_IWGRP | S_IWOTH))
    return "writable";
  if (mode & (S_IXGRP | S_IXOTH))
    return "executable";
  return NULL;
}

/* Load the private key in PATH into CTX, after checking the mode of
 * the file opened (not of the path, which could be replaced between a
 * stat and an open).  The message says what to do about a bad mode. */
static int
load_private_key (SSL_CTX *ctx, const char *path, char *err, size_t errlen)
{
  const char *problem;
  struct stat st;
  EVP_PKEY *pkey;
  char why[256];
  FILE *fp;
  int r = -1;

  fp = fopen (path, "re");
  if (fp == NULL) {
    snprintf (err, errlen, "key %s: %s", path, strerror (errno));
    return -1;
  }
  if (fstat (fileno (fp), &st) == -1) {
    snprintf (err, errlen, "key %s: fstat: %s", path, strerror (errno));
    goto out;
  }
  problem = key_mode_problem (st.st_mode);
  if (problem != NULL) {
    snprintf (err, errlen, "%s: private key is %s by group or others "
              "(mode %04o); chmod 600 it", path, problem,
              (unsigned) (st.st_mode & 07777));
    goto out;
  }
  pkey = PEM_read_PrivateKey (fp, NULL,
                              SSL_CTX_get_default_passwd_cb (ctx),
                              SSL_CTX_get_default_passwd_cb_userdata (ctx));
  if (pkey == NULL) {
    snprintf (err, errlen, "key %s: %s", path,
              tls_error_string (why, sizeof why));
    goto out;
  }
  if (SSL_CTX_use_PrivateKey (ctx, pkey) != 1)
    snprintf (err, errlen, "key %s: %s", path,
              tls_error_string (why, sizeof why));
  else
    r = 0;
  EVP_PKEY_free (pkey);
 out:
  fclose (fp);
  return r;
}

/* Load FILES into CTX, requiring and verifying the peer's certificate. */
static int
load_files (SSL_CTX *ctx, const struct tls_files *files, char *err,
            size_t errlen)
{
  char why[256];

  if (files->certificate == NULL || files->key == NULL || files->ca == NULL) {
    snprintf (err, errlen, "TLS needs a certificate, a key and a CA file");
    return -1;
  }
  if (SSL_CTX_use_certificate_chain_file (ctx, files->certificate) != 1) {
    snprintf (err, errlen, "certificate %s: %s", files->certificate,
              tls_error_string (why, sizeof why));
    return -1;
  }
  if (load_private_key (ctx, files->key, err, errlen) == -1)
    return -1;
  if (SSL_CTX_check_private_key (ctx) != 1) {
    snprintf (err, errlen, "key %s does not match certificate %s",
              files->key, files->certificate);
    ERR_clear_error ();
    return -1;
  }
  if (SSL_CTX_load_verify_locations (ctx, files->ca, NULL) != 1) {
    snprintf (err, errlen, "CA file %s: %s", files->ca,
              tls_error_string (why, sizeof why));
    return -1;
  }
  if (SSL_CTX_set_min_proto_version (ctx, TLS1_2_VERSION) != 1) {
    snprintf (err, errlen, "cannot require TLS 1.2: %s",
              tls_error_string (why, sizeof why));
    return -1;
  }
  SSL_CTX_set_verify (ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                      NULL);
  SSL_CTX_set_verify_depth (ctx, 8);
  /* No renegotiation (TLS 1.2) and no compression. */
  SSL_CTX_set_options (ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  return 0;
}

static SSL_CTX *
make_context (const SSL_METHOD *method, const struct tls_files *files,
              char *err, size_t errlen)
{
  SSL_CTX *ctx;
  char why[256];

  ctx = SSL_CTX_new (method);
  if (ctx == NULL) {
    snprintf (err, errlen, "SSL_CTX_new: %s",
              tls_error_string (why, sizeof why));
    return NULL;
  }
  if (load_files (ctx, files, err, errlen) == -1) {
    SSL_CTX_free (ctx);
    return NULL;
  }
  return ctx;
}

SSL_CTX *
tls_server_context (const struct tls_files *files, char *err, size_t errlen)
{
  SSL_CTX *ctx = make_context (TLS_server_method (), files, err, errlen);

  if (ctx != NULL) {
    /* Each daemon is its own session cache; resumption is not worth
     * its state for long-lived links. */
    SSL_CTX_set_session_cache_mode (ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets (ctx, 0);
  }
  return ctx;
}

SSL_CTX *
tls_client_context (const struct tls_files *files, char *err, size_t errlen)
{
  return make_context (TLS_client_method (), files, err, errlen);
}

int
tls_expect_peer_name (SSL *ssl, const char *host)
{
  X509_VERIFY_PARAM *param = SSL_get0_param (ssl);
  unsigned char addr[16];

  if (inet_pton (AF_INET, host, addr) == 1 ||
      inet_pton (AF_INET6, host, addr) == 1)
    return X509_VERIFY_PARAM_set1_ip_asc (param, host) == 1 ? 0 : -1;
  X509_VERIFY_PARAM_set_hostflags (param,
                                   X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (SSL_set1_host (ssl, host) != 1)
    return -1;
  /* Also the SNI, so a server with several names can pick. */
  SSL_set_tlsext_host_name (ssl, host);
  return 0;
}

/* The verified peer certificate, with a reference the caller drops. */
static X509 *
verified_peer (SSL *ssl)
{
  X509 *cert = SSL_get1_peer_certificate (ssl);

  if (cert != NULL && SSL_get_verify_result (ssl) != X509_V_OK) {
    X509_free (cert);
    return NULL;
  }
  return cert;
}

char *
tls_peer_subject (SSL *ssl)
{
  X509 *cert = verified_peer (ssl);
  BIO *bio;
  char *p, *s = NULL;
  long n;

  if (cert == NULL)
    return NULL;
  bio = BIO_new (BIO_s_mem ());
  if (bio != NULL &&
      X509_NAME_print_ex (bio, X509_get_subject_name (cert), 0,
                          XN_FLAG_RFC2253) >= 0) {
    n = BIO_get_mem_data (bio, &p);
    if (n >= 0 && (s = malloc (n + 1)) != NULL) {
      memcpy (s, p, n);
      s[n] = '\0';
    }
  }
  BIO_free (bio);
  X509_free (cert);
  return s;
}

char *
tls_peer_common_name (SSL *ssl)
{
  X509 *cert = verified_peer (ssl);
  X509_NAME *name;
  X509_NAME_ENTRY *e;
  ASN1_STRING *data;
  unsigned char *utf8 = NULL;
  char *s = NULL;
  int i, n;

  if (cert == NULL)
    return NULL;
  name = X509_get_subject_name (cert);
  i = X509_NAME_get_index_by_NID (name, NID_commonName, -1);
  if (i >= 0 && (e = X509_NAME_get_entry (name, i)) != NULL &&
      (data = X509_NAME_ENTRY_get_data (e)) != NULL &&
      (n = ASN1_STRING_to_UTF8 (&utf8, data)) >= 0) {
    /* A NUL inside the name would let "a\0.evil" pass for "a". */
    if (memchr (utf8, '\0', n) == NULL && (s = malloc (n + 1)) != NULL) {
      memcpy (s, utf8, n);
      s[n] = '\0';
    }
    OPENSSL_free (utf8);
  }
  X509_free (cert);
  return s;
}

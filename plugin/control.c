/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 The snapvol authors.
 *
 * control.c: the control socket server: accepts local connections and
 * answers line-framed JSON-RPC requests with rpc_call.
 *
 * Design notes
 *
 * Threads: one accept thread, one thread per client (at most
 * CONTROL_MAX_CLIENTS) and the hold reaper (holds.c).  All start in
 * .after_fork, since fork keeps only the calling thread, and all run
 * with every signal blocked: signals are nbdkit's business.
 *
 * Stopping: control_stop sets `stopping` and writes one byte to
 * stop_pipe.  Every poll in this file watches the pipe and nobody
 * drains it, so it wakes every thread, now or later.  A request already
 * running is finished and answered; a client still not gone after
 * STOP_GRACE_SECONDS (a peer that does not read its answers, or
 * hold.begin waiting its wait_ms) has its socket shut down, which also
 * ends a blocked send.
 *
 * Client slots: a client thread never closes its own socket; when it
 * ends it shuts the socket down (the peer sees EOF at once) and marks
 * its slot done.  The thread that joins it (the accept thread before it
 * reuses the slot, or control_stop) closes the descriptor.  So
 * control_stop never shuts down a descriptor number that was closed
 * and reused meanwhile.
 *
 * Slots are not held for ever: a client idle (waiting for a request)
 * for CONTROL_IDLE_TIMEOUT_MS is disconnected, and when all
 * CONTROL_MAX_CLIENTS slots are taken a new client takes the slot of
 * the client idle longest: the accept thread shuts that one's socket
 * down, its thread sees EOF and ends, and the accept thread joins it.
 * A client busy with a request is never shed.  A thread that ends
 * writes a byte to reap_pipe, so the accept thread closes the socket
 * of a client that left at once, not at the next connection.
 *
 * Access: the socket file is created with mode 0600 (bound under umask
 * 0177, then chmod), and a peer whose uid is neither ours nor root is
 * refused (SO_PEERCRED) in case an older socket file was left
 * reachable.
 *
 * Holds outlive connections (see holds.c): a client that disconnects
 * while holding writes leaves the hold to its lease.
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "control.h"
#include "holds.h"
#include "jsonrpc.h"
#include "provider.h"
#include "rpc-methods.h"
#include "rpcerr.h"
#include "timespec.h"

#define READ_CHUNK 65536
#define LISTEN_BACKLOG 16
#define STOP_GRACE_SECONDS 2

struct client {
  struct control *ctl;
  pthread_t thread;
  int fd;
  unsigned serial;              /* names the client in log messages */
  bool used;                    /* a thread was started, not yet joined */
  bool done;                    /* that thread has finished */
  bool busy;                    /* serving a request */
  bool shed;                    /* shut down to make room */
  struct timespec idle_since;   /* CLOCK_MONOTONIC, when not busy */
};

struct control {
  char *path;
  char *dir;
  bool bound;                   /* PATH is the socket we created, */
  dev_t dev;                    /* this one, so that control_stop */
  ino_t ino;                    /* leaves a replacement alone */
  int listen_fd;
  int stop_pipe[2];
  int reap_pipe[2];             /* a client thread has finished */
  atomic_bool stopping;
  bool started;
  pthread_t accept_thread;
  struct holds *holds;
  struct rpc_context rpc;
  unsigned next_serial;         /* accept thread only */
  pthread_mutex_t lock;         /* protects used, done, fd of clients */
  struct client clients[CONTROL_MAX_CLIENTS];
};

/* Answer a connection we will not serve with one error, and close it.
 * The socket is new and the message small, so the send cannot block. */
static void
refuse (int fd, int code, const char *message)
{
  json_t *reply = jsonrpc_error (NULL, code, NULL, "%s", message);

  if (reply != NULL) {
    jsonrpc_send_fd (fd, reply);
    json_decref (reply);
  }
  close (fd);
}

static bool
peer_allowed (int fd)
{
  struct ucred cred;
  socklen_t len = sizeof cred;

  if (getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
    nbdkit_error ("control: getsockopt SO_PEERCRED: %m");
    return false;
  }
  if (cred.uid != geteuid () && cred.uid != 0) {
    nbdkit_error ("control: refused a connection from uid %u (pid %d)",
                  (unsigned) cred.uid, (int) cred.pid);
    return false;
  }
  return true;
}

/* The id to echo in an answer to MSG: its id if it has a usable one,
 * else NULL (sent as null). */
static json_t *
request_id (json_t *msg)
{
  json_t *id = json_object_get (msg, "id");

  return json_is_string (id) || json_is_integer (id) ? id : NULL;
}

/* Decode and run one message.  *REPLY is the answer, or NULL when the
 * message needs none.  -1 when no answer could be built (ENOMEM). */
static int
answer (struct client *c, const char *text, size_t len, json_t **reply)
{
  json_auto_t *msg = NULL;
  const char *method;
  char err[256];
  int code;

  *reply = NULL;
  msg = jsonrpc_decode (text, len, &code, err, sizeof err);
  if (msg == NULL)
    *reply = jsonrpc_error (NULL, code, NULL, "%s", err);
  else {
    switch (jsonrpc_classify (msg, err, sizeof err)) {
    case JSONRPC_REQUEST:
      method = json_string_value (json_object_get (msg, "method"));
      nbdkit_debug ("control: client %u: %.64s", c->serial, method);
      *reply = rpc_call (&c->ctl->rpc, json_object_get (msg, "id"), method,
                         json_object_get (msg, "params"));
      break;
    case JSONRPC_NOTIFICATION:
      /* Every method has a result its caller needs (a hold id, a set
       * id, an error), so a notification is a caller's mistake; one
       * running hold.begin would hold writes for a whole lease with
       * nobody to commit.  It is dropped unanswered, as it must be. */
      nbdkit_debug ("control: client %u: ignored notification %.64s",
                    c->serial,
                    json_string_value (json_object_get (msg, "method")));
      return 0;
    case JSONRPC_RESPONSE:
      *reply = jsonrpc_error (request_id (msg), JSONRPC_INVALID_REQUEST, NULL,
                              "the control socket takes requests, "
                              "not responses");
      break;
    case JSONRPC_INVALID:
    default:
      *reply = jsonrpc_error (request_id (msg), JSONRPC_INVALID_REQUEST, NULL,
                              "%s", err);
      break;
    }
  }
  if (*reply == NULL) {
    nbdkit_error ("control: client %u: cannot build an answer: %m",
                  c->serial);
    return -1;
  }
  return 0;
}

static int
send_reply (struct client *c, json_t *reply)
{
  if (jsonrpc_send_fd (c->fd, reply) == 0)
    return 0;
  if (errno == EMSGSIZE) {
    /* A result too long to frame, such as the list of thousands of
     * snapshots: the caller still gets an answer to its id. */
    json_auto_t *e = rpcerr_too_long (json_object_get (reply, "id"));

    if (e != NULL && jsonrpc_send_fd (c->fd, e) == 0)
      return 0;
  }
  if (errno != EPIPE && errno != ECONNRESET)
    nbdkit_error ("control: client %u: send: %m", c->serial);
  return -1;
}

/* Wait for input, then answer every complete message it brings.
 * -1 when the connection must end. */
static int
serve_some (struct client *c, struct jsonrpc_framer *f)
{
  struct control *ctl = c->ctl;
  struct pollfd fds[2] = {
    { .fd = ctl->stop_pipe[0], .events = POLLIN },
    { .fd = c->fd, .events = POLLIN },
  };
  char buf[READ_CHUNK];
  char *text;
  size_t len;
  ssize_t n;
  int r = 0;

  r = poll (fds, 2, CONTROL_IDLE_TIMEOUT_MS);
  if (r == -1) {
    if (errno == EINTR)
      return 0;
    nbdkit_error ("control: client %u: poll: %m", c->serial);
    return -1;
  }
  if (r == 0) {
    nbdkit_debug ("control: client %u: idle for %d ms, disconnecting",
                  c->serial, CONTROL_IDLE_TIMEOUT_MS);
    return -1;
  }
  r = 0;
  if (fds[0].revents != 0)
    return -1;
  pthread_mutex_lock (&ctl->lock);
  c->busy = !c->shed;
  pthread_mutex_unlock (&ctl->lock);
  n = read (c->fd, buf, sizeof buf);
  if (n == -1) {
    if (errno == EINTR || errno == EAGAIN)
      return 0;
    if (errno != ECONNRESET)
      nbdkit_error ("control: client %u: read: %m", c->serial);
    return -1;
  }
  if (n == 0)
    return -1;
  if (jsonrpc_framer_feed (f, buf, (size_t) n) == -1) {
    nbdkit_error ("control: client %u: %m", c->serial);
    return -1;
  }

  while (!atomic_load (&ctl->stopping) &&
         (r = jsonrpc_framer_next (f, &text, &len)) == 1) {
    json_auto_t *reply = NULL;

    r = answer (c, text, len, &reply);
    free (text);
    if (r == -1 || (reply != NULL && send_reply (c, reply) == -1))
      return -1;
  }
  if (r == -1) {
    if (errno == EMSGSIZE) {
      /* The stream cannot be resynchronised: answer, then close. */
      json_auto_t *reply =
        jsonrpc_error (NULL, JSONRPC_INVALID_REQUEST, NULL,
                       "message longer than %d bytes", JSONRPC_MAX_MESSAGE);

      nbdkit_debug ("control: client %u: message too long", c->serial);
      if (reply != NULL)
        send_reply (c, reply);
    }
    else
      nbdkit_error ("control: client %u: %m", c->serial);
    return -1;
  }
  return atomic_load (&ctl->stopping) ? -1 : 0;
}

/* The client is waiting for its next request. */
static void
set_idle (struct client *c)
{
  pthread_mutex_lock (&c->ctl->lock);
  c->busy = false;
  c->idle_since = timespec_now (CLOCK_MONOTONIC);
  pthread_mutex_unlock (&c->ctl->lock);
}

static void *
client_thread (void *arg)
{
  struct client *c = arg;
  struct jsonrpc_framer framer = JSONRPC_FRAMER_INIT;

  while (serve_some (c, &framer) == 0)
    set_idle (c);
  jsonrpc_framer_free (&framer);
  shutdown (c->fd, SHUT_RDWR);
  nbdkit_debug ("control: client %u disconnected", c->serial);

  pthread_mutex_lock (&c->ctl->lock);
  c->done = true;
  c->busy = false;
  pthread_mutex_unlock (&c->ctl->lock);
  /* Wake the accept thread to close the socket now. */
  if (write (c->ctl->reap_pipe[1], "", 1) == -1 && errno != EAGAIN)
    nbdkit_debug ("control: write to the reap pipe: %m");
  return NULL;
}

/* Join the client threads that have finished and free their slots.
 * Accept thread only. */
static void
reap_clients (struct control *ctl)
{
  size_t i;

  pthread_mutex_lock (&ctl->lock);
  for (i = 0; i < CONTROL_MAX_CLIENTS; i++) {
    struct client *c = &ctl->clients[i];

    if (c->used && c->done) {
      /* It has set done and does nothing after: the join is quick. */
      pthread_join (c->thread, NULL);
      close (c->fd);
      c->fd = -1;
      c->used = false;
    }
  }
  pthread_mutex_unlock (&ctl->lock);
}

/* Every slot is taken: shut down the client idle longest and wait for
 * its thread to end, so that its slot is free.  Accept thread only.
 * false if every client is busy. */
static bool
shed_idle_client (struct control *ctl)
{
  struct client *victim = NULL;
  size_t i;

  pthread_mutex_lock (&ctl->lock);
  for (i = 0; i < CONTROL_MAX_CLIENTS; i++) {
    struct client *c = &ctl->clients[i];

    if (!c->used || c->done || c->busy || c->shed)
      continue;
    if (victim == NULL ||
        timespec_cmp (&c->idle_since, &victim->idle_since) < 0)
      victim = c;
  }
  if (victim != NULL) {
    victim->shed = true;
    shutdown (victim->fd, SHUT_RDWR);
  }
  pthread_mutex_unlock (&ctl->lock);
  if (victim == NULL)
    return false;
  nbdkit_debug ("control: client %u was the longest idle of %d: "
                "disconnected to make room", victim->serial,
                CONTROL_MAX_CLIENTS);
  /* It is in poll or about to be: it ends at once. */
  pthread_join (victim->thread, NULL);
  pthread_mutex_lock (&ctl->lock);
  close (victim->fd);
  victim->fd = -1;
  victim->used = false;
  pthread_mutex_unlock (&ctl->lock);
  return true;
}

static void
accept_client (struct control *ctl)
{
  struct client *c = NULL;
  size_t i;
  int fd, err;

  fd = accept4 (ctl->listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (fd == -1) {
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
        errno == ENOMEM) {
      nbdkit_error ("control: accept: %m");
      /* The connection stays queued and poll reports it again at once:
       * pause rather than spin until a descriptor is free. */
      nanosleep (&(struct timespec) { .tv_nsec = 100000000 }, NULL);
    }
    return;
  }
  if (!peer_allowed (fd)) {
    refuse (fd, SV_RPC_FORBIDDEN,
            "permission denied: the control socket serves its owner only");
    return;
  }

  reap_clients (ctl);
  for (i = 0; i < CONTROL_MAX_CLIENTS && c == NULL; i++)
    if (!ctl->clients[i].used)
      c = &ctl->clients[i];
  if (c == NULL && shed_idle_client (ctl))
    for (i = 0; i < CONTROL_MAX_CLIENTS && c == NULL; i++)
      if (!ctl->clients[i].used)
        c = &ctl->clients[i];
  if (c == NULL) {
    nbdkit_debug ("control: refused a connection: %d clients already",
                  CONTROL_MAX_CLIENTS);
    refuse (fd, SV_RPC_BUSY, "too many control connections: try again later");
    return;
  }

  pthread_mutex_lock (&ctl->lock);
  c->ctl = ctl;
  c->fd = fd;
  c->serial = ++ctl->next_serial;
  c->done = false;
  c->busy = false;
  c->shed = false;
  c->idle_since = timespec_now (CLOCK_MONOTONIC);
  c->used = true;
  pthread_mutex_unlock (&ctl->lock);
  /* The new thread inherits our mask: every signal blocked. */
  err = pthread_create (&c->thread, NULL, client_thread, c);
  if (err != 0) {
    pthread_mutex_lock (&ctl->lock);
    c->used = false;
    c->fd = -1;
    pthread_mutex_unlock (&ctl->lock);
    errno = err;
    nbdkit_error ("control: pthread_create: %m");
    refuse (fd, JSONRPC_INTERNAL_ERROR, "cannot serve this connection");
    return;
  }
  nbdkit_debug ("control: client %u connected", c->serial);
}

static void *
accept_thread (void *arg)
{
  struct control *ctl = arg;

  for (;;) {
    struct pollfd fds[3] = {
      { .fd = ctl->stop_pipe[0], .events = POLLIN },
      { .fd = ctl->listen_fd, .events = POLLIN },
      { .fd = ctl->reap_pipe[0], .events = POLLIN },
    };
    char buf[64];

    if (poll (fds, 3, -1) == -1) {
      if (errno == EINTR)
        continue;
      nbdkit_error ("control: poll: %m; no longer accepting connections");
      break;
    }
    if (fds[0].revents != 0)
      break;
    if (fds[2].revents != 0) {
      while (read (ctl->reap_pipe[0], buf, sizeof buf) > 0)
        ;
      reap_clients (ctl);
    }
    if (fds[1].revents != 0)
      accept_client (ctl);
  }
  return NULL;
}

/* PATH exists: replace it only if it is a socket nobody listens on,
 * left behind by a server that was killed. */
static int
remove_stale_socket (const char *path, const struct sockaddr_un *addr)
{
  struct stat st;
  int fd, r, err;

  if (lstat (path, &st) == -1) {
    if (errno == ENOENT)
      return 0;
    nbdkit_error ("control=%s: %m", path);
    return -1;
  }
  if (!S_ISSOCK (st.st_mode)) {
    nbdkit_error ("control=%s: exists and is not a socket; "
                  "refusing to replace it", path);
    return -1;
  }
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd == -1) {
    nbdkit_error ("socket: %m");
    return -1;
  }
  r = connect (fd, (const struct sockaddr *) addr, sizeof *addr);
  err = errno;
  close (fd);
  if (r == 0) {
    nbdkit_error ("control=%s: another process is serving this socket",
                  path);
    return -1;
  }
  if (err != ECONNREFUSED) {
    errno = err;
    nbdkit_error ("control=%s: cannot tell whether the socket is in use: "
                  "connect: %m", path);
    return -1;
  }
  if (unlink (path) == -1) {
    nbdkit_error ("unlink: %s: %m", path);
    return -1;
  }
  nbdkit_debug ("control: replaced the stale socket %s", path);
  return 0;
}

static int
bind_socket (struct control *ctl, const struct sockaddr_un *addr)
{
  struct stat st;
  mode_t old_umask;
  int r;

  ctl->listen_fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (ctl->listen_fd == -1) {
    nbdkit_error ("socket: %m");
    return -1;
  }
  /* Never visible with a wider mode, not even between bind and chmod.
   * umask is process-wide: nbdkit runs no other thread yet. */
  old_umask = umask (0177);
  r = bind (ctl->listen_fd, (const struct sockaddr *) addr, sizeof *addr);
  umask (old_umask);
  if (r == -1) {
    nbdkit_error ("bind: %s: %m", ctl->path);
    return -1;
  }
  if (stat (ctl->path, &st) == -1) {
    nbdkit_error ("stat: %s: %m", ctl->path);
    return -1;
  }
  ctl->bound = true;
  ctl->dev = st.st_dev;
  ctl->ino = st.st_ino;
  if (chmod (ctl->path, 0600) == -1) {
    nbdkit_error ("chmod: %s: %m", ctl->path);
    return -1;
  }
  if (listen (ctl->listen_fd, LISTEN_BACKLOG) == -1) {
    nbdkit_error ("listen: %s: %m", ctl->path);
    return -1;
  }
  return 0;
}

struct control *
control_listen (const char *path, struct sv_pool *pool, const char *dir,
                uint32_t default_cluster_size)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  struct control *ctl;
  size_t i;

  if (strlen (path) >= sizeof addr.sun_path) {
    nbdkit_error ("control=%s: a socket path must be shorter than %zu bytes",
                  path, sizeof addr.sun_path);
    return NULL;
  }
  memcpy (addr.sun_path, path, strlen (path) + 1);

  ctl = calloc (1, sizeof *ctl);
  if (ctl == NULL) {
    nbdkit_error ("calloc: %m");
    return NULL;
  }
  ctl->listen_fd = ctl->stop_pipe[0] = ctl->stop_pipe[1] = -1;
  ctl->reap_pipe[0] = ctl->reap_pipe[1] = -1;
  for (i = 0; i < CONTROL_MAX_CLIENTS; i++)
    ctl->clients[i].fd = -1;
  atomic_init (&ctl->stopping, false);
  pthread_mutex_init (&ctl->lock, NULL);
  ctl->path = strdup (path);
  ctl->dir = strdup (dir);
  if (ctl->path == NULL || ctl->dir == NULL) {
    nbdkit_error ("strdup: %m");
    goto err;
  }

  if (remove_stale_socket (path, &addr) == -1 ||
      bind_socket (ctl, &addr) == -1)
    goto err;
  if (pipe2 (ctl->stop_pipe, O_CLOEXEC) == -1 ||
      pipe2 (ctl->reap_pipe, O_CLOEXEC | O_NONBLOCK) == -1) {
    nbdkit_error ("pipe2: %m");
    goto err;
  }
  ctl->holds = holds_new (pool);
  if (ctl->holds == NULL) {
    nbdkit_error ("control: cannot create the hold table: %m");
    goto err;
  }
  ctl->rpc.pool = pool;
  ctl->rpc.holds = ctl->holds;
  ctl->rpc.dir = ctl->dir;
  ctl->rpc.default_cluster_size = default_cluster_size;
  ctl->rpc.nbd_uri = provider_nbd_uri ();
  return ctl;

 err:
  control_stop (ctl);
  return NULL;
}

int
control_start (struct control *ctl)
{
  sigset_t all, old;
  int err = 0;

  /* Both threads, and the client threads the accept thread starts,
   * inherit this mask. */
  sigfillset (&all);
  pthread_sigmask (SIG_BLOCK, &all, &old);
  if (holds_start (ctl->holds) == -1) {
    err = errno;
    nbdkit_error ("control: cannot start the hold reaper: %m");
  }
  else {
    err = pthread_create (&ctl->accept_thread, NULL, accept_thread, ctl);
    if (err != 0) {
      errno = err;
      nbdkit_error ("control: pthread_create: %m");
    }
    else
      ctl->started = true;
  }
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  if (err != 0)
    return -1;
  nbdkit_debug ("control: listening on %s", ctl->path);
  return 0;
}

/* Join every client thread, giving those still busy a grace period to
 * finish and answer before their sockets are shut down. */
static void
stop_clients (struct control *ctl)
{
  struct timespec deadline = timespec_deadline_ms (CLOCK_REALTIME,
                                                   STOP_GRACE_SECONDS * 1000);
  size_t i;

  for (i = 0; i < CONTROL_MAX_CLIENTS; i++) {
    struct client *c = &ctl->clients[i];

    if (!c->used)
      continue;
    if (pthread_timedjoin_np (c->thread, NULL, &deadline) != 0) {
      nbdkit_debug ("control: client %u still busy at shutdown; "
                    "closing its connection", c->serial);
      shutdown (c->fd, SHUT_RDWR);
      pthread_join (c->thread, NULL);
    }
    close (c->fd);
    c->fd = -1;
    c->used = false;
  }
}

void
control_stop (struct control *ctl)
{
  if (ctl == NULL)
    return;

  atomic_store (&ctl->stopping, true);
  if (ctl->stop_pipe[1] >= 0 && write (ctl->stop_pipe[1], "", 1) == -1)
    nbdkit_error ("control: write: %m");
  if (ctl->started)
    pthread_join (ctl->accept_thread, NULL);
  /* No thread starts clients any more. */
  stop_clients (ctl);
  /* Nobody can take a hold now: release those left. */
  holds_free (ctl->holds);

  if (ctl->listen_fd >= 0)
    close (ctl->listen_fd);
  if (ctl->bound) {
    struct stat st;

    if (stat (ctl->path, &st) == 0 && st.st_dev == ctl->dev &&
        st.st_ino == ctl->ino && unlink (ctl->path) == -1)
      nbdkit_error ("unlink: %s: %m", ctl->path);
  }
  if (ctl->stop_pipe[0] >= 0)
    close (ctl->stop_pipe[0]);
  if (ctl->stop_pipe[1] >= 0)
    close (ctl->stop_pipe[1]);
  if (ctl->reap_pipe[0] >= 0)
    close (ctl->reap_pipe[0]);
  if (ctl->reap_pipe[1] >= 0)
    close (ctl->reap_pipe[1]);
  pthread_mutex_destroy (&ctl->lock);
  free (ctl->path);
  free (ctl->dir);
  free (ctl);
}

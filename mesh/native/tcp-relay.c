/*
 * The userspace mesh's TCP data path in C: accept, connect to the backend JavaScript picked, and move bytes both
 * ways, all on one epoll set of our own that Node's event loop watches as a single descriptor. JavaScript is
 * called three times per connection at most — accepted (pick a backend), connect failed (pick the next), closed
 * (count the bytes) — and never per chunk. Which backend, retries, counters and routes stay in TypeScript
 * (mesh/userspace/native-tcp-proxy.ts); this file is the thin part that touches the kernel.
 *
 * Why not Node's TCP handles (mesh/userspace/tcp-proxy.ts, kept as the fallback without a compiler): with every
 * allocation and stream layer already gone, a relayed request still cost a call into JavaScript and back per
 * read and per write, and a JavaScript handle object per socket, which kept one relay process at 0.6-0.95x one
 * HAProxy thread. Here the system calls are what the relay costs (strace -c, wrk on loopback): a kept-alive
 * request is one recv and one send each way, as with HAProxy; a connection per request makes 15 calls (accept4,
 * socket, setsockopt, connect, two epoll_ctl, four recv, two send, shutdown, two close) where HAProxy makes 17.
 * perf puts nine tenths of the relay's CPU time in the kernel.
 *
 * Rules that keep it correct:
 * - Each connection's two sockets are registered once, edge-triggered (EPOLLET), for reading, writing and the
 *   peer's end of stream, and never changed: per connection that is two epoll_ctl calls where level-triggered
 *   interest would need four (HAProxy makes three). An edge is remembered as `ready` until a read says the
 *   socket is drained (EAGAIN, or a short read without a pending end of stream).
 * - One buffer's worth at most waits per direction: a read whose write the kernel takes only in part keeps the
 *   rest, and that direction reads no more until it is written (backpressure, as in relay-pump.ts); the
 *   destination's next writable edge flushes it and reading resumes.
 * - A direction reads at most READS_PER_TURN times in a row; one with more to read goes on the `again` list,
 *   served after the batch (and on an idle handle until the list is empty), so a bulk transfer cannot starve
 *   the other connections.
 * - An end of stream is passed on as shutdown(SHUT_WR) of the other side once everything before it is written;
 *   when both directions have ended, both sockets are closed. An error on either side closes both.
 * - A connection closed while events for it are still in the batch being handled is only marked; it is freed
 *   after the batch.
 * - A connect not done after the listener's timeout fails with ETIMEDOUT (a 50 ms sweep while any is pending).
 *
 * Connections are named to JavaScript by small integer IDs (an index into a table, reused after close).
 * JavaScript holds an ID only while the connection is open: it learns of every close, except of the ones it asks
 * for (cut), synchronously.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <uv.h>

#include "../../control/base/native/napi-support.h"

/* Bytes read at once per direction: HAProxy's default bufsize. */
#define READ_BYTES (16 * 1024)
/* Reads in a row from one side before the other connections get their turn (256 KiB). */
#define READS_PER_TURN 16
/* Connections accepted per listener per wakeup before the loop turns to other work. */
#define ACCEPTS_PER_WAKEUP 32
#define EVENTS_PER_WAKEUP 256
#define SWEEP_MS 50

enum { KIND_LISTENER = 1, KIND_SIDE = 2 };
enum { CONNECTING = 1, RELAYING = 2, CLOSED = 3 };

typedef struct Module Module;
typedef struct Listener Listener;
typedef struct Conn Conn;

/* What an epoll event points at: a listener or one side (client or backend) of a connection. */
typedef struct {
  int kind;
} Tag;

typedef struct {
  Tag tag;
  Conn *conn;
  int fd;
  int ready;       /* an edge said there is something to read (data, or the end), not yet drained */
  int eof_pending; /* the peer's end of stream was seen: read until it, even after a short read */
  int read_ended;  /* end of stream read from this side */
} Side;

/* Bytes read from one side and not yet all written to the other (only after a partial write). */
typedef struct {
  char *buf;
  uint32_t len, off;
  double bytes; /* read from the source so far */
} Direction;

struct Conn {
  Listener *listener;
  uint32_t id;
  int state;
  Side client, backend; /* backend.fd is -1 until a connect is under way */
  Direction up, down;   /* client → backend, backend → client */
  uint64_t deadline;    /* of the connect under way */
  Conn *prev, *next;    /* in the listener's connection list */
  Conn *again_prev, *again_next;
  int again; /* on the module's `again` list */
  Conn *zombie_next;
};

struct Listener {
  Tag tag;
  Module *m;
  int fd;
  int want_local;
  int closing;
  uint32_t connect_timeout_ms;
  napi_ref on_accept, on_connect_failed, on_closed;
  Conn *conns;
  uint32_t open;
  uint64_t paused_until; /* accepting stopped until then (out of descriptors); 0: accepting */
  Listener *zombie_next;
};

struct Module {
  napi_env env;
  int epfd;
  uv_poll_t poll;
  uv_timer_t sweep;
  int sweeping;
  napi_async_context async_context;
  napi_ref resource;
  Conn **table;
  uint32_t table_size;
  uint32_t *free_ids;
  uint32_t free_count;
  uint32_t connecting;
  uint32_t listeners;
  uint32_t paused;
  /* Listeners open, for the sweep to resume paused ones (a short list: one per published port and VIP). */
  Listener **open_listeners;
  int dispatching; /* inside a batch of events: closes are deferred */
  /* Connections with more to read than one turn allowed, served after the batch and while the idle handle runs. */
  Conn *again;
  uv_idle_t again_idle;
  int idling;
  Conn *zombies;
  Listener *listener_zombies;
  char scratch[READ_BYTES];
};

/* Calls a JavaScript callback from the event batch (a callback scope is open around the batch). */
static void call_js(Module *m, napi_ref fn, size_t argc, napi_value *argv) {
  napi_value cb, recv, result;
  napi_get_reference_value(m->env, fn, &cb);
  napi_get_undefined(m->env, &recv);
  if (napi_call_function(m->env, recv, cb, argc, argv, &result) != napi_ok) report_pending_exception(m->env);
}

static uint64_t now_ms(Module *m) {
  uv_loop_t *loop;
  napi_get_uv_event_loop(m->env, &loop);
  return uv_now(loop);
}

/* Registers a side for every event it will ever need, edge-triggered; 0 or errno. */
static int register_side(Module *m, Side *s) {
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = s};
  return epoll_ctl(m->epfd, EPOLL_CTL_ADD, s->fd, &ev) < 0 ? errno : 0;
}

static void free_conn(Conn *c) {
  free(c->up.buf);
  free(c->down.buf);
  free(c);
}

static void on_again(uv_idle_t *idle);

static void queue_again(Module *m, Conn *c) {
  if (c->again) return;
  c->again = 1;
  c->again_prev = NULL;
  c->again_next = m->again;
  if (m->again) m->again->again_prev = c;
  m->again = c;
  if (!m->idling) {
    m->idling = 1;
    uv_idle_start(&m->again_idle, on_again);
  }
}

static void unqueue_again(Module *m, Conn *c) {
  if (!c->again) return;
  c->again = 0;
  if (c->again_prev) c->again_prev->again_next = c->again_next;
  else m->again = c->again_next;
  if (c->again_next) c->again_next->again_prev = c->again_prev;
}

/*
 * Closes both sockets (closing a descriptor takes it out of epoll) and frees the connection's ID; `notify` tells
 * JavaScript with the bytes each way. The memory is freed now, or after the batch when events may still name it.
 */
static void close_conn(Conn *c, int notify) {
  if (c->state == CLOSED) return;
  Module *m = c->listener->m;
  Listener *l = c->listener;
  if (c->state == CONNECTING) m->connecting--;
  c->state = CLOSED;
  unqueue_again(m, c);
  close(c->client.fd);
  if (c->backend.fd >= 0) close(c->backend.fd);
  m->table[c->id] = NULL;
  m->free_ids[m->free_count++] = c->id;
  if (c->prev) c->prev->next = c->next;
  else l->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  l->open--;
  if (notify && !l->closing) {
    napi_value argv[3];
    napi_create_uint32(m->env, c->id, &argv[0]);
    napi_create_double(m->env, c->up.bytes, &argv[1]);
    napi_create_double(m->env, c->down.bytes, &argv[2]);
    call_js(m, l->on_closed, 3, argv);
  }
  if (m->dispatching) {
    c->zombie_next = m->zombies;
    m->zombies = c;
  } else {
    free_conn(c);
  }
}

/* Writes what waits in `d` to `fd`; 1 when all is written, 0 when the kernel took part, -1 on an error. */
static int flush(Direction *d, int fd) {
  while (d->off < d->len) {
    ssize_t n = send(fd, d->buf + d->off, d->len - d->off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      d->off += (uint32_t)n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      return 0;
    } else {
      return -1;
    }
  }
  d->len = d->off = 0;
  return 1;
}

/*
 * Moves what it can from `from` to `to`: first what waits from an earlier partial write, then reads while `from`
 * is ready, each written at once. Returns -1 when the connection must close (an error, or the second end of
 * stream: everything both ways is written, and the close sends the FIN).
 */
static int move(Conn *c, Side *from, Side *to, Direction *d) {
  Module *m = c->listener->m;
  if (d->len) {
    int r = flush(d, to->fd);
    if (r <= 0) return r; /* still waiting: `to`'s next writable edge comes back here */
  }
  for (int reads = 0; from->ready && !from->read_ended; reads++) {
    if (reads == READS_PER_TURN) {
      queue_again(m, c);
      return 0;
    }
    ssize_t n = recv(from->fd, m->scratch, READ_BYTES, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) return -1;
      from->ready = 0;
      return 0;
    }
    if (n == 0) {
      from->read_ended = 1;
      from->ready = 0;
      if (to->read_ended) return -1;
      /* Everything read before was written (no read while a write waits), so the end goes after it. */
      return shutdown(to->fd, SHUT_WR) < 0 && errno != ENOTCONN ? -1 : 0;
    }
    /* A short read drained the socket; more data (or the end) makes a new edge. */
    if (n < READ_BYTES && !from->eof_pending) from->ready = 0;
    d->bytes += (double)n;
    ssize_t w = send(to->fd, m->scratch, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (w < 0 && errno == EINTR) w = send(to->fd, m->scratch, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w == n) continue;
    if (w < 0 && errno != EAGAIN) return -1;
    if (w < 0) w = 0;
    /* The kernel took part (and marked `to` out of space, so its next writable edge will come): keep the rest. */
    if (!d->buf && !(d->buf = malloc(READ_BYTES))) return -1;
    memcpy(d->buf, m->scratch + w, (size_t)(n - w));
    d->len = (uint32_t)(n - w);
    d->off = 0;
    return 0;
  }
  return 0;
}

/* Both directions, as far as they go now; closes the connection when either says so. */
static void pump(Conn *c) {
  if (move(c, &c->client, &c->backend, &c->up) < 0 || move(c, &c->backend, &c->client, &c->down) < 0) close_conn(c, 1);
}

/* The backend accepted: the client is registered too, and whatever either side has sent already is moved. */
static int start_relaying(Conn *c) {
  Module *m = c->listener->m;
  if (c->state == CONNECTING) m->connecting--;
  c->state = RELAYING;
  return register_side(m, &c->client);
}

/* The connect under way failed (err: an errno): the socket is closed and JavaScript picks again. */
static void connect_failed(Conn *c, int err) {
  Module *m = c->listener->m;
  m->connecting--;
  c->state = 0;
  close(c->backend.fd); /* also leaves epoll */
  c->backend = (Side){.tag = {KIND_SIDE}, .conn = c, .fd = -1};
  napi_value argv[2];
  napi_create_uint32(m->env, c->id, &argv[0]);
  napi_create_int32(m->env, -err, &argv[1]);
  call_js(m, c->listener->on_connect_failed, 2, argv);
}

static void on_side_event(Side *s, uint32_t ev) {
  Conn *c = s->conn;
  if (c->state == CLOSED) return;
  if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) s->ready = 1;
  if (ev & (EPOLLRDHUP | EPOLLHUP)) s->eof_pending = 1;
  if (c->state == CONNECTING) {
    if (s != &c->backend) return;
    if (ev & (EPOLLERR | EPOLLHUP)) {
      int err = 0;
      socklen_t len = sizeof err;
      if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
      return connect_failed(c, err ? err : ECONNREFUSED);
    }
    if (!(ev & EPOLLOUT)) return;
    /* Writable without an error: connected (no getsockopt needed, as HAProxy does it). */
    if (start_relaying(c)) return close_conn(c, 1);
    /*
     * The client has usually sent its request while we connected: read it now rather than after the next wait.
     * (Its registration also queued an edge; by then the read drained it, and epoll drops what is no longer so.)
     */
    c->client.ready = 1;
  }
  if (c->state != RELAYING) return;
  if (ev & EPOLLERR) return close_conn(c, 1); /* a reset: nobody is left to deliver to */
  pump(c);
}

/* After a batch, and on the idle handle while any are left: connections that had more to read than one turn. */
static void serve_again(Module *m) {
  Conn *list = m->again;
  m->again = NULL;
  for (Conn *c = list; c; c = c->again_next) c->again = 0;
  /* Detached first: a connection that still has more goes back on the (new) list; one closed meanwhile is a zombie. */
  for (Conn *c = list, *next; c; c = next) {
    next = c->again_next;
    if (c->state == RELAYING) pump(c);
  }
}

static void format_address(const struct sockaddr_storage *sa, char *out, size_t size) {
  if (sa->ss_family == AF_INET) {
    inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)size);
  } else {
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a)) inet_ntop(AF_INET, a->s6_addr + 12, out, (socklen_t)size);
    else inet_ntop(AF_INET6, a, out, (socklen_t)size);
  }
}

static uint32_t take_id(Module *m) {
  if (m->free_count) return m->free_ids[--m->free_count];
  uint32_t old = m->table_size, size = old ? old * 2 : 1024;
  m->table = realloc(m->table, size * sizeof *m->table);
  m->free_ids = realloc(m->free_ids, size * sizeof *m->free_ids);
  memset(m->table + old, 0, (size - old) * sizeof *m->table); /* the sweep reads every entry */
  for (uint32_t i = size; i > old + 1; i--) m->free_ids[m->free_count++] = i - 1;
  m->table_size = size;
  return old;
}

static void on_sweep(uv_timer_t *t);

static void ensure_sweeping(Module *m) {
  if (m->sweeping) return;
  m->sweeping = 1;
  uv_timer_start(&m->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
}

static void on_listener_event(Listener *l) {
  Module *m = l->m;
  for (int i = 0; i < ACCEPTS_PER_WAKEUP && !l->closing; i++) {
    struct sockaddr_storage peer;
    socklen_t plen = sizeof peer;
    int fd = accept4(l->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN) {
        /*
         * EMFILE, ENFILE, ENOBUFS: tell JavaScript (it logs) and stop accepting for a moment, leaving the
         * connections queued: the socket stays readable, and watching it now would spin a core.
         */
        int err = errno;
        struct epoll_event none = {0};
        epoll_ctl(m->epfd, EPOLL_CTL_DEL, l->fd, &none);
        l->paused_until = now_ms(m) + 100;
        m->paused++;
        ensure_sweeping(m);
        napi_value argv[2];
        napi_get_null(m->env, &argv[0]);
        napi_create_int32(m->env, -err, &argv[1]);
        call_js(m, l->on_accept, 2, argv);
      }
      return;
    }
    Conn *c = calloc(1, sizeof *c);
    if (!c) {
      close(fd);
      return;
    }
    c->listener = l;
    c->id = take_id(m);
    c->client = (Side){.tag = {KIND_SIDE}, .conn = c, .fd = fd};
    c->backend = (Side){.tag = {KIND_SIDE}, .conn = c, .fd = -1};
    m->table[c->id] = c;
    c->next = l->conns;
    if (l->conns) l->conns->prev = c;
    l->conns = c;
    l->open++;
    napi_value argv[2];
    napi_create_uint32(m->env, c->id, &argv[0]);
    if (l->want_local) {
      struct sockaddr_storage local;
      socklen_t llen = sizeof local;
      char text[INET6_ADDRSTRLEN];
      if (getsockname(fd, (struct sockaddr *)&local, &llen) == 0) {
        format_address(&local, text, sizeof text);
        napi_create_string_utf8(m->env, text, NAPI_AUTO_LENGTH, &argv[1]);
      } else {
        napi_get_undefined(m->env, &argv[1]);
      }
    } else {
      napi_get_undefined(m->env, &argv[1]);
    }
    call_js(m, l->on_accept, 2, argv);
  }
}

static void free_zombies(Module *m) {
  while (m->zombies) {
    Conn *c = m->zombies;
    m->zombies = c->zombie_next;
    free_conn(c);
  }
  while (m->listener_zombies) {
    Listener *l = m->listener_zombies;
    m->listener_zombies = l->zombie_next;
    free(l);
  }
}

/*
 * Around a batch of events (or a sweep): one callback scope for all the JavaScript calls in it (Node runs
 * microtasks and nextTicks once, when it closes), and closes that happen meanwhile free their memory only at the
 * end, as later events of the batch may still name it.
 */
typedef struct {
  napi_handle_scope scope;
  napi_callback_scope cscope;
} Dispatch;

static void begin_dispatch(Module *m, Dispatch *d) {
  napi_value resource;
  napi_open_handle_scope(m->env, &d->scope);
  napi_get_reference_value(m->env, m->resource, &resource);
  napi_open_callback_scope(m->env, resource, m->async_context, &d->cscope);
  m->dispatching = 1;
}

static void end_dispatch(Module *m, Dispatch *d) {
  m->dispatching = 0;
  free_zombies(m);
  napi_close_callback_scope(m->env, d->cscope);
  napi_close_handle_scope(m->env, d->scope);
}

static void on_epoll_readable(uv_poll_t *poll, int status, int events) {
  Module *m = poll->data;
  (void)events;
  if (status < 0) return;
  struct epoll_event evs[EVENTS_PER_WAKEUP];
  int n = epoll_wait(m->epfd, evs, EVENTS_PER_WAKEUP, 0);
  if (n <= 0) return;
  Dispatch d;
  begin_dispatch(m, &d);
  for (int i = 0; i < n; i++) {
    Tag *t = evs[i].data.ptr;
    if (t->kind == KIND_LISTENER) {
      Listener *l = (Listener *)t;
      if (!l->closing) on_listener_event(l);
    } else {
      on_side_event((Side *)t, evs[i].events);
    }
  }
  serve_again(m);
  end_dispatch(m, &d);
}

/* While connections are on the `again` list: a turn each per loop iteration (the loop does not block meanwhile). */
static void on_again(uv_idle_t *idle) {
  Module *m = idle->data;
  if (m->again) {
    Dispatch d;
    begin_dispatch(m, &d);
    serve_again(m);
    end_dispatch(m, &d);
  }
  if (!m->again) {
    uv_idle_stop(&m->again_idle);
    m->idling = 0;
  }
}

/*
 * Every 50 ms while connects are under way or a listener is paused: connects past their listener's timeout fail
 * with ETIMEDOUT, and paused listeners accept again.
 */
static void on_sweep(uv_timer_t *t) {
  Module *m = t->data;
  if (m->connecting == 0 && m->paused == 0) {
    uv_timer_stop(&m->sweep);
    m->sweeping = 0;
    return;
  }
  uint64_t now = now_ms(m);
  for (uint32_t i = 0; i < m->listeners && m->paused; i++) {
    Listener *l = m->open_listeners[i];
    if (!l->paused_until || l->paused_until > now) continue;
    l->paused_until = 0;
    m->paused--;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = l};
    epoll_ctl(m->epfd, EPOLL_CTL_ADD, l->fd, &ev);
  }
  if (m->connecting == 0) return;
  Dispatch d;
  begin_dispatch(m, &d);
  for (uint32_t id = 0; id < m->table_size; id++) {
    Conn *c = m->table[id];
    if (c && c->state == CONNECTING && c->deadline <= now) connect_failed(c, ETIMEDOUT);
  }
  end_dispatch(m, &d);
}

static Module *module_of(napi_env env) {
  Module *m = NULL;
  napi_get_instance_data(env, (void **)&m);
  return m;
}

static int parse_address(const char *text, int port, struct sockaddr_storage *out, socklen_t *len) {
  memset(out, 0, sizeof *out);
  struct sockaddr_in *v4 = (struct sockaddr_in *)out;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
  if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    *len = sizeof *v4;
    return 0;
  }
  if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    *len = sizeof *v6;
    return 0;
  }
  return -1;
}

static int address_args(napi_env env, napi_value address_v, napi_value port_v, struct sockaddr_storage *sa, socklen_t *salen) {
  char address[INET6_ADDRSTRLEN + 1];
  size_t len;
  int32_t port;
  if (napi_get_value_string_utf8(env, address_v, address, sizeof address, &len) != napi_ok || napi_get_value_int32(env, port_v, &port) != napi_ok ||
      port < 0 || port > 65535 || parse_address(address, port, sa, salen) < 0) {
    napi_throw_type_error(env, NULL, "tcp-relay: the address must be an IPv4 or IPv6 literal and the port 0-65535");
    return -1;
  }
  return 0;
}

static int is_function(napi_env env, napi_value v) {
  napi_valuetype t;
  return napi_typeof(env, v, &t) == napi_ok && t == napi_function;
}

/*
 * listen(address, port, reusePort, connectTimeoutMs, onAccept, onConnectFailed, onClosed) → listener. With
 * reusePort the socket joins (or starts) the SO_REUSEPORT group on the address and port, so several processes
 * each accept on a socket of their own. Callbacks: onAccept(id, localAddress?) for each connection (or
 * onAccept(null, -errno) when accept fails for want of descriptors or memory); onConnectFailed(id, -errno);
 * onClosed(id, bytesIn, bytesOut).
 */
static napi_value Listen(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Module *m = module_of(env);
  bool reuse_port;
  uint32_t timeout_ms;
  struct sockaddr_storage sa;
  socklen_t salen;
  if (argc < 7 || napi_get_value_bool(env, argv[2], &reuse_port) != napi_ok || napi_get_value_uint32(env, argv[3], &timeout_ms) != napi_ok ||
      !is_function(env, argv[4]) || !is_function(env, argv[5]) || !is_function(env, argv[6])) {
    napi_throw_type_error(env, NULL, "listen(address, port, reusePort, connectTimeoutMs, onAccept, onConnectFailed, onClosed): bad arguments");
    return NULL;
  }
  if (address_args(env, argv[0], argv[1], &sa, &salen) < 0) return NULL;
  int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket");
  int one = 1;
  /* Accepted sockets inherit TCP_NODELAY: relayed requests and answers go out at once, as HAProxy's do. */
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if ((reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) || bind(fd, (struct sockaddr *)&sa, salen) < 0 ||
      listen(fd, 511) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, reuse_port ? "listen (SO_REUSEPORT)" : "listen");
  }
  Listener *l = calloc(1, sizeof *l);
  l->tag.kind = KIND_LISTENER;
  l->m = m;
  l->fd = fd;
  l->connect_timeout_ms = timeout_ms;
  napi_create_reference(env, argv[4], 1, &l->on_accept);
  napi_create_reference(env, argv[5], 1, &l->on_connect_failed);
  napi_create_reference(env, argv[6], 1, &l->on_closed);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = l};
  if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
    int err = errno;
    close(fd);
    free(l);
    return throw_errno(env, err, "epoll_ctl");
  }
  m->open_listeners = realloc(m->open_listeners, (m->listeners + 1) * sizeof *m->open_listeners);
  m->open_listeners[m->listeners++] = l;
  /* Node keeps running while a listener is open, as it does for a listening net.Server. */
  if (m->listeners == 1) uv_ref((uv_handle_t *)&m->poll);
  napi_value handle;
  napi_create_external(env, l, NULL, NULL, &handle);
  return handle;
}

static Listener *listener_arg(napi_env env, napi_callback_info info, size_t count, napi_value *argv) {
  Listener *l = external_arg(env, info, count, argv);
  if (l == NULL || l->closing) {
    napi_throw_error(env, "ERR_SOCKET_CLOSED", "tcp-relay: not an open listener");
    return NULL;
  }
  return l;
}

static int bpf(int cmd, union bpf_attr *attr) {
  return (int)syscall(SYS_bpf, cmd, attr, sizeof *attr);
}

/*
 * Makes the SO_REUSEPORT group `fd` belongs to hand out connections in turn over its first `n` sockets, instead
 * of by the hash of each client's address and port: the hash leaves a pool of connections opened at once spread
 * unevenly (22/10 over two workers seen), which a kept-alive load then keeps. A five-instruction eBPF program
 * with a counter in a one-entry array map: index = counter++ % n. The group holds the program; the last socket to
 * attach one sets it. 0, or an errno (no bpf(2) here: the group keeps the hash).
 */
static int spread_in_turn(int fd, uint32_t n) {
  union bpf_attr map = {.map_type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 8, .max_entries = 1};
  int map_fd = bpf(BPF_MAP_CREATE, &map);
  if (map_fd < 0) return errno;
  struct bpf_insn prog[] = {
      {.code = BPF_ST | BPF_MEM | BPF_W, .dst_reg = BPF_REG_10, .off = -4, .imm = 0}, /* key = 0 */
      {.code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_2, .src_reg = BPF_REG_10},
      {.code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = BPF_REG_2, .imm = -4},
      {.code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = BPF_REG_1, .src_reg = BPF_PSEUDO_MAP_FD, .imm = map_fd},
      {0},
      {.code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_map_lookup_elem},
      {.code = BPF_JMP | BPF_JNE | BPF_K, .dst_reg = BPF_REG_0, .off = 2, .imm = 0},
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = -1}, /* out of range: the hash decides */
      {.code = BPF_JMP | BPF_EXIT},
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_1, .imm = 1},
      {.code = BPF_STX | BPF_ATOMIC | BPF_DW, .dst_reg = BPF_REG_0, .src_reg = BPF_REG_1, .imm = BPF_ADD | BPF_FETCH},
      {.code = BPF_ALU64 | BPF_MOD | BPF_K, .dst_reg = BPF_REG_1, .imm = (int32_t)n},
      {.code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_0, .src_reg = BPF_REG_1},
      {.code = BPF_JMP | BPF_EXIT},
  };
  union bpf_attr load = {
      .prog_type = BPF_PROG_TYPE_SOCKET_FILTER,
      .insns = (uint64_t)(uintptr_t)prog,
      .insn_cnt = sizeof prog / sizeof prog[0],
      .license = (uint64_t)(uintptr_t)"GPL",
  };
  int prog_fd = bpf(BPF_PROG_LOAD, &load);
  int err = prog_fd < 0 ? errno : 0;
  if (!err && setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, &prog_fd, sizeof prog_fd) < 0) err = errno;
  if (prog_fd >= 0) close(prog_fd); /* the group keeps the program, and the program its map */
  close(map_fd);
  return err;
}

/* spreadInTurn(listener, n) → 0 or a negative errno: see spread_in_turn (the listener must be in a SO_REUSEPORT group). */
static napi_value SpreadInTurn(napi_env env, napi_callback_info info) {
  napi_value argv[2], out;
  Listener *l = listener_arg(env, info, 2, argv);
  if (!l) return NULL;
  uint32_t n;
  if (napi_get_value_uint32(env, argv[1], &n) != napi_ok || n == 0) {
    napi_throw_range_error(env, NULL, "spreadInTurn: n must be a whole number of sockets, at least 1");
    return NULL;
  }
  napi_create_int32(env, -spread_in_turn(l->fd, n), &out);
  return out;
}

/* localPort(listener) → the port it is bound to. */
static napi_value LocalPort(napi_env env, napi_callback_info info) {
  napi_value argv[1], out;
  Listener *l = listener_arg(env, info, 1, argv);
  if (!l) return NULL;
  napi_create_int32(env, bound_port(l->fd), &out);
  return out;
}

/* wantLocalAddress(listener, on): onAccept is given the address each client connected to (for routes by address). */
static napi_value WantLocalAddress(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Listener *l = listener_arg(env, info, 2, argv);
  if (!l) return NULL;
  bool on;
  napi_get_value_bool(env, argv[1], &on);
  l->want_local = on;
  return NULL;
}

/* stats(listener) → [open connections, sockets open for them, bytes waiting to be written]. */
static napi_value Stats(napi_env env, napi_callback_info info) {
  napi_value argv[1], out, v;
  Listener *l = listener_arg(env, info, 1, argv);
  if (!l) return NULL;
  double sockets = 0, queued = 0;
  for (Conn *c = l->conns; c; c = c->next) {
    sockets += c->backend.fd >= 0 ? 2 : 1;
    queued += (c->up.len - c->up.off) + (c->down.len - c->down.off);
  }
  napi_create_array_with_length(env, 3, &out);
  napi_create_double(env, l->open, &v);
  napi_set_element(env, out, 0, v);
  napi_create_double(env, sockets, &v);
  napi_set_element(env, out, 1, v);
  napi_create_double(env, queued, &v);
  napi_set_element(env, out, 2, v);
  return out;
}

/*
 * closeListener(listener): the socket is closed at once (the port is free, or left to the rest of its
 * SO_REUSEPORT group) and every connection through it is cut, without callbacks.
 */
static napi_value CloseListener(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Listener *l = listener_arg(env, info, 1, argv);
  if (!l) return NULL;
  Module *m = l->m;
  l->closing = 1;
  close(l->fd);
  if (l->paused_until) m->paused--;
  for (uint32_t i = 0; i < m->listeners; i++) {
    if (m->open_listeners[i] != l) continue;
    m->open_listeners[i] = m->open_listeners[--m->listeners];
    break;
  }
  if (m->listeners == 0) uv_unref((uv_handle_t *)&m->poll);
  while (l->conns) close_conn(l->conns, 0);
  napi_delete_reference(env, l->on_accept);
  napi_delete_reference(env, l->on_connect_failed);
  napi_delete_reference(env, l->on_closed);
  if (m->dispatching) {
    l->zombie_next = m->listener_zombies;
    m->listener_zombies = l;
  } else {
    free(l);
  }
  return NULL;
}

static Conn *conn_arg(napi_env env, napi_value v) {
  Module *m = module_of(env);
  uint32_t id;
  if (napi_get_value_uint32(env, v, &id) != napi_ok || id >= m->table_size || !m->table[id]) {
    napi_throw_error(env, "ERR_INVALID_ARG_VALUE", "tcp-relay: no open connection has this ID");
    return NULL;
  }
  return m->table[id];
}

/*
 * connect(id, address, port) → 0 (under way or done; a later failure comes to onConnectFailed) or a negative
 * errno when it failed at once (the connection then has no backend and may be given another).
 */
static napi_value Connect(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], out;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Conn *c = argc < 3 ? NULL : conn_arg(env, argv[0]);
  if (!c) return NULL;
  if (c->state != 0) {
    napi_throw_error(env, "ERR_INVALID_STATE", "tcp-relay: the connection already has a backend");
    return NULL;
  }
  struct sockaddr_storage sa;
  socklen_t salen;
  if (address_args(env, argv[1], argv[2], &sa, &salen) < 0) return NULL;
  Module *m = c->listener->m;
  int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int rc = fd < 0 ? -errno : 0;
  if (fd >= 0) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->backend = (Side){.tag = {KIND_SIDE}, .conn = c, .fd = fd};
    if (connect(fd, (struct sockaddr *)&sa, salen) == 0) {
      /* At once (a backend on this host may accept before connect returns): both registered, and the edges of
         what either has sent already come with the next wakeup. */
      rc = -register_side(m, &c->backend);
      if (!rc) rc = -start_relaying(c);
    } else if (errno == EINPROGRESS) {
      rc = -register_side(m, &c->backend);
      if (!rc) {
        c->state = CONNECTING;
        c->deadline = now_ms(m) + c->listener->connect_timeout_ms;
        m->connecting++;
        ensure_sweeping(m);
      }
    } else {
      rc = -errno;
    }
    if (rc) {
      /* Only the backend can be registered here (the client is registered last): closing it unregisters it. */
      c->state = 0;
      close(fd);
      c->backend = (Side){.tag = {KIND_SIDE}, .conn = c, .fd = -1};
    }
  }
  napi_create_int32(env, rc, &out);
  return out;
}

/* cut(id) → [bytesIn, bytesOut]: closes the connection now (a relay under way is cut), with no callback. */
static napi_value Cut(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out, v;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  Conn *c = argc < 1 ? NULL : conn_arg(env, argv[0]);
  if (!c) return NULL;
  napi_create_array_with_length(env, 2, &out);
  napi_create_double(env, c->up.bytes, &v);
  napi_set_element(env, out, 0, v);
  napi_create_double(env, c->down.bytes, &v);
  napi_set_element(env, out, 1, v);
  close_conn(c, 0);
  return out;
}

static void on_module_closed(uv_handle_t *h) {
  (void)h;
}

/* At process exit (or when Node unloads the environment): the epoll set goes; sockets go with the process. */
static void unload(napi_env env, void *data, void *hint) {
  Module *m = data;
  (void)hint;
  uv_close((uv_handle_t *)&m->poll, on_module_closed);
  uv_close((uv_handle_t *)&m->sweep, on_module_closed);
  uv_close((uv_handle_t *)&m->again_idle, on_module_closed);
  close(m->epfd);
}

static napi_value Init(napi_env env, napi_value exports) {
  Module *m = calloc(1, sizeof *m);
  m->env = env;
  m->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (m->epfd < 0) return throw_errno(env, errno, "epoll_create1");
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &m->poll, m->epfd);
  m->poll.data = m;
  uv_poll_start(&m->poll, UV_READABLE, on_epoll_readable);
  /* Not until a listener is open (Listen refs it); the sweep timer never keeps Node running. */
  uv_unref((uv_handle_t *)&m->poll);
  uv_timer_init(loop, &m->sweep);
  m->sweep.data = m;
  uv_unref((uv_handle_t *)&m->sweep);
  uv_idle_init(loop, &m->again_idle);
  m->again_idle.data = m;
  uv_unref((uv_handle_t *)&m->again_idle);
  napi_value resource, name;
  napi_create_object(env, &resource);
  napi_create_reference(env, resource, 1, &m->resource);
  napi_create_string_utf8(env, "shoal:tcp-relay", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, resource, name, &m->async_context);
  napi_set_instance_data(env, m, unload, NULL);

  napi_property_descriptor props[] = {
      {"listen", NULL, Listen, NULL, NULL, NULL, napi_default, NULL},
      {"localPort", NULL, LocalPort, NULL, NULL, NULL, napi_default, NULL},
      {"spreadInTurn", NULL, SpreadInTurn, NULL, NULL, NULL, napi_default, NULL},
      {"wantLocalAddress", NULL, WantLocalAddress, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, Stats, NULL, NULL, NULL, napi_default, NULL},
      {"closeListener", NULL, CloseListener, NULL, NULL, NULL, napi_default, NULL},
      {"connect", NULL, Connect, NULL, NULL, NULL, napi_default, NULL},
      {"cut", NULL, Cut, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)

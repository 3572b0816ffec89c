/*
 * The resolver's UDP socket read and written in batches: recvmmsg(2) takes up to a batch of queries in one system
 * call, JavaScript answers all of them in one callback (writing each answer into the slot of its query), and
 * sendmmsg(2) sends every answer in one more. Node 20's dgram makes a system call and a call into JavaScript per
 * datagram each way, which measured here is twice dnsmasq's cost per query; this is the thin part that touches the
 * kernel, everything else (which answer, which source may see which name) stays in TypeScript
 * (dns/udp-batch-socket.ts). The socket may join a SO_REUSEPORT group, so extra reader processes each read a
 * socket of their own on the same address and port (Node 20 has no reusePort).
 *
 * Memory: three ArrayBuffers owned by JavaScript and kept alive here until close: `in` and `out` hold
 * slots × slotSize bytes (query i in in-slot i, its answer in out-slot i); `meta` holds META_INTS int32 per slot:
 *   0 length of the datagram (-1: longer than a slot, cut short), 1 source port, 2 family (4 or 6),
 *   3 answer length (written by JavaScript; 0: no answer), 4..7 source address (v4: host-order uint32 in int 4;
 *   v6: 16 bytes in network order). A v4-mapped IPv6 source is reported as family 4.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "../../control/base/native/napi-support.h"

#define META_INTS 8

typedef struct {
  napi_env env;
  int fd;
  int family;
  int closing;
  uv_poll_t poll;
  napi_ref on_batch, in_ref, out_ref, meta_ref;
  napi_async_context async_context;
  uint8_t *in, *out;
  int32_t *meta;
  size_t slots, slot_size;
  struct mmsghdr *rmsg, *smsg;
  struct iovec *riov, *siov;
  struct sockaddr_storage *addr;
  /* Answers the kernel refused since the last batch was handed to JavaScript (told with the next one). */
  int32_t send_failures;
} BatchSocket;

static void describe_source(BatchSocket *s, size_t i) {
  int32_t *m = s->meta + i * META_INTS;
  struct sockaddr_storage *a = &s->addr[i];
  memset(m + 4, 0, 16);
  if (a->ss_family == AF_INET) {
    struct sockaddr_in *v4 = (struct sockaddr_in *)a;
    m[1] = ntohs(v4->sin_port);
    m[2] = 4;
    m[4] = (int32_t)ntohl(v4->sin_addr.s_addr);
  } else {
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)a;
    m[1] = ntohs(v6->sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
      uint32_t v4;
      memcpy(&v4, v6->sin6_addr.s6_addr + 12, 4);
      m[2] = 4;
      m[4] = (int32_t)ntohl(v4);
    } else {
      m[2] = 6;
      memcpy(m + 4, v6->sin6_addr.s6_addr, 16);
    }
  }
}

/* Sends the answers JavaScript wrote for the batch just read, to each query's source, in as few calls as the kernel takes. */
static void send_answers(BatchSocket *s, int n) {
  unsigned int m = 0;
  for (int i = 0; i < n; i++) {
    int32_t len = s->meta[i * META_INTS + 3];
    if (len <= 0 || (size_t)len > s->slot_size) continue;
    s->siov[m].iov_base = s->out + (size_t)i * s->slot_size;
    s->siov[m].iov_len = (size_t)len;
    memset(&s->smsg[m], 0, sizeof(struct mmsghdr));
    s->smsg[m].msg_hdr.msg_iov = &s->siov[m];
    s->smsg[m].msg_hdr.msg_iovlen = 1;
    s->smsg[m].msg_hdr.msg_name = &s->addr[i];
    s->smsg[m].msg_hdr.msg_namelen = s->rmsg[i].msg_hdr.msg_namelen;
    m++;
  }
  unsigned int off = 0;
  while (off < m) {
    int k = sendmmsg(s->fd, s->smsg + off, m - off, MSG_DONTWAIT);
    if (k > 0) {
      off += (unsigned int)k;
    } else if (k < 0 && errno == EINTR) {
      continue;
    } else if (k < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
      /* The send buffer is full: UDP answers are dropped, as the kernel would drop them later anyway. */
      s->send_failures += m - off;
      break;
    } else {
      /* The first message of the rest failed (an address the kernel refuses): skip it, send the others. */
      s->send_failures++;
      off++;
    }
  }
}

static void on_readable(uv_poll_t *poll, int status, int events) {
  BatchSocket *s = poll->data;
  (void)events;
  if (status < 0 || s->closing) return;
  /* The headers were set up at open; the kernel shortened the address lengths of the last batch's slots. */
  for (size_t i = 0; i < s->slots; i++) s->rmsg[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
  /* One batch per wakeup: the loop then runs timers and IPC (table changes) before the next. */
  int n = recvmmsg(s->fd, s->rmsg, (unsigned int)s->slots, MSG_DONTWAIT, NULL);
  if (n <= 0) return;
  for (int i = 0; i < n; i++) {
    int32_t *m = s->meta + (size_t)i * META_INTS;
    m[0] = (s->rmsg[i].msg_hdr.msg_flags & MSG_TRUNC) ? -1 : (int32_t)s->rmsg[i].msg_len;
    m[3] = 0;
    describe_source(s, (size_t)i);
  }
  napi_env env = s->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb, recv, args[2], result;
  napi_get_reference_value(env, s->on_batch, &cb);
  napi_get_global(env, &recv);
  napi_create_int32(env, n, &args[0]);
  napi_create_int32(env, s->send_failures, &args[1]);
  s->send_failures = 0;
  if (napi_make_callback(env, s->async_context, recv, cb, 2, args, &result) != napi_ok) report_pending_exception(env);
  napi_close_handle_scope(env, scope);
  if (!s->closing) send_answers(s, n);
}

static void free_socket(BatchSocket *s) {
  napi_delete_reference(s->env, s->on_batch);
  napi_delete_reference(s->env, s->in_ref);
  napi_delete_reference(s->env, s->out_ref);
  napi_delete_reference(s->env, s->meta_ref);
  napi_async_destroy(s->env, s->async_context);
  free(s->rmsg);
  free(s->smsg);
  free(s->riov);
  free(s->siov);
  free(s->addr);
  free(s);
}

static void on_poll_closed(uv_handle_t *h) {
  free_socket(h->data);
}

static int parse_address(const char *text, int port, int family, struct sockaddr_storage *out, socklen_t *len) {
  memset(out, 0, sizeof *out);
  struct in_addr v4;
  if (inet_pton(AF_INET, text, &v4) == 1) {
    if (family == AF_INET6) {
      /* A v4 client of a dual-stack socket: its v4-mapped address. */
      struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
      a->sin6_family = AF_INET6;
      a->sin6_port = htons((uint16_t)port);
      a->sin6_addr.s6_addr[10] = 0xff;
      a->sin6_addr.s6_addr[11] = 0xff;
      memcpy(a->sin6_addr.s6_addr + 12, &v4, 4);
      *len = sizeof *a;
    } else {
      struct sockaddr_in *a = (struct sockaddr_in *)out;
      a->sin_family = AF_INET;
      a->sin_port = htons((uint16_t)port);
      a->sin_addr = v4;
      *len = sizeof *a;
    }
    return 0;
  }
  struct sockaddr_in6 *a = (struct sockaddr_in6 *)out;
  if (family != AF_INET6 || inet_pton(AF_INET6, text, &a->sin6_addr) != 1) return -1;
  a->sin6_family = AF_INET6;
  a->sin6_port = htons((uint16_t)port);
  *len = sizeof *a;
  return 0;
}

static int get_string(napi_env env, napi_value v, char *buf, size_t size) {
  size_t len;
  return napi_get_value_string_utf8(env, v, buf, size, &len) == napi_ok ? 0 : -1;
}

static int get_arraybuffer(napi_env env, napi_value v, void **data, size_t *len) {
  return napi_get_arraybuffer_info(env, v, data, len) == napi_ok ? 0 : -1;
}

static int bind_socket(int family, const struct sockaddr_storage *sa, socklen_t salen, int reuse_port, int *out_fd) {
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  int one = 1;
  if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
    int err = errno;
    close(fd);
    return err;
  }
  if (bind(fd, (const struct sockaddr *)sa, salen) < 0) {
    int err = errno;
    close(fd);
    return err;
  }
  *out_fd = fd;
  return 0;
}

/* Parses address and port into sa; throws (and returns -1) when they are not a literal and a port. */
static int socket_address(napi_env env, napi_value address_v, napi_value port_v, struct sockaddr_storage *sa, socklen_t *salen, int *family) {
  char address[INET6_ADDRSTRLEN + 1];
  int32_t port;
  struct in6_addr probe6;
  if (get_string(env, address_v, address, sizeof address) || napi_get_value_int32(env, port_v, &port) != napi_ok || port < 0 || port > 65535) {
    napi_throw_type_error(env, NULL, "udp-batch: address must be an IP literal and port 0-65535");
    return -1;
  }
  *family = inet_pton(AF_INET6, address, &probe6) == 1 ? AF_INET6 : AF_INET;
  if (parse_address(address, port, *family, sa, salen) < 0) {
    napi_throw_type_error(env, NULL, "udp-batch: address must be an IPv4 or IPv6 literal");
    return -1;
  }
  return 0;
}

/*
 * probe(address, port) → the port a plain bind gets there (port 0: a free one), after closing it again. Fails
 * like that bind when anyone holds the port: the check SO_REUSEPORT would skip (a stale resolver still bound).
 */
static napi_value Probe(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  struct sockaddr_storage sa;
  socklen_t salen;
  int family, fd, err;
  if (argc < 2 || socket_address(env, argv[0], argv[1], &sa, &salen, &family) < 0) return NULL;
  if ((err = bind_socket(family, &sa, salen, 0, &fd)) != 0) return throw_errno(env, err, "bind");
  int port = bound_port(fd);
  close(fd);
  napi_create_int32(env, port, &out);
  return out;
}

/*
 * open(address, port, reusePort, in, out, meta, onBatch) → handle: bound and reading. With reusePort the socket
 * joins (or starts) the SO_REUSEPORT group on address and port.
 */
static napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool reuse_port;
  void *in, *out, *meta;
  size_t in_len, out_len, meta_len;
  napi_valuetype cb_type;
  if (argc < 7 || napi_get_value_bool(env, argv[2], &reuse_port) != napi_ok || get_arraybuffer(env, argv[3], &in, &in_len) ||
      get_arraybuffer(env, argv[4], &out, &out_len) || get_arraybuffer(env, argv[5], &meta, &meta_len) ||
      napi_typeof(env, argv[6], &cb_type) != napi_ok || cb_type != napi_function) {
    napi_throw_type_error(env, NULL, "open(address, port, reusePort, in, out, meta, onBatch): bad arguments");
    return NULL;
  }
  size_t slots = meta_len / (META_INTS * sizeof(int32_t));
  if (slots == 0 || in_len != out_len || in_len % slots != 0 || in_len / slots < 512) {
    napi_throw_range_error(env, NULL, "open: meta must hold at least one slot; in and out the same size, >= 512 bytes a slot");
    return NULL;
  }
  struct sockaddr_storage sa;
  socklen_t salen;
  int family, fd, err;
  if (socket_address(env, argv[0], argv[1], &sa, &salen, &family) < 0) return NULL;
  if ((err = bind_socket(family, &sa, salen, reuse_port, &fd)) != 0) return throw_errno(env, err, "bind");

  BatchSocket *s = calloc(1, sizeof *s);
  s->env = env;
  s->fd = fd;
  s->family = family;
  s->slots = slots;
  s->slot_size = in_len / slots;
  s->in = in;
  s->out = out;
  s->meta = meta;
  s->rmsg = calloc(slots, sizeof(struct mmsghdr));
  s->smsg = calloc(slots, sizeof(struct mmsghdr));
  s->riov = calloc(slots, sizeof(struct iovec));
  s->siov = calloc(slots, sizeof(struct iovec));
  s->addr = calloc(slots, sizeof(struct sockaddr_storage));
  for (size_t i = 0; i < slots; i++) {
    /* Slot i receives into in-slot i, its source into addr[i]: fixed for the socket's life. */
    s->riov[i].iov_base = s->in + i * s->slot_size;
    s->riov[i].iov_len = s->slot_size;
    s->rmsg[i].msg_hdr.msg_iov = &s->riov[i];
    s->rmsg[i].msg_hdr.msg_iovlen = 1;
    s->rmsg[i].msg_hdr.msg_name = &s->addr[i];
  }
  napi_create_reference(env, argv[6], 1, &s->on_batch);
  napi_create_reference(env, argv[3], 1, &s->in_ref);
  napi_create_reference(env, argv[4], 1, &s->out_ref);
  napi_create_reference(env, argv[5], 1, &s->meta_ref);
  napi_value name;
  napi_create_string_utf8(env, "shoal:udp-batch", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &s->async_context);
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &s->poll, fd);
  s->poll.data = s;
  uv_poll_start(&s->poll, UV_READABLE, on_readable);
  napi_value handle;
  napi_create_external(env, s, NULL, NULL, &handle);
  return handle;
}

/*
 * The socket a call names in its first argument (argv gets all `count` arguments); throws when it is closed.
 * JavaScript drops its handle at close (udp-batch-socket.ts), so a freed socket is never named.
 */
static BatchSocket *socket_arg(napi_env env, napi_callback_info info, size_t count, napi_value *argv) {
  BatchSocket *s = external_arg(env, info, count, argv);
  if (s == NULL || s->closing) {
    napi_throw_error(env, "ERR_SOCKET_CLOSED", "udp-batch: not an open socket");
    return NULL;
  }
  return s;
}

/* localPort(handle) → the bound port. */
static napi_value LocalPort(napi_env env, napi_callback_info info) {
  napi_value argv[1], out;
  BatchSocket *s = socket_arg(env, info, 1, argv);
  if (!s) return NULL;
  napi_create_int32(env, bound_port(s->fd), &out);
  return out;
}

/* sendTo(handle, buffer, address, port) → 0, or a negative errno: one datagram now (an answer that came later). */
static napi_value SendTo(napi_env env, napi_callback_info info) {
  napi_value argv[4], out;
  BatchSocket *s = socket_arg(env, info, 4, argv);
  if (!s) return NULL;
  void *data;
  size_t len;
  char address[INET6_ADDRSTRLEN + 1];
  int32_t port;
  struct sockaddr_storage sa;
  socklen_t salen;
  if (napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok || get_string(env, argv[2], address, sizeof address) ||
      napi_get_value_int32(env, argv[3], &port) != napi_ok || parse_address(address, port, s->family, &sa, &salen) < 0) {
    napi_throw_type_error(env, NULL, "sendTo(handle, buffer, address, port): bad arguments");
    return NULL;
  }
  int rc = 0;
  while (sendto(s->fd, data, len, MSG_DONTWAIT, (struct sockaddr *)&sa, salen) < 0) {
    if (errno == EINTR) continue;
    rc = -errno;
    break;
  }
  napi_create_int32(env, rc, &out);
  return out;
}

/*
 * close(handle): no callback after this returns, and the socket is closed at once (it leaves its SO_REUSEPORT
 * group, the port is free); the rest is freed once libuv lets go of the poll handle. uv_close takes the fd out of
 * the event loop synchronously, so closing it right after cannot confuse libuv with a reused fd number.
 */
static napi_value Close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  BatchSocket *s = socket_arg(env, info, 1, argv);
  if (!s) return NULL;
  s->closing = 1;
  uv_close((uv_handle_t *)&s->poll, on_poll_closed);
  close(s->fd);
  s->fd = -1;
  return NULL;
}

static void export_function(napi_env env, napi_value exports, const char *name, napi_callback fn) {
  napi_value f;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &f);
  napi_set_named_property(env, exports, name, f);
}

NAPI_MODULE_INIT() {
  export_function(env, exports, "probe", Probe);
  export_function(env, exports, "open", Open);
  export_function(env, exports, "localPort", LocalPort);
  export_function(env, exports, "sendTo", SendTo);
  export_function(env, exports, "close", Close);
  napi_value slots;
  napi_create_int32(env, META_INTS, &slots);
  napi_set_named_property(env, exports, "META_INTS", slots);
  return exports;
}

/*
 * What both native parts (dns/native/udp-batch.c, mesh/native/tcp-relay.c) need from N-API and the socket API
 * alike: errors thrown the way Node's own are (code = the errno's name), an exception from a callback reported as
 * uncaught instead of lost, the port a socket is bound to, and the object a call names in its first argument.
 * Included by each (one file each, built by scripts/build-native.sh), so everything here is static.
 */
#ifndef SHOAL_NAPI_SUPPORT_H
#define SHOAL_NAPI_SUPPORT_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* Throws an Error with code EADDRINUSE (say) and message "what EADDRINUSE: Address already in use"; returns NULL. */
static napi_value throw_errno(napi_env env, int err, const char *what) {
  char msg[256];
  const char *name = strerrorname_np(err);
  snprintf(msg, sizeof msg, "%s %s: %s", what, name ? name : "E?", strerror(err));
  napi_throw_error(env, name, msg);
  return NULL;
}

/* A JavaScript callback threw: the exception goes to process 'uncaughtException', as a throw in an event would. */
static void report_pending_exception(napi_env env) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) return;
  napi_value err;
  napi_get_and_clear_last_exception(env, &err);
  napi_fatal_exception(env, err);
}

/* The port `fd` is bound to, or -1. */
static int bound_port(int fd) {
  struct sockaddr_storage sa;
  socklen_t len = sizeof sa;
  if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0) return -1;
  return ntohs(sa.ss_family == AF_INET ? ((struct sockaddr_in *)&sa)->sin_port : ((struct sockaddr_in6 *)&sa)->sin6_port);
}

/*
 * The pointer the call's first argument wraps (napi_create_external), with all `count` arguments in argv; NULL
 * when there are fewer or the first is not one. The caller throws, naming what it expected.
 */
static void *external_arg(napi_env env, napi_callback_info info, size_t count, napi_value *argv) {
  size_t argc = count;
  void *p = NULL;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < count || napi_get_value_external(env, argv[0], &p) != napi_ok) return NULL;
  return p;
}

#endif

// faultline's native helper: the original destination of a socket that iptables REDIRECTed to
// a capture listener (getsockopt SO_ORIGINAL_DST, and IP6T_SO_ORIGINAL_DST for IPv6).
// Exposes originalDst(fd) -> { address, port, family } and throws with errno's text otherwise.
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <node_api.h>

static napi_value fail(napi_env env, const char *what, int err) {
  char message[160];
  snprintf(message, sizeof message, "%s: %s", what, strerror(err));
  napi_throw_error(env, err == ENOENT ? "FL_ERR_NOT_REDIRECTED" : "FL_ERR_ORIGINAL_DST", message);
  return NULL;
}

static napi_value original_dst(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, "FL_ERR_USAGE", "originalDst(fd): fd must be a socket file descriptor");
    return NULL;
  }

  struct sockaddr_storage local;
  socklen_t local_len = sizeof local;
  if (getsockname(fd, (struct sockaddr *)&local, &local_len) != 0) return fail(env, "getsockname", errno);

  struct sockaddr_storage dst;
  socklen_t dst_len = sizeof dst;
  memset(&dst, 0, sizeof dst);
  int family = 4;
  // An IPv4 connection on a dual-stack socket still carries IPv4 conntrack state.
  if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &dst, &dst_len) != 0) {
    int err = errno;
    if (local.ss_family != AF_INET6) return fail(env, "SO_ORIGINAL_DST", err);
    dst_len = sizeof dst;
    if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &dst, &dst_len) != 0) return fail(env, "IP6T_SO_ORIGINAL_DST", errno);
    family = 6;
  }

  char text[INET6_ADDRSTRLEN];
  int port;
  if (dst.ss_family == AF_INET6) {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&dst;
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    port = ntohs(in6->sin6_port);
    family = 6;
  } else {
    struct sockaddr_in *in4 = (struct sockaddr_in *)&dst;
    inet_ntop(AF_INET, &in4->sin_addr, text, sizeof text);
    port = ntohs(in4->sin_port);
    family = 4;
  }

  napi_value result, address, port_value, family_value;
  napi_create_object(env, &result);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &address);
  napi_create_int32(env, port, &port_value);
  napi_create_int32(env, family, &family_value);
  napi_set_named_property(env, result, "address", address);
  napi_set_named_property(env, result, "port", port_value);
  napi_set_named_property(env, result, "family", family_value);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "originalDst", NAPI_AUTO_LENGTH, original_dst, NULL, &fn);
  napi_set_named_property(env, exports, "originalDst", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

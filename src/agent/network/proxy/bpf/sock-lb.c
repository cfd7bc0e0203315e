// SPDX-License-Identifier: GPL-2.0
/*
 * hedge's socket-level Service balancer (see ../README.md, "Socket balancer").
 *
 * cgroup sock_addr hooks attached to the node's own cgroup2 subtree (its pods' cgroups): a
 * connect()/sendmsg() to a ClusterIP:port in the svc4/svc6 maps is rewritten to one of the
 * Service's endpoints before any packet exists, so the flow's packets carry the endpoint address
 * and need no DNAT/conntrack translation. recvmsg() of an unconnected UDP socket gets the ClusterIP
 * back as the reply's source (rev4/rev6, keyed by socket cookie), so DNS to a ClusterIP works.
 *
 * What is not in the maps (no endpoints, ClientIP affinity, more than MAX_EP endpoints, NodePorts,
 * SCTP) is left alone and takes the nftables proxy as before. The maps are filled by the node
 * (socket-lb.ts) through `bpftool batch`; the layouts here and there must match.
 *
 * Built by `clang -O2 -g -target bpf -c sock-lb.c` (scripts/setup.sh or the node's cache).
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_EP 64

struct svc_key4 {
	__u32 ip;    /* network order */
	__u16 port;  /* network order */
	__u8 proto;  /* IPPROTO_TCP | IPPROTO_UDP */
	__u8 pad;
};

struct ep4 {
	__u32 ip;
	__u16 port;
	__u16 pad;
};

struct svc_val4 {
	__u32 count; /* host order, 1..MAX_EP */
	__u32 pad;
	struct ep4 eps[MAX_EP];
};

struct svc_key6 {
	__u32 ip[4];
	__u16 port;
	__u8 proto;
	__u8 pad;
};

struct ep6 {
	__u32 ip[4];
	__u16 port;
	__u16 pad;
};

struct svc_val6 {
	__u32 count;
	__u32 pad;
	struct ep6 eps[MAX_EP];
};

/* reverse translation for UDP replies: (socket, endpoint) → the Service address it was sent to */
struct rev_key4 {
	__u64 cookie;
	__u32 ip;
	__u16 port;
	__u16 pad;
};

struct rev_val4 {
	__u32 ip;
	__u16 port;
	__u16 pad;
};

struct rev_key6 {
	__u64 cookie;
	__u32 ip[4];
	__u16 port;
	__u16 pad;
	__u32 pad2;
};

struct rev_val6 {
	__u32 ip[4];
	__u16 port;
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct svc_key4);
	__type(value, struct svc_val4);
} svc4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct svc_key6);
	__type(value, struct svc_val6);
} svc6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct rev_key4);
	__type(value, struct rev_val4);
} rev4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct rev_key6);
	__type(value, struct rev_val6);
} rev6 SEC(".maps");

static __always_inline __u8 l4proto(struct bpf_sock_addr *ctx)
{
	__u32 p = ctx->protocol;
	if (p == IPPROTO_TCP || p == IPPROTO_UDP)
		return (__u8)p;
	return 0;
}

/* a random slot below n (1..MAX_EP); the barrier keeps the bound the verifier needs from being folded away */
static __always_inline __u32 slot(__u32 n)
{
	__u32 i = bpf_get_prandom_u32() % n;
	asm volatile("" : "+r"(i));
	return i & (MAX_EP - 1);
}

/* ip:port (network order) → an endpoint, or 0 when it is no balanced Service */
static __always_inline const struct ep4 *pick4(__u32 ip, __u16 port, __u8 proto)
{
	struct svc_key4 k = { .ip = ip, .port = port, .proto = proto };
	const struct svc_val4 *v = bpf_map_lookup_elem(&svc4, &k);
	if (!v)
		return 0;
	__u32 n = v->count;
	if (n == 0 || n > MAX_EP)
		return 0;
	return &v->eps[slot(n)];
}

static __always_inline void remember4(struct bpf_sock_addr *ctx, const struct ep4 *ep, __u32 svc_ip, __u16 svc_port)
{
	struct rev_key4 k = { .cookie = bpf_get_socket_cookie(ctx), .ip = ep->ip, .port = ep->port };
	struct rev_val4 v = { .ip = svc_ip, .port = svc_port };
	bpf_map_update_elem(&rev4, &k, &v, BPF_ANY);
}

static __always_inline int xlate4(struct bpf_sock_addr *ctx, int udp_rev)
{
	__u8 proto = l4proto(ctx);
	if (!proto)
		return 1;
	__u32 ip = ctx->user_ip4;
	__u16 port = (__u16)ctx->user_port;
	const struct ep4 *ep = pick4(ip, port, proto);
	if (!ep)
		return 1;
	if (udp_rev && proto == IPPROTO_UDP)
		remember4(ctx, ep, ip, port);
	ctx->user_ip4 = ep->ip;
	ctx->user_port = ep->port;
	return 1;
}

SEC("cgroup/connect4")
int hedge_connect4(struct bpf_sock_addr *ctx)
{
	/* a connected UDP socket can still recvfrom() with an address: remember it too */
	return xlate4(ctx, 1);
}

SEC("cgroup/sendmsg4")
int hedge_sendmsg4(struct bpf_sock_addr *ctx)
{
	return xlate4(ctx, 1);
}

SEC("cgroup/recvmsg4")
int hedge_recvmsg4(struct bpf_sock_addr *ctx)
{
	struct rev_key4 k = { .cookie = bpf_get_socket_cookie(ctx), .ip = ctx->user_ip4, .port = (__u16)ctx->user_port };
	const struct rev_val4 *v = bpf_map_lookup_elem(&rev4, &k);
	if (v) {
		ctx->user_ip4 = v->ip;
		ctx->user_port = v->port;
	}
	return 1;
}

/* ::ffff:a.b.c.d — an IPv4 peer of a dual-stack socket: the IPv4 maps apply */
static __always_inline int v4mapped(const __u32 ip[4])
{
	return ip[0] == 0 && ip[1] == 0 && ip[2] == bpf_htonl(0x0000ffff);
}

static __always_inline int xlate6(struct bpf_sock_addr *ctx, int udp_rev)
{
	__u8 proto = l4proto(ctx);
	if (!proto)
		return 1;
	__u32 ip[4] = { ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3] };
	__u16 port = (__u16)ctx->user_port;
	if (v4mapped(ip)) {
		const struct ep4 *ep = pick4(ip[3], port, proto);
		if (!ep)
			return 1;
		if (udp_rev && proto == IPPROTO_UDP)
			remember4(ctx, ep, ip[3], port);
		ctx->user_ip6[3] = ep->ip;
		ctx->user_port = ep->port;
		return 1;
	}
	struct svc_key6 k = { .proto = proto, .port = port };
	__builtin_memcpy(k.ip, ip, sizeof(k.ip));
	const struct svc_val6 *v = bpf_map_lookup_elem(&svc6, &k);
	if (!v)
		return 1;
	__u32 n = v->count;
	if (n == 0 || n > MAX_EP)
		return 1;
	const struct ep6 *ep = &v->eps[slot(n)];
	if (udp_rev && proto == IPPROTO_UDP) {
		struct rev_key6 rk = { .cookie = bpf_get_socket_cookie(ctx), .port = ep->port };
		__builtin_memcpy(rk.ip, ep->ip, sizeof(rk.ip));
		struct rev_val6 rv = { .port = port };
		__builtin_memcpy(rv.ip, ip, sizeof(rv.ip));
		bpf_map_update_elem(&rev6, &rk, &rv, BPF_ANY);
	}
	ctx->user_ip6[0] = ep->ip[0];
	ctx->user_ip6[1] = ep->ip[1];
	ctx->user_ip6[2] = ep->ip[2];
	ctx->user_ip6[3] = ep->ip[3];
	ctx->user_port = ep->port;
	return 1;
}

SEC("cgroup/connect6")
int hedge_connect6(struct bpf_sock_addr *ctx)
{
	return xlate6(ctx, 1);
}

SEC("cgroup/sendmsg6")
int hedge_sendmsg6(struct bpf_sock_addr *ctx)
{
	return xlate6(ctx, 1);
}

SEC("cgroup/recvmsg6")
int hedge_recvmsg6(struct bpf_sock_addr *ctx)
{
	__u32 ip[4] = { ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3] };
	__u16 port = (__u16)ctx->user_port;
	if (v4mapped(ip)) {
		struct rev_key4 k = { .cookie = bpf_get_socket_cookie(ctx), .ip = ip[3], .port = port };
		const struct rev_val4 *v = bpf_map_lookup_elem(&rev4, &k);
		if (v) {
			ctx->user_ip6[3] = v->ip;
			ctx->user_port = v->port;
		}
		return 1;
	}
	struct rev_key6 k = { .cookie = bpf_get_socket_cookie(ctx), .port = port };
	__builtin_memcpy(k.ip, ip, sizeof(k.ip));
	const struct rev_val6 *v = bpf_map_lookup_elem(&rev6, &k);
	if (v) {
		ctx->user_ip6[0] = v->ip[0];
		ctx->user_ip6[1] = v->ip[1];
		ctx->user_ip6[2] = v->ip[2];
		ctx->user_ip6[3] = v->ip[3];
		ctx->user_port = v->port;
	}
	return 1;
}

char LICENSE[] SEC("license") = "GPL";

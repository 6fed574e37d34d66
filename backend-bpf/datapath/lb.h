/* Service load balancing (issue 7): ClusterIP and NodePort translation for the polc datapath.
 * Included by polc_datapath.bpf.c after its maps and parser constants; docs/datapath.md
 * ("Services") describes the maps and the packet walk.
 *
 *   polc_lb_from_pod    before the policy in polc_from_pod: a packet to a service address (a
 *                       ClusterIP:port, or any node IP:nodePort) gets its destination rewritten to
 *                       one backend:targetPort, chosen per connection and remembered in
 *                       polc_lb_ct; the policy then judges the backend pod and its target port
 *   polc_lb_to_pod      after an allowing verdict in polc_to_pod: a reply of such a connection gets
 *                       the service address back as its source (reverse NAT)
 *   polc_from_underlay  tc ingress of the node's underlay interface: NodePort connections from
 *                       other nodes (or outside); a remote backend also gets the source rewritten
 *                       to this node's address (SNAT), so that its replies come back here
 *   polc_to_underlay    tc egress of the underlay interface: reverse NAT of replies from local
 *                       NodePort backends
 *
 * A packet from a pod first asks polc_svc_filter (a Bloom filter of the service keys): most
 * packets go to no service and skip the hash lookup.
 * Only TCP and UDP are translated (SCTP's CRC32c checksum cannot be updated incrementally); IP
 * fragments are not translated. Every step is a fixed number of map lookups, no loops. */
#pragma once

#ifndef POLC_CAP_SERVICES
#define POLC_CAP_SERVICES 1024
#endif
#ifndef POLC_CAP_LB_BACKENDS
#define POLC_CAP_LB_BACKENDS 4096
#endif
#ifndef POLC_CAP_LB_CT
#define POLC_CAP_LB_CT 65536
#endif

/* Helpers only the load balancer uses (include/uapi/linux/bpf.h), prefixed so that they never
 * clash with declarations in polc_bpf.h. */
static polc_u32 (*polc_lb_prandom_u32)(void) = (void*)7;
static long (*polc_lb_store_bytes)(struct __sk_buff* skb, polc_u32 offset, const void* from, polc_u32 len,
                                   polc_u64 flags) = (void*)9;
static long (*polc_lb_l3_csum_replace)(struct __sk_buff* skb, polc_u32 offset, polc_u64 from, polc_u64 to,
                                       polc_u64 size) = (void*)10;
static long (*polc_lb_l4_csum_replace)(struct __sk_buff* skb, polc_u32 offset, polc_u64 from, polc_u64 to,
                                       polc_u64 flags) = (void*)11;
static long (*polc_lb_redirect_neigh)(polc_u32 ifindex, void* params, int plen, polc_u64 flags) = (void*)152;

#define POLC_LB_F_PSEUDO_HDR (1ull << 4)     /* BPF_F_PSEUDO_HDR */
#define POLC_LB_F_MARK_MANGLED_0 (1ull << 5) /* BPF_F_MARK_MANGLED_0 */
#define POLC_LB_TC_ACT_REDIRECT 7
#define POLC_LB_DIR_FORWARD 0
#define POLC_LB_DIR_REVERSE 1

/* ---- maps (structs: polc/backend_bpf/abi.h) ---------------------------------------------- */

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, POLC_CAP_SERVICES);
  __type(key, struct polc_svc_key);
  __type(value, struct polc_svc);
} polc_services SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, POLC_SVC_FILTER_WORDS);
  __type(key, polc_u32);
  __type(value, struct polc_svc_filter_word);
} polc_svc_filter SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, POLC_CAP_LB_BACKENDS);
  __type(key, polc_u32);
  __type(value, struct polc_lb_backend);
} polc_lb_backends SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, POLC_CAP_LB_CT);
  __type(key, struct polc_lb_key);
  __type(value, struct polc_lb_entry);
} polc_lb_ct SEC(".maps");

/* ---- parsing and rewriting ---------------------------------------------------------------- */

/* The IPv4 header, field by field (loaded with bpf_skb_load_bytes into an aligned struct). */
struct polc_lb_iphdr {
  polc_u8 ver_ihl;
  polc_u8 tos;
  polc_u16 tot_len;
  polc_u16 id;
  polc_u16 frag;
  polc_u8 ttl;
  polc_u8 proto;
  polc_u16 check;
  polc_be32 saddr;
  polc_be32 daddr;
};

/* What the load balancer needs of a TCP or UDP packet. Ports in host byte order. */
struct polc_lb_pkt {
  polc_be32 saddr;
  polc_be32 daddr;
  polc_u16 sport;
  polc_u16 dport;
  polc_u32 l4_off;   /* offset of the L4 header in the frame */
  polc_u32 csum_off; /* offset of the L4 checksum */
  polc_u8 proto;
  polc_u8 tcp_flags;
  polc_u8 pad[2];
};

/* 1 when the frame is an unfragmented IPv4 TCP or UDP packet (filled into *p), else 0. Reads
 * the headers in place (pulled into the linear area first when they are not). */
static __polc_inline int polc_lb_parse(struct __sk_buff* skb, struct polc_lb_pkt* p) {
  polc_ensure_linear(skb, POLC_ETH_HLEN + 20);
  const polc_u8* data = (const polc_u8*)(long)skb->data;
  const polc_u8* end = (const polc_u8*)(long)skb->data_end;
  if (data + POLC_ETH_HLEN + 20 > end) return 0;
  if (polc_ntohs(*(const polc_u16*)(data + 12)) != POLC_ETH_P_IP) return 0;
  const struct polc_lb_iphdr* ip = (const struct polc_lb_iphdr*)(data + POLC_ETH_HLEN);
  if ((ip->ver_ihl >> 4) != 4 || (ip->ver_ihl & 0x0f) < 5) return 0;
  if (polc_ntohs(ip->frag) & 0x3fff) return 0; /* a fragment: not translated */
  polc_u8 proto = ip->proto;
  if (proto != POLC_IPPROTO_TCP && proto != POLC_IPPROTO_UDP) return 0;
  polc_u32 l4_off = POLC_ETH_HLEN + (polc_u32)(ip->ver_ihl & 0x0f) * 4;
  polc_u32 need = l4_off + (proto == POLC_IPPROTO_TCP ? 14 : 8);
  polc_be32 saddr = ip->saddr, daddr = ip->daddr;
  if ((polc_u64)data + need > (polc_u64)end) {
    polc_ensure_linear(skb, need);
    data = (const polc_u8*)(long)skb->data;
    end = (const polc_u8*)(long)skb->data_end;
  }
  const polc_u8* l4 = data + l4_off;
  if (l4 + (proto == POLC_IPPROTO_TCP ? 14 : 8) > end) return 0;
  p->l4_off = l4_off;
  p->tcp_flags = proto == POLC_IPPROTO_TCP ? l4[13] : 0;
  p->csum_off = l4_off + (proto == POLC_IPPROTO_TCP ? 16 : 6);
  p->saddr = saddr;
  p->daddr = daddr;
  p->sport = polc_ntohs(*(const polc_u16*)l4);
  p->dport = polc_ntohs(*(const polc_u16*)(l4 + 2));
  p->proto = proto;
  return 1;
}

/* Rewrites the destination (dst = 1) or source (dst = 0) address and port of *p to addr:port,
 * updating the IPv4 header checksum and the L4 checksum (pseudo-header included; a UDP packet
 * without a checksum keeps none). 0 on success. */
static __polc_inline int polc_lb_rewrite(struct __sk_buff* skb, const struct polc_lb_pkt* p, int dst, polc_be32 addr,
                                         polc_u16 port) {
  polc_be32 old_addr = dst ? p->daddr : p->saddr;
  polc_u16 old_port = polc_ntohs(dst ? p->dport : p->sport); /* network byte order */
  polc_u16 new_port = polc_ntohs(port);
  polc_u64 mangled = p->proto == POLC_IPPROTO_UDP ? POLC_LB_F_MARK_MANGLED_0 : 0;
  if (old_addr != addr) {
    if (polc_lb_l4_csum_replace(skb, p->csum_off, old_addr, addr, POLC_LB_F_PSEUDO_HDR | mangled | 4) < 0) return -1;
    if (polc_lb_l3_csum_replace(skb, POLC_ETH_HLEN + 10, old_addr, addr, 4) < 0) return -1;
    if (polc_lb_store_bytes(skb, POLC_ETH_HLEN + (dst ? 16 : 12), &addr, 4, 0) < 0) return -1;
  }
  if (old_port != new_port) {
    if (polc_lb_l4_csum_replace(skb, p->csum_off, old_port, new_port, mangled | 2) < 0) return -1;
    if (polc_lb_store_bytes(skb, p->l4_off + (dst ? 2 : 0), &new_port, 2, 0) < 0) return -1;
  }
  return 0;
}

/* 0 when addr:port/proto is certainly no key of polc_services (its filter bit is clear). */
static __polc_inline int polc_lb_maybe_service(polc_be32 addr, polc_u16 port, polc_u8 proto) {
  polc_u32 bit = polc_svc_filter_bit(addr, port, proto);
  polc_u32 word = bit >> 6;
  const struct polc_svc_filter_word* w = bpf_map_lookup_elem(&polc_svc_filter, &word);
  return !w || ((w->bits >> (bit & 63)) & 1);
}

/* ---- connections -------------------------------------------------------------------------- */

static __polc_inline polc_u64 polc_lb_lifetime(const struct polc_config* cfg, polc_u8 proto, polc_u8 flags) {
  polc_u32 secs = cfg ? cfg->ct_timeout_other : 60;
  if (proto == POLC_IPPROTO_TCP)
    secs = !cfg ? 60 : (flags & POLC_LB_CLOSING) ? cfg->ct_timeout_tcp_closing : cfg->ct_timeout_tcp;
  return (polc_u64)secs * POLC_NS;
}

static __polc_inline int polc_lb_alive(const struct polc_lb_entry* e, polc_u64 now) {
  return e && e->expires_ns > now;
}

/* A packet of a tracked connection: FIN/RST closes it, and its lifetime is extended (written
 * only when it grows by more than a second). */
static __polc_inline void polc_lb_touch(struct polc_lb_entry* e, const struct polc_config* cfg,
                                        const struct polc_lb_pkt* p, polc_u64 now) {
  polc_u8 flags = e->flags;
  if (p->proto == POLC_IPPROTO_TCP && (p->tcp_flags & (POLC_TCP_FIN | POLC_TCP_RST))) flags |= POLC_LB_CLOSING;
  polc_u64 expires = now + polc_lb_lifetime(cfg, p->proto, flags);
  if (flags != e->flags) {
    e->flags = flags;
    e->expires_ns = expires;
  } else if (expires > e->expires_ns + POLC_NS) {
    e->expires_ns = expires;
  }
}

/* The backend of the connection p belongs to (forward key *fkey, to service *svc): the one
 * chosen before while the connection lives (retransmitted SYNs included), else a new choice,
 * weighted by the slots each backend holds. Returns 0 (existing connection, *out its entry),
 * 1 (new choice in *out, *backend_flags its polc_lb_backend_flags), or -1 (no backend). */
static __polc_inline int polc_lb_select(const struct polc_config* cfg, const struct polc_lb_key* fkey,
                                        const struct polc_svc* svc, const struct polc_lb_pkt* p, polc_u64 now,
                                        struct polc_lb_entry* out, polc_u16* backend_flags) {
  struct polc_lb_entry* e = bpf_map_lookup_elem(&polc_lb_ct, fkey);
  int syn = p->proto == POLC_IPPROTO_TCP && (p->tcp_flags & (POLC_TCP_SYN | POLC_TCP_ACK)) == POLC_TCP_SYN;
  if (polc_lb_alive(e, now) && !(syn && (e->flags & POLC_LB_CLOSING))) {
    polc_lb_touch(e, cfg, p, now);
    *out = *e;
    return 0;
  }
  if (svc->slots == 0) return -1;
  polc_u32 index = svc->base + polc_lb_prandom_u32() % svc->slots;
  const struct polc_lb_backend* b = bpf_map_lookup_elem(&polc_lb_backends, &index);
  if (!b || b->addr == 0) return -1;
  struct polc_lb_entry n = {};
  if (p->proto == POLC_IPPROTO_TCP && (p->tcp_flags & (POLC_TCP_FIN | POLC_TCP_RST))) n.flags = POLC_LB_CLOSING;
  n.expires_ns = now + polc_lb_lifetime(cfg, p->proto, n.flags);
  n.addr = b->addr;
  n.port = b->port;
  n.service = svc->id;
  n.backend = b->endpoint;
  *backend_flags = b->flags;
  *out = n;
  return 1;
}

/* Records a new connection: the forward entry (client -> service, the backend) and the reverse
 * one (the reply as it will arrive, the service address to restore). */
static __polc_inline void polc_lb_remember(const struct polc_lb_key* fkey, const struct polc_lb_entry* fwd,
                                           const struct polc_lb_pkt* p) {
  struct polc_lb_key rkey = {.saddr = fwd->addr,
                             .daddr = p->saddr,
                             .sport = fwd->port,
                             .dport = p->sport,
                             .proto = p->proto,
                             .dir = POLC_LB_DIR_REVERSE};
  struct polc_lb_entry rev = {};
  rev.expires_ns = fwd->expires_ns;
  rev.addr = p->daddr;
  rev.port = p->dport;
  rev.flags = fwd->flags;
  rev.service = fwd->service;
  rev.backend = fwd->backend;
  if (fwd->flags & POLC_LB_SNAT) {
    rkey.daddr = fwd->nat_addr;
    rkey.dport = fwd->nat_port;
    rev.nat_addr = p->saddr;
    rev.nat_port = p->sport;
  }
  bpf_map_update_elem(&polc_lb_ct, fkey, fwd, BPF_ANY);
  bpf_map_update_elem(&polc_lb_ct, &rkey, &rev, BPF_ANY);
}

/* ---- the hooks ---------------------------------------------------------------------------- */

/* polc_from_pod, before the policy: translate a packet to a service address. Packets to a
 * service without backends, and every other packet, are left as they are. 1 when translated. */
static __polc_inline int polc_lb_from_pod(struct __sk_buff* skb) {
  struct polc_lb_pkt p = {};
  if (!polc_lb_parse(skb, &p)) return 0;
  if (!polc_lb_maybe_service(p.daddr, p.dport, p.proto)) return 0;
  struct polc_svc_key sk = {.addr = p.daddr, .port = p.dport, .proto = p.proto};
  const struct polc_svc* svc = bpf_map_lookup_elem(&polc_services, &sk);
  if (!svc) return 0;
  polc_u32 zero = 0;
  const struct polc_config* cfg = bpf_map_lookup_elem(&polc_config, &zero);
  polc_u64 now = bpf_ktime_get_coarse_ns();
  struct polc_lb_key fkey = {.saddr = p.saddr,
                             .daddr = p.daddr,
                             .sport = p.sport,
                             .dport = p.dport,
                             .proto = p.proto,
                             .dir = POLC_LB_DIR_FORWARD};
  struct polc_lb_entry e;
  polc_u16 backend_flags = 0;
  int chosen = polc_lb_select(cfg, &fkey, svc, &p, now, &e, &backend_flags);
  if (chosen < 0) return 0;
  if (chosen > 0) polc_lb_remember(&fkey, &e, &p);
  return polc_lb_rewrite(skb, &p, 1, e.addr, e.port) == 0;
}

/* polc_to_pod, after the policy allowed the packet: a reply from a backend gets the service
 * address and port back as its source, so the client's socket recognizes it. mark_ct: the
 * connection's conntrack entry (just made) learns that it goes through a service. */
static __polc_inline void polc_lb_to_pod(struct __sk_buff* skb, int mark_ct) {
  struct polc_lb_pkt p = {};
  if (!polc_lb_parse(skb, &p)) return;
  struct polc_lb_key rkey = {.saddr = p.saddr,
                             .daddr = p.daddr,
                             .sport = p.sport,
                             .dport = p.dport,
                             .proto = p.proto,
                             .dir = POLC_LB_DIR_REVERSE};
  struct polc_lb_entry* e = bpf_map_lookup_elem(&polc_lb_ct, &rkey);
  if (!e || (e->flags & POLC_LB_NODE_PORT)) return;
  polc_u32 zero = 0;
  const struct polc_config* cfg = bpf_map_lookup_elem(&polc_config, &zero);
  polc_u64 now = bpf_ktime_get_coarse_ns();
  if (!polc_lb_alive(e, now)) return;
  polc_lb_touch(e, cfg, &p, now);
  if (polc_lb_rewrite(skb, &p, 0, e->addr, e->port) != 0 || !mark_ct) return;
  struct polc_ct_key key = polc_ct_key_of(p.saddr, p.daddr, p.sport, p.dport, p.proto, POLC_DIR_INGRESS);
  struct polc_ct_entry* ct = bpf_map_lookup_elem(&polc_ct, &key);
  if (ct) ct->flags |= POLC_CT_SERVICE;
}

/* tc ingress of the node's underlay interface: NodePort connections arriving from other nodes,
 * and the replies of the ones this node sent to a remote backend (SNAT). Never drops what it
 * does not translate: the pod interfaces enforce the policy. */
SEC("tc") int polc_from_underlay(struct __sk_buff* skb) {
  struct polc_lb_pkt p = {};
  if (!polc_lb_parse(skb, &p)) return TC_ACT_OK;
  polc_u32 zero = 0;
  const struct polc_config* cfg = bpf_map_lookup_elem(&polc_config, &zero);
  polc_u64 now = bpf_ktime_get_coarse_ns();

  /* A reply from a remote backend to this node's address: back to the client, from the nodePort.
   * Its source is now this node's own address, which the routing input path rejects as martian:
   * it leaves through the interface it came in on, next hop resolved by the kernel. */
  struct polc_lb_key rkey = {.saddr = p.saddr,
                             .daddr = p.daddr,
                             .sport = p.sport,
                             .dport = p.dport,
                             .proto = p.proto,
                             .dir = POLC_LB_DIR_REVERSE};
  struct polc_lb_entry* r = bpf_map_lookup_elem(&polc_lb_ct, &rkey);
  if (r && (r->flags & POLC_LB_SNAT) && polc_lb_alive(r, now)) {
    polc_lb_touch(r, cfg, &p, now);
    polc_be32 client = r->nat_addr, node = r->addr;
    polc_u16 client_port = r->nat_port, node_port = r->port;
    if (polc_lb_rewrite(skb, &p, 1, client, client_port) < 0) return TC_ACT_SHOT;
    p.daddr = client;
    p.dport = client_port;
    if (polc_lb_rewrite(skb, &p, 0, node, node_port) < 0) return TC_ACT_SHOT;
    return (int)polc_lb_redirect_neigh(skb->ifindex, 0, 0, 0);
  }

  if (!polc_lb_maybe_service(p.daddr, p.dport, p.proto)) return TC_ACT_OK;
  struct polc_svc_key sk = {.addr = p.daddr, .port = p.dport, .proto = p.proto};
  const struct polc_svc* svc = bpf_map_lookup_elem(&polc_services, &sk);
  if (!svc || !(svc->flags & POLC_SVC_NODE_PORT)) return TC_ACT_OK;
  struct polc_lb_key fkey = {.saddr = p.saddr,
                             .daddr = p.daddr,
                             .sport = p.sport,
                             .dport = p.dport,
                             .proto = p.proto,
                             .dir = POLC_LB_DIR_FORWARD};
  struct polc_lb_entry e;
  polc_u16 backend_flags = 0;
  int chosen = polc_lb_select(cfg, &fkey, svc, &p, now, &e, &backend_flags);
  if (chosen < 0) return TC_ACT_OK;
  if (chosen > 0) {
    e.flags |= POLC_LB_NODE_PORT;
    if (!(backend_flags & POLC_LB_BACKEND_LOCAL)) {
      /* A backend on another node answers this node's address (as kube-proxy's masquerade);
       * the client's port is kept unless another client holds it towards the same backend. */
      e.flags |= POLC_LB_SNAT;
      e.nat_addr = p.daddr;
      e.nat_port = p.sport;
      struct polc_lb_key taken = {.saddr = e.addr,
                                  .daddr = p.daddr,
                                  .sport = e.port,
                                  .dport = p.sport,
                                  .proto = p.proto,
                                  .dir = POLC_LB_DIR_REVERSE};
      struct polc_lb_entry* other = bpf_map_lookup_elem(&polc_lb_ct, &taken);
      if (polc_lb_alive(other, now) && (other->nat_addr != p.saddr || other->nat_port != p.sport))
        e.nat_port = (polc_u16)(32768 + polc_lb_prandom_u32() % 28232);
    }
    polc_lb_remember(&fkey, &e, &p);
  }
  if (polc_lb_rewrite(skb, &p, 1, e.addr, e.port) < 0) return TC_ACT_SHOT;
  if (!(e.flags & POLC_LB_SNAT)) return TC_ACT_OK;
  p.daddr = e.addr;
  p.dport = e.port;
  if (polc_lb_rewrite(skb, &p, 0, e.nat_addr, e.nat_port) < 0) return TC_ACT_SHOT;
  return (int)polc_lb_redirect_neigh(skb->ifindex, 0, 0, 0);
}

/* tc egress of the underlay interface: a reply of a local NodePort backend leaves with the
 * nodePort as its source. */
SEC("tc") int polc_to_underlay(struct __sk_buff* skb) {
  struct polc_lb_pkt p = {};
  if (!polc_lb_parse(skb, &p)) return TC_ACT_OK;
  struct polc_lb_key rkey = {.saddr = p.saddr,
                             .daddr = p.daddr,
                             .sport = p.sport,
                             .dport = p.dport,
                             .proto = p.proto,
                             .dir = POLC_LB_DIR_REVERSE};
  struct polc_lb_entry* e = bpf_map_lookup_elem(&polc_lb_ct, &rkey);
  if (!e || (e->flags & (POLC_LB_NODE_PORT | POLC_LB_SNAT)) != POLC_LB_NODE_PORT) return TC_ACT_OK;
  polc_u32 zero = 0;
  const struct polc_config* cfg = bpf_map_lookup_elem(&polc_config, &zero);
  polc_u64 now = bpf_ktime_get_coarse_ns();
  if (!polc_lb_alive(e, now)) return TC_ACT_OK;
  polc_lb_touch(e, cfg, &p, now);
  if (polc_lb_rewrite(skb, &p, 0, e->addr, e->port) < 0) return TC_ACT_SHOT;
  return TC_ACT_OK;
}

/* The polc datapath: two tc classifiers for pod interfaces that enforce the policy tables of
 * ir::resolve_policies(), encoded in maps by backend-bpf (docs/datapath.md).
 *
 *   polc_from_pod  tc ingress of the pod's host-side veth: packets the pod sends; judges the
 *                  source pod's EGRESS policy
 *   polc_to_pod    tc egress of the pod's host-side veth: packets to the pod; judges the
 *                  destination pod's INGRESS policy
 *
 * A packet crossing two policed pods is judged twice (egress at the source, ingress at the
 * destination), so it passes only when both allow it, as ir::evaluate() says.
 *
 * Per packet, in order (every step is a constant number of map lookups, no loops):
 *   1. parse Ethernet/IPv4 and the L4 ports (ARP and other non-IP pass; IPv6 and VLAN-tagged
 *      frames are dropped: the datapath is IPv4-only and fails closed)
 *   2. self traffic (saddr == daddr) passes when it comes from the pod's own interface
 *   3. conntrack: an entry for this direction (established) or for the reverse one (a reply)
 *      made under the current policy epoch passes without a policy lookup; an ICMP error about
 *      such a connection passes as related
 *   4. the local pod (polc_endpoints) and the peer's address class (polc_ipcache, else
 *      polc_ipcache_lpm); ingress from an address of this node passes
 *   5. polc_judge(): context x direction x peer class -> port function (polc_policy, default
 *      in polc_contexts) -> port class of the port (polc_port_classes) -> verdict
 *      (polc_verdicts, default in polc_functions). Deny precedence and isolation are already
 *      folded into the verdict by the compiler.
 *   6. allowed: a conntrack entry; always: counters, and a flow event when configured.
 *
 * Services (lb.h): polc_from_pod translates a packet to a service address into a backend before
 * step 1, polc_to_pod restores the service address on allowed replies after step 6.
 * HTTP (l7_http.h, compiled in when some rule has HTTP): packets of connections whose conntrack
 * entry carries an l7_set are parsed and their requests matched after step 3 (and on the packet
 * that creates the entry, after step 6). */
#include "polc_bpf.h"

#if __has_include("polc_build_config.h")
#include "polc_build_config.h"
#endif

/* Capacities: `polc compile` sets them from the policy (layout.json "capacity"); the defaults
 * let the file build standalone. A loader may raise them (bpf_map__set_max_entries). */
#ifndef POLC_CAP_ENDPOINTS
#define POLC_CAP_ENDPOINTS 1024
#endif
#ifndef POLC_CAP_IPCACHE
#define POLC_CAP_IPCACHE 65536
#endif
#ifndef POLC_CAP_IPCACHE_LPM
#define POLC_CAP_IPCACHE_LPM 16384
#endif
#ifndef POLC_CAP_CONTEXTS
#define POLC_CAP_CONTEXTS 1024
#endif
#ifndef POLC_CAP_POLICY
#define POLC_CAP_POLICY 65536
#endif
#ifndef POLC_CAP_FUNCTIONS
#define POLC_CAP_FUNCTIONS 4096
#endif
#ifndef POLC_CAP_VERDICTS
#define POLC_CAP_VERDICTS 65536
#endif
#ifndef POLC_CAP_RULE_COUNTERS
#define POLC_CAP_RULE_COUNTERS 4096
#endif
#ifndef POLC_CAP_CT
#define POLC_CAP_CT 262144
#endif
#ifndef POLC_CAP_FRAGS
#define POLC_CAP_FRAGS 8192
#endif
#ifndef POLC_CAP_EVENTS
#define POLC_CAP_EVENTS (1 << 20)
#endif

char _license[] SEC("license") = "Dual BSD/GPL";

/* ---- maps (key and value structs: polc/backend_bpf/abi.h) --------------------------------- */

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, polc_u32);
  __type(value, struct polc_config);
} polc_config SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, POLC_CAP_ENDPOINTS);
  __type(key, struct polc_ip_key);
  __type(value, struct polc_endpoint);
} polc_endpoints SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, POLC_CAP_IPCACHE);
  __type(key, struct polc_ip_key);
  __type(value, struct polc_ipcache_entry);
} polc_ipcache SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(max_entries, POLC_CAP_IPCACHE_LPM);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct polc_lpm_key);
  __type(value, struct polc_ipcache_entry);
} polc_ipcache_lpm SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, POLC_CAP_CONTEXTS);
  __type(key, polc_u32);
  __type(value, struct polc_context);
} polc_contexts SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, POLC_CAP_POLICY);
  __type(key, struct polc_policy_key);
  __type(value, struct polc_policy_entry);
} polc_policy SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, POLC_CAP_FUNCTIONS);
  __type(key, polc_u32);
  __type(value, struct polc_function);
} polc_functions SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, POLC_PORT_INDEX_SIZE);
  __type(key, polc_u32);
  __type(value, struct polc_port_class);
} polc_port_classes SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, POLC_CAP_VERDICTS);
  __type(key, struct polc_verdict_key);
  __type(value, struct polc_verdict);
} polc_verdicts SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, POLC_CAP_CT);
  __type(key, struct polc_ct_key);
  __type(value, struct polc_ct_entry);
} polc_ct SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, POLC_CAP_FRAGS);
  __type(key, struct polc_frag_key);
  __type(value, struct polc_frag_ports);
} polc_frags SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, POLC_CAP_RULE_COUNTERS);
  __type(key, polc_u32);
  __type(value, struct polc_counter);
} polc_rule_counters SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, POLC_REASONS);
  __type(key, polc_u32);
  __type(value, struct polc_counter);
} polc_stats SEC(".maps");

/* The runtime's generation word and the node's program slots (abi.h, "Generations"): the
 * runtime reuses its own maps for these two; a standalone load gets fresh, zeroed ones. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, polc_u32);
  __type(value, polc_u32);
} polc_generation SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
  __uint(max_entries, POLC_GEN_SLOTS);
  __uint(key_size, sizeof(polc_u32));
  __uint(value_size, sizeof(polc_u32));
} polc_slots SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, POLC_CAP_EVENTS);
} polc_events SEC(".maps");

/* Never called: names the ABI types only userspace reads (ring buffer records), so that the
 * compiler emits them into BTF and layout.json can describe them. */
void polc_abi_types(struct polc_event* event) {}

/* ---- packet parsing ---------------------------------------------------------------------- */

#define POLC_ETH_HLEN 14
#define POLC_ETH_P_IP 0x0800
#define POLC_ETH_P_IPV6 0x86DD
#define POLC_ETH_P_8021Q 0x8100
#define POLC_ETH_P_8021AD 0x88A8
#define POLC_IPPROTO_ICMP 1
#define POLC_IPPROTO_TCP 6
#define POLC_IPPROTO_UDP 17
#define POLC_IPPROTO_SCTP 132
#define POLC_TCP_FIN 0x01
#define POLC_TCP_SYN 0x02
#define POLC_TCP_RST 0x04
#define POLC_TCP_ACK 0x10
#define POLC_NS 1000000000ull
/* parse result "go on"; every other result is a polc_reason */
#define POLC_PARSE_OK 0xff

/* The addresses, ports (conntrack ports, see polc_ct_key) and protocol of a packet. */
struct polc_tuple {
  polc_be32 saddr;
  polc_be32 daddr;
  polc_u16 sport;
  polc_u16 dport;
  polc_u8 proto;
  polc_u8 pad[3];
};

struct polc_packet {
  polc_be32 saddr;
  polc_be32 daddr;
  polc_u16 sport; /* conntrack ports (polc_ct_key) */
  polc_u16 dport;
  polc_u16 policy_port; /* dport, ICMP type, or 0 */
  polc_u16 ip_id;
  polc_u8 proto;
  polc_u8 bucket;
  polc_u8 tcp_flags;
  polc_u8 first_fragment; /* offset 0 with more fragments: later ones need our ports */
  polc_u8 later_fragment; /* offset != 0: no L4 header */
  polc_u8 has_inner;      /* an ICMP error carrying the tuple of the packet it is about */
  polc_u8 pad[2];
  polc_u32 len;
  struct polc_tuple inner;
};

static __polc_inline polc_u8 polc_bucket_of(polc_u8 proto) {
  switch (proto) {
    case POLC_IPPROTO_TCP: return POLC_BUCKET_TCP;
    case POLC_IPPROTO_UDP: return POLC_BUCKET_UDP;
    case POLC_IPPROTO_SCTP: return POLC_BUCKET_SCTP;
    case POLC_IPPROTO_ICMP: return POLC_BUCKET_ICMP;
    default: return POLC_BUCKET_OTHER;
  }
}

/* Conntrack ports of an ICMP message (see polc_ct_key). */
static __polc_inline void polc_icmp_ports(polc_u8 type, polc_u16 id, polc_u16* sport, polc_u16* dport) {
  switch (type) {
    case 8:  /* echo */
    case 13: /* timestamp */
    case 15: /* information */
    case 17: /* address mask */
      *sport = id;
      *dport = type;
      return;
    case 0:
    case 14:
    case 16:
    case 18:
      *sport = type == 0 ? 8 : type - 1; /* the request this replies to */
      *dport = id;
      return;
    default:
      *sport = 0;
      *dport = type;
      return;
  }
}

static __polc_inline int polc_is_icmp_error(polc_u8 type) {
  return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

/* Ports of an L4 header at `l4` (checked against data_end by the caller for 8 bytes). */
static __polc_inline void polc_inner_ports(polc_u8 proto, const polc_u8* l4, polc_u16* sport, polc_u16* dport) {
  if (proto == POLC_IPPROTO_TCP || proto == POLC_IPPROTO_UDP || proto == POLC_IPPROTO_SCTP) {
    *sport = polc_ntohs(*(const polc_u16*)l4);
    *dport = polc_ntohs(*(const polc_u16*)(l4 + 2));
  } else if (proto == POLC_IPPROTO_ICMP) {
    polc_icmp_ports(l4[0], polc_ntohs(*(const polc_u16*)(l4 + 4)), sport, dport);
  } else {
    *sport = 0;
    *dport = 0;
  }
}

/* Makes the first `need` bytes of the frame readable in place. Pulls them into the linear area
 * only when they are not there already: the payload of a TCP segment usually sits in page
 * fragments, and pulling it would copy a cloned skb (every TCP transmit) for nothing. */
static __polc_inline void polc_ensure_linear(struct __sk_buff* skb, polc_u32 need) {
  if ((polc_u64)skb->data + need > (polc_u64)skb->data_end && need <= skb->len) bpf_skb_pull_data(skb, need);
}

/* Fills *p from the packet; returns POLC_PARSE_OK or the polc_reason to drop (or pass, for
 * POLC_REASON_NOT_IP) it for. A global function: verified once, its many header cases do not
 * multiply the handler's paths. */
__polc_noinline int polc_parse(struct __sk_buff* skb, struct polc_packet* p) {
  if (!p) return POLC_REASON_MALFORMED;
  if (skb->vlan_present) return POLC_REASON_VLAN;
  polc_ensure_linear(skb, POLC_ETH_HLEN + 20);
  const polc_u8* data = (const polc_u8*)(long)skb->data;
  const polc_u8* end = (const polc_u8*)(long)skb->data_end;
  if (data + POLC_ETH_HLEN > end) return POLC_REASON_MALFORMED;
  polc_u16 eth_proto = polc_ntohs(*(const polc_u16*)(data + 12));
  if (eth_proto == POLC_ETH_P_IPV6) return POLC_REASON_IPV6;
  if (eth_proto == POLC_ETH_P_8021Q || eth_proto == POLC_ETH_P_8021AD) return POLC_REASON_VLAN;
  if (eth_proto != POLC_ETH_P_IP) return POLC_REASON_NOT_IP;

  const polc_u8* ip = data + POLC_ETH_HLEN;
  if (ip + 20 > end) return POLC_REASON_MALFORMED;
  if ((ip[0] >> 4) != 4) return POLC_REASON_MALFORMED;
  polc_u32 ihl = (polc_u32)(ip[0] & 0x0f) * 4;
  if (ihl < 20) return POLC_REASON_MALFORMED;
  /* The L4 header this protocol needs (ICMP errors: with the packet they are about). */
  polc_u8 proto = ip[9];
  polc_u32 l4_need = proto == POLC_IPPROTO_TCP ? 14 : 8;
  if (proto == POLC_IPPROTO_ICMP) l4_need = 8 + 60 + 8;
  polc_u32 need = POLC_ETH_HLEN + ihl + l4_need;
  if ((polc_u64)data + need > (polc_u64)end) {
    polc_ensure_linear(skb, need < skb->len ? need : skb->len);
    data = (const polc_u8*)(long)skb->data;
    end = (const polc_u8*)(long)skb->data_end;
    ip = data + POLC_ETH_HLEN;
    if (ip + 20 > end) return POLC_REASON_MALFORMED;
  }
  const polc_u8* l4 = ip + ihl;
  if (l4 > end) return POLC_REASON_MALFORMED;
  /* The datagram's own length bounds the L4 header (short frames carry Ethernet padding). */
  polc_u32 tot_len = polc_ntohs(*(const polc_u16*)(ip + 2));
  if (tot_len < ihl) return POLC_REASON_MALFORMED;
  polc_u32 l4_len = tot_len - ihl;
  p->saddr = *(const polc_be32*)(ip + 12);
  p->daddr = *(const polc_be32*)(ip + 16);
  p->proto = ip[9];
  p->bucket = polc_bucket_of(p->proto);
  p->ip_id = polc_ntohs(*(const polc_u16*)(ip + 4));
  polc_u16 frag = polc_ntohs(*(const polc_u16*)(ip + 6));
  if (frag & 0x1fff) {
    p->later_fragment = 1;
    return POLC_PARSE_OK;
  }
  p->first_fragment = (frag & 0x2000) != 0;

  switch (p->proto) {
    case POLC_IPPROTO_TCP:
      if (l4 + 14 > end || l4_len < 14) return POLC_REASON_MALFORMED;
      p->tcp_flags = l4[13];
      /* fall through */
    case POLC_IPPROTO_UDP:
    case POLC_IPPROTO_SCTP:
      if (l4 + 8 > end || l4_len < 8) return POLC_REASON_MALFORMED;
      p->sport = polc_ntohs(*(const polc_u16*)l4);
      p->dport = polc_ntohs(*(const polc_u16*)(l4 + 2));
      p->policy_port = p->dport;
      return POLC_PARSE_OK;
    case POLC_IPPROTO_ICMP: {
      if (l4 + 8 > end || l4_len < 8) return POLC_REASON_MALFORMED;
      polc_u8 type = l4[0];
      p->policy_port = type;
      polc_icmp_ports(type, polc_ntohs(*(const polc_u16*)(l4 + 4)), &p->sport, &p->dport);
      if (!polc_is_icmp_error(type)) return POLC_PARSE_OK;
      /* The embedded header of the packet this error is about; without it, it is judged as
       * any other ICMP message. */
      const polc_u8* in = l4 + 8;
      if (in + 20 > end || (in[0] >> 4) != 4) return POLC_PARSE_OK;
      polc_u32 in_ihl = (polc_u32)(in[0] & 0x0f) * 4;
      if (in_ihl < 20) return POLC_PARSE_OK;
      const polc_u8* in_l4 = in + in_ihl;
      if (in_l4 + 8 > end || l4_len < 8 + in_ihl + 8) return POLC_PARSE_OK;
      p->inner.saddr = *(const polc_be32*)(in + 12);
      p->inner.daddr = *(const polc_be32*)(in + 16);
      p->inner.proto = in[9];
      polc_inner_ports(in[9], in_l4, &p->inner.sport, &p->inner.dport);
      p->has_inner = 1;
      return POLC_PARSE_OK;
    }
    default: return POLC_PARSE_OK;
  }
}

/* ---- lookups ----------------------------------------------------------------------------- */

/* The address class of a peer address: pods and nodes by /32, everything else by prefix. */
static __polc_inline const struct polc_ipcache_entry* polc_peer_lookup(polc_be32 addr) {
  struct polc_ip_key key = {.addr = addr};
  const struct polc_ipcache_entry* e = bpf_map_lookup_elem(&polc_ipcache, &key);
  if (e) return e;
  struct polc_lpm_key lpm = {.prefixlen = 32, .addr = addr};
  return bpf_map_lookup_elem(&polc_ipcache_lpm, &lpm);
}

/* A question for the policy tables: the local pod's context, the direction, the peer's address
 * class, and the packet's protocol bucket and port. */
struct polc_query {
  polc_u32 context;
  polc_u32 peer_class;
  polc_u16 port;
  polc_u8 dir;
  polc_u8 bucket;
};

/* The verdict of the policy tables for a query: exactly one polc_policy and one polc_verdicts
 * lookup, plus three array reads. Returns 0, or -1 when the tables have no entry (the caller
 * drops: fail closed). A global function, so the verifier checks it once rather than once per
 * path that calls it. */
__polc_noinline int polc_judge(const struct polc_query* q, struct polc_verdict* out) {
  if (!q || !out) return -1;
  polc_u32 context = q->context;
  polc_u32 bucket = q->bucket;
  const struct polc_context* ctx = bpf_map_lookup_elem(&polc_contexts, &context);
  if (!ctx) return -1;
  struct polc_policy_key pkey = {.context = context, .peer_class = q->peer_class, .dir = q->dir};
  const struct polc_policy_entry* pe = bpf_map_lookup_elem(&polc_policy, &pkey);
  polc_u32 function = pe ? pe->function : ctx->default_function[q->dir & 1];
  const struct polc_function* fn = bpf_map_lookup_elem(&polc_functions, &function);
  if (!fn) return -1;
  polc_u32 index = polc_port_index(bucket, q->port);
  const struct polc_port_class* pc = bpf_map_lookup_elem(&polc_port_classes, &index);
  if (!pc) return -1;
  struct polc_verdict_key vkey = {.function = function, .port_class = pc->port_class, .bucket = (polc_u8)bucket};
  const struct polc_verdict* v = bpf_map_lookup_elem(&polc_verdicts, &vkey);
  if (!v) {
    if (bucket >= POLC_BUCKETS) return -1;
    v = &fn->defaults[bucket];
  }
  *out = *v;
  return 0;
}

static __polc_inline int polc_outcome_allows(polc_u8 outcome) {
  return outcome != POLC_OUTCOME_DEFAULT_DENY && outcome != POLC_OUTCOME_DENY;
}

static __polc_inline void polc_count(void* map, polc_u32 index, polc_u32 len) {
  struct polc_counter* c = bpf_map_lookup_elem(map, &index);
  if (c) {
    c->packets += 1;
    c->bytes += len;
  }
}

/* ---- conntrack --------------------------------------------------------------------------- */

static __polc_inline polc_u64 polc_ct_lifetime(const struct polc_config* cfg, polc_u8 proto, polc_u8 flags) {
  polc_u32 secs = cfg->ct_timeout_other;
  if (proto == POLC_IPPROTO_TCP) {
    if (flags & POLC_CT_CLOSING)
      secs = cfg->ct_timeout_tcp_closing;
    else if (flags & POLC_CT_SEEN_REPLY)
      secs = cfg->ct_timeout_tcp;
  }
  return (polc_u64)secs * POLC_NS;
}

/* A packet of a tracked connection: update flags and lifetime (written only when they change
 * by more than a second, to keep the entry's cache line quiet). */
static __polc_inline void polc_ct_touch(struct polc_ct_entry* ct, const struct polc_config* cfg,
                                        const struct polc_packet* p, polc_u64 now, int reply) {
  polc_u8 flags = ct->flags;
  if (reply) flags |= POLC_CT_SEEN_REPLY;
  if (p->proto == POLC_IPPROTO_TCP && (p->tcp_flags & (POLC_TCP_FIN | POLC_TCP_RST))) flags |= POLC_CT_CLOSING;
  polc_u64 expires = now + polc_ct_lifetime(cfg, p->proto, flags);
  if (flags != ct->flags) {
    ct->flags = flags;
    ct->expires_ns = expires;
  } else if (expires > ct->expires_ns + POLC_NS) {
    ct->expires_ns = expires;
  }
}

static __polc_inline int polc_ct_alive(const struct polc_ct_entry* ct, polc_u64 now, polc_u32 ifindex) {
  return ct && ct->expires_ns > now && ct->ifindex == ifindex;
}

/* HTTP enforcement (issue 8): polc_l7_enforce() for connections with an l7_set. */
#ifdef POLC_FEATURE_L7
#include "l7_http.h"
#endif

/* The conntrack key of a packet (s -> d) seen by the program of direction dir. */
static __polc_inline struct polc_ct_key polc_ct_key_of(polc_be32 saddr, polc_be32 daddr, polc_u16 sport, polc_u16 dport,
                                                       polc_u8 proto, polc_u32 dir) {
  struct polc_ct_key k = {.proto = proto};
  if (dir == POLC_DIR_EGRESS) {
    k.local_addr = saddr;
    k.remote_addr = daddr;
    k.local_port = sport;
    k.remote_port = dport;
  } else {
    k.local_addr = daddr;
    k.remote_addr = saddr;
    k.local_port = dport;
    k.remote_port = sport;
  }
  return k;
}

/* ---- the handler ------------------------------------------------------------------------- */

struct polc_decision {
  struct polc_verdict v;
  polc_u32 context;
  polc_u32 peer_class;
  polc_u8 reason;
  polc_u8 dropped;
  polc_u8 count_rules; /* count v.rule_set in polc_rule_counters */
  polc_u8 new_flow;    /* a new allowed connection (flow event when configured) */
};

/* A packet of a tracked connection passes on the entry's verdict (its rules are counted). */
static __polc_inline void polc_decide_by_ct(struct polc_decision* d, const struct polc_ct_entry* ct, polc_u8 reason) {
  d->reason = reason;
  d->v.outcome = ct->outcome;
  d->v.rule_set = ct->rule_set;
  d->v.rule = ct->rule;
  d->v.l7_set = ct->l7_set;
  d->count_rules = 1;
}

static __polc_inline int polc_finish(struct __sk_buff* skb, const struct polc_config* cfg, const struct polc_packet* p,
                                     polc_u32 dir, const struct polc_decision* d) {
  polc_count(&polc_stats, d->reason, p->len);
  if (d->count_rules) polc_count(&polc_rule_counters, d->v.rule_set, p->len);
  polc_u32 want = d->dropped ? POLC_CFG_EVENTS_DROPPED : d->new_flow ? POLC_CFG_EVENTS_ALLOWED : 0;
  if (cfg && (cfg->flags & want)) {
    struct polc_event* e = bpf_ringbuf_reserve(&polc_events, sizeof(struct polc_event), 0);
    if (e) {
      e->timestamp_ns = bpf_ktime_get_ns();
      e->saddr = p->saddr;
      e->daddr = p->daddr;
      e->sport = p->sport;
      e->dport = p->dport;
      e->policy_port = p->policy_port;
      e->proto = p->proto;
      e->dir = (polc_u8)dir;
      e->verdict = d->dropped ? POLC_DROPPED : POLC_FORWARDED;
      e->reason = d->reason;
      e->outcome = d->v.outcome;
      e->tcp_flags = p->tcp_flags;
      e->ifindex = skb->ifindex;
      e->context = d->context;
      e->peer_class = d->peer_class;
      e->rule_set = d->v.rule_set;
      e->rule = d->v.rule;
      e->l7_set = d->v.l7_set;
      e->len = p->len;
      e->pad[0] = 0;
      e->pad[1] = 0;
      bpf_ringbuf_submit(e, 0);
    } else {
      polc_count(&polc_stats, POLC_REASON_EVENT_LOST, 0);
    }
  }
  return d->dropped ? TC_ACT_SHOT : TC_ACT_OK;
}

/* The verdict on one packet at one hook. translated: from-pod's load balancer sent it to a
 * service backend. *ct_flags: the polc_ct_flags of the connection's entry, or POLC_CT_UNKNOWN
 * when no entry decided (no conntrack, or a packet the entry was not consulted for). */
#define POLC_CT_UNKNOWN 0xff
static __polc_inline int polc_handle(struct __sk_buff* skb, const polc_u32 dir, int translated, polc_u8* ct_flags) {
  *ct_flags = POLC_CT_UNKNOWN;
  struct polc_packet p = {};
  struct polc_decision d = {.context = POLC_NONE, .peer_class = POLC_NONE};
  d.v.rule = POLC_NONE;
  polc_u32 zero = 0;
  const struct polc_config* cfg = bpf_map_lookup_elem(&polc_config, &zero);
  p.len = skb->len;

  int parsed = polc_parse(skb, &p);
  if (parsed != POLC_PARSE_OK) {
    d.reason = (polc_u8)parsed;
    d.dropped = parsed != POLC_REASON_NOT_IP;
    goto out;
  }
  if (!cfg) { /* cannot happen for an array map; fail closed */
    d.reason = POLC_REASON_NO_FUNCTION;
    d.dropped = 1;
    goto out;
  }
  if (p.later_fragment) {
    struct polc_frag_key fk = {.saddr = p.saddr, .daddr = p.daddr, .id = p.ip_id, .proto = p.proto};
    const struct polc_frag_ports* fp = bpf_map_lookup_elem(&polc_frags, &fk);
    if (!fp) {
      d.reason = POLC_REASON_FRAGMENT;
      d.dropped = 1;
      goto out;
    }
    p.sport = fp->sport;
    p.dport = fp->dport;
    p.policy_port = fp->policy_port;
  }
  if (p.saddr == p.daddr) {
    /* A pod talking to itself (say, through a service that picked it) is allowed, but only from
     * its own interface once the runtime bound it: no one else may forge such a packet. */
    struct polc_ip_key self = {.addr = p.saddr};
    const struct polc_endpoint* sep = bpf_map_lookup_elem(&polc_endpoints, &self);
    polc_u32 came_in = dir == POLC_DIR_EGRESS ? skb->ifindex : skb->ingress_ifindex;
    if (!sep) {
      d.reason = POLC_REASON_UNKNOWN_ENDPOINT;
      d.dropped = 1;
    } else if (sep->ifindex != 0 && sep->ifindex != came_in) {
      d.reason = POLC_REASON_SPOOFED;
      d.dropped = 1;
    } else {
      d.reason = POLC_REASON_SELF;
    }
    goto out;
  }

  polc_u32 ifindex = skb->ifindex;
  int track = !(cfg->flags & POLC_CFG_NO_CONNTRACK);
  polc_u64 now = track ? bpf_ktime_get_coarse_ns() : 0;
  struct polc_ct_key key = polc_ct_key_of(p.saddr, p.daddr, p.sport, p.dport, p.proto, dir);
  polc_u8 opened_here = dir == POLC_DIR_INGRESS ? POLC_CT_OPENED_BY_INGRESS : 0;
  struct polc_ct_entry* stale_fwd = 0;
  struct polc_ct_entry* stale_rev = 0;
  if (track) {
    struct polc_ct_entry* ct = bpf_map_lookup_elem(&polc_ct, &key);
    if (polc_ct_alive(ct, now, ifindex)) {
      if ((ct->flags & POLC_CT_OPENED_BY_INGRESS) == opened_here) {
        /* the direction that opened the connection */
        int resyn = (p.tcp_flags & (POLC_TCP_SYN | POLC_TCP_ACK)) == POLC_TCP_SYN && (ct->flags & POLC_CT_CLOSING);
        if (ct->epoch == cfg->epoch && !resyn) {
          polc_ct_touch(ct, cfg, &p, now, 0);
          polc_decide_by_ct(&d, ct, POLC_REASON_CT_ESTABLISHED);
          *ct_flags = ct->flags;
#ifdef POLC_FEATURE_L7
          if (ct->l7_set && p.proto == POLC_IPPROTO_TCP && polc_l7_enforce(skb, ct, dir) != 0) {
            d.reason = POLC_REASON_L7_DENIED;
            d.dropped = 1;
            goto out;
          }
#endif
          goto record_fragment;
        }
        stale_fwd = ct;
      } else if (ct->epoch == cfg->epoch) {
        polc_ct_touch(ct, cfg, &p, now, 1);
        polc_decide_by_ct(&d, ct, POLC_REASON_CT_REPLY);
        *ct_flags = ct->flags;
        goto record_fragment;
      } else {
        stale_rev = ct;
      }
    }
    if (p.has_inner) {
      /* The embedded packet went the other way through this pod's programs: it belongs to a
       * connection of this pod, opened in either direction. */
      struct polc_ct_key rel =
          polc_ct_key_of(p.inner.saddr, p.inner.daddr, p.inner.sport, p.inner.dport, p.inner.proto, dir ^ 1);
      ct = bpf_map_lookup_elem(&polc_ct, &rel);
      if (polc_ct_alive(ct, now, ifindex) && ct->epoch == cfg->epoch) {
        d.reason = POLC_REASON_CT_RELATED;
        d.v.outcome = ct->outcome;
        d.v.rule_set = ct->rule_set;
        d.v.rule = ct->rule;
        d.count_rules = 1;
        *ct_flags = ct->flags;
        goto out;
      }
    }
  }

  /* Slow path: the policy. */
  struct polc_ip_key local = {.addr = dir == POLC_DIR_EGRESS ? p.saddr : p.daddr};
  const struct polc_endpoint* ep = bpf_map_lookup_elem(&polc_endpoints, &local);
  if (!ep) {
    d.reason = POLC_REASON_UNKNOWN_ENDPOINT;
    d.dropped = 1;
    goto out;
  }
  d.context = ep->context;
  if (ep->ifindex != 0 && ep->ifindex != ifindex) {
    d.reason = POLC_REASON_SPOOFED;
    d.dropped = 1;
    goto out;
  }
  const struct polc_ipcache_entry* peer = polc_peer_lookup(dir == POLC_DIR_EGRESS ? p.daddr : p.saddr);
  if (!peer) {
    d.reason = POLC_REASON_NO_CLASS;
    d.dropped = 1;
    goto out;
  }
  d.peer_class = peer->addr_class;

  if (dir == POLC_DIR_INGRESS && (cfg->flags & POLC_CFG_ALLOW_FROM_OWN_NODE) && (peer->flags & POLC_IPC_LOCAL_NODE)) {
    d.reason = POLC_REASON_FROM_OWN_NODE;
    d.v.outcome = POLC_OUTCOME_DEFAULT_ALLOW;
    d.new_flow = 1;
    goto allowed;
  }

  if (stale_rev) {
    /* A reply of a connection judged under an older policy: the current policy judges the
     * connection again, in its own direction and on its own port. */
    struct polc_verdict again;
    struct polc_query q = {.context = d.context,
                           .peer_class = d.peer_class,
                           .port = stale_rev->policy_port,
                           .dir = (polc_u8)(dir ^ 1),
                           .bucket = p.bucket};
    if (polc_judge(&q, &again) == 0 && polc_outcome_allows(again.outcome)) {
      stale_rev->epoch = cfg->epoch;
      stale_rev->rule_set = again.rule_set;
      stale_rev->rule = again.rule;
      stale_rev->outcome = again.outcome;
      stale_rev->l7_set = again.l7_set;
      polc_ct_touch(stale_rev, cfg, &p, now, 1);
      *ct_flags = stale_rev->flags;
      d.v = again;
      d.reason = POLC_REASON_CT_REPLY;
      d.count_rules = 1;
      goto record_fragment;
    }
    bpf_map_delete_elem(&polc_ct, &key);
    polc_count(&polc_stats, POLC_REASON_CT_REVOKED, 0);
  }

  struct polc_query q = {
      .context = d.context, .peer_class = d.peer_class, .port = p.policy_port, .dir = (polc_u8)dir, .bucket = p.bucket};
  if (polc_judge(&q, &d.v) != 0) {
    d.reason = POLC_REASON_NO_FUNCTION;
    d.dropped = 1;
    goto out;
  }
  d.reason = d.v.outcome; /* POLC_REASON_POLICY_* == outcome */
  d.count_rules = 1;
  if (!polc_outcome_allows(d.v.outcome)) {
    if (stale_fwd) {
      bpf_map_delete_elem(&polc_ct, &key);
      polc_count(&polc_stats, POLC_REASON_CT_REVOKED, 0);
    }
    d.dropped = 1;
    goto out;
  }
  d.new_flow = stale_fwd == 0;

allowed:
  if (track) {
    struct polc_ct_entry e = {};
    e.flags = opened_here | (translated ? POLC_CT_SERVICE : 0);
    if (p.proto == POLC_IPPROTO_TCP && (p.tcp_flags & (POLC_TCP_FIN | POLC_TCP_RST))) e.flags |= POLC_CT_CLOSING;
    e.expires_ns = now + polc_ct_lifetime(cfg, p.proto, e.flags);
    e.epoch = cfg->epoch;
    e.rule_set = d.v.rule_set;
    e.rule = d.v.rule;
    e.l7_set = d.v.l7_set;
    e.ifindex = ifindex;
    e.policy_port = p.policy_port;
    e.outcome = d.v.outcome;
#ifdef POLC_FEATURE_L7
    if (stale_fwd && stale_fwd->l7_set && e.l7_set) e.l7_state = stale_fwd->l7_state; /* request boundaries */
#endif
    bpf_map_update_elem(&polc_ct, &key, &e, BPF_ANY);
#ifdef POLC_FEATURE_L7
    if (e.l7_set && p.proto == POLC_IPPROTO_TCP) {
      struct polc_ct_entry* nct = bpf_map_lookup_elem(&polc_ct, &key);
      if (nct && polc_l7_enforce(skb, nct, dir) != 0) {
        d.reason = POLC_REASON_L7_DENIED;
        d.dropped = 1;
        goto out;
      }
    }
#endif
  }

record_fragment:
  if (p.first_fragment) {
    struct polc_frag_key fk = {.saddr = p.saddr, .daddr = p.daddr, .id = p.ip_id, .proto = p.proto};
    struct polc_frag_ports fp = {.sport = p.sport, .dport = p.dport, .policy_port = p.policy_port};
    bpf_map_update_elem(&polc_frags, &fk, &fp, BPF_ANY);
  }
out:
  return polc_finish(skb, cfg, &p, dir, &d);
}

/* Services (issue 7): ClusterIP/NodePort translation, and the underlay programs. */
#include "lb.h"

/* tc ingress of the pod's host-side veth: what the pod sends (its egress policy). A packet to a
 * service is first translated to its backend, so the policy judges the backend pod. */
SEC("tc") int polc_from_pod(struct __sk_buff* skb) {
  polc_u32 zero = 0;
  const polc_u32* word = bpf_map_lookup_elem(&polc_generation, &zero);
  const struct polc_config* cfg = bpf_map_lookup_elem(&polc_config, &zero);
  if (!word || !cfg) return TC_ACT_SHOT;
  polc_u32 w = *word;
  if (w != cfg->generation) { /* another generation is in force: it judges */
    bpf_tail_call(skb, &polc_slots, (w & POLC_GEN_SLOT_MASK) * 2);
    return TC_ACT_SHOT; /* an empty slot: fail closed */
  }
  skb->mark = (skb->mark & 0x00ffffffu) | (POLC_MARK_MAGIC << 28) | ((w & POLC_GEN_STAMP_MASK) << 24);
  polc_u8 ct_flags;
  int translated = polc_lb_from_pod(skb);
  return polc_handle(skb, POLC_DIR_EGRESS, translated, &ct_flags);
}

/* tc egress of the pod's host-side veth: what the pod receives (its ingress policy). Allowed
 * replies from a service backend get the service address back (reverse NAT). */
SEC("tc") int polc_to_pod(struct __sk_buff* skb) {
  polc_u32 zero = 0;
  const struct polc_config* cfg = bpf_map_lookup_elem(&polc_config, &zero);
  if (!cfg) return TC_ACT_SHOT;
  polc_u32 mark = skb->mark;
  if ((mark >> 28) == POLC_MARK_MAGIC) {
    /* judged on this node's from-pod hook: the same generation judges here */
    polc_u32 stamp = (mark >> 24) & POLC_GEN_STAMP_MASK;
    if (stamp != (cfg->generation & POLC_GEN_STAMP_MASK)) {
      bpf_tail_call(skb, &polc_slots, (stamp & POLC_GEN_SLOT_MASK) * 2 + 1);
      return TC_ACT_SHOT;
    }
    skb->mark = mark & 0x00ffffffu;
  } else {
    const polc_u32* word = bpf_map_lookup_elem(&polc_generation, &zero);
    if (!word) return TC_ACT_SHOT;
    polc_u32 w = *word;
    if (w != cfg->generation) {
      bpf_tail_call(skb, &polc_slots, (w & POLC_GEN_SLOT_MASK) * 2 + 1);
      return TC_ACT_SHOT;
    }
  }
  polc_u8 ct_flags;
  int verdict = polc_handle(skb, POLC_DIR_INGRESS, 0, &ct_flags);
  /* An established connection says whether it went through a service; any other packet asks
   * the load balancer, and marks its new entry when it did. */
  if (verdict == TC_ACT_OK && (ct_flags == POLC_CT_UNKNOWN || (ct_flags & POLC_CT_SERVICE)))
    polc_lb_to_pod(skb, ct_flags == POLC_CT_UNKNOWN);
  return verdict;
}

/* The datapath ABI: every BPF map key and value, defined once. This header is compiled into the
 * BPF program (by `polc compile`, in-process), into polc's C++ code that fills the maps, and into
 * tests and the runtime. layout.json is generated from the BTF the compiler emits for these
 * structs, so nothing here is mirrored by hand anywhere else.
 *
 * Conventions: fixed-width fields only, explicit padding (pad* fields are zero), every struct
 * size and field offset checked below. polc_be32 marks IPv4 addresses in network byte order
 * (as in the packet); every other field is in host byte order. Ids are the ones in layout.json
 * ("tables"): address classes and rule sets are cluster-wide, contexts and functions are local
 * to the node the object was compiled for. */
#pragma once

#ifdef __cplusplus
#include <cstddef>
#include <cstdint>
typedef std::uint8_t polc_u8;
typedef std::uint16_t polc_u16;
typedef std::uint32_t polc_u32;
typedef std::uint64_t polc_u64;
#define POLC_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#define POLC_OFFSETOF(type, field) offsetof(type, field)
#elif defined(__bpf__)
typedef unsigned char polc_u8;
typedef unsigned short polc_u16;
typedef unsigned int polc_u32;
typedef unsigned long long polc_u64;
#define POLC_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#define POLC_OFFSETOF(type, field) __builtin_offsetof(type, field)
#else
#include <stddef.h>
#include <stdint.h>
typedef uint8_t polc_u8;
typedef uint16_t polc_u16;
typedef uint32_t polc_u32;
typedef uint64_t polc_u64;
#define POLC_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#define POLC_OFFSETOF(type, field) offsetof(type, field)
#endif

/* An IPv4 address in network byte order; layout.json shows it dotted ("10.10.1.5"). */
typedef polc_u32 polc_be32;

#define POLC_CHECK_SIZE(type, size) POLC_STATIC_ASSERT(sizeof(struct type) == (size), "ABI: size of " #type)
#define POLC_CHECK_OFFSET(type, field, off) \
  POLC_STATIC_ASSERT(POLC_OFFSETOF(struct type, field) == (off), "ABI: offset of " #type "." #field)

/* Bumped on any change to a struct, a map, an enum value or the meaning of a field. The runtime
 * refuses a layout.json whose abi_version it does not know. */
#define POLC_ABI_VERSION 2

/* "none" for 32-bit ids (no rule, no class). */
#define POLC_NONE 0xffffffffu

/* Policy direction, numbered as ir::Direction. from-pod enforces the source pod's egress,
 * to-pod the destination pod's ingress. */
enum polc_dir { POLC_DIR_INGRESS = 0, POLC_DIR_EGRESS = 1 };

/* Protocol buckets of a port function, numbered as ir::ProtoBucket. The "port" of a packet is
 * its destination port for TCP/UDP/SCTP, its type for ICMP, and 0 for every other protocol. */
enum polc_bucket {
  POLC_BUCKET_TCP = 0,
  POLC_BUCKET_UDP = 1,
  POLC_BUCKET_SCTP = 2,
  POLC_BUCKET_ICMP = 3,
  POLC_BUCKET_OTHER = 4,
  POLC_BUCKETS = 5
};

/* Final outcome of a port segment, numbered as ir::Outcome. */
enum polc_outcome {
  POLC_OUTCOME_DEFAULT_ALLOW = 0, /* the subject is not isolated in this direction */
  POLC_OUTCOME_DEFAULT_DENY = 1,  /* isolated, and no rule allows it */
  POLC_OUTCOME_ALLOW = 2,         /* allowed at L4 by rule_set */
  POLC_OUTCOME_ALLOW_L7 = 3,      /* connection allowed; HTTP requests must match l7_set (issue 8) */
  POLC_OUTCOME_DENY = 4           /* a deny rule (rule_set) matches; beats every allow */
};

/* Why a packet got its verdict: the flow event's reason and the index into polc_stats. */
enum polc_reason {
  POLC_REASON_POLICY_DEFAULT_ALLOW = 0, /* policy tables, outcome default-allow (= outcome) */
  POLC_REASON_POLICY_DEFAULT_DENY = 1,
  POLC_REASON_POLICY_ALLOW = 2,
  POLC_REASON_POLICY_ALLOW_L7 = 3,
  POLC_REASON_POLICY_DENY = 4,
  POLC_REASON_CT_ESTABLISHED = 5,    /* a packet of a connection the policy allowed */
  POLC_REASON_CT_REPLY = 6,          /* a reply of an allowed connection */
  POLC_REASON_CT_RELATED = 7,        /* an ICMP error about an allowed connection */
  POLC_REASON_CT_REVOKED = 8,        /* a connection the current policy (new epoch) no longer allows */
  POLC_REASON_SELF = 9,              /* source address == destination address */
  POLC_REASON_FROM_OWN_NODE = 10,    /* ingress from the pod's own node (always allowed) */
  POLC_REASON_NOT_IP = 11,           /* not IPv4/IPv6 (ARP, ...): passed */
  POLC_REASON_IPV6 = 12,             /* IPv6 is not enforced yet: dropped (fail closed) */
  POLC_REASON_VLAN = 13,             /* VLAN-tagged frame on a pod interface: dropped */
  POLC_REASON_MALFORMED = 14,        /* truncated or inconsistent headers: dropped */
  POLC_REASON_FRAGMENT = 15,         /* a non-first fragment of an unknown datagram: dropped */
  POLC_REASON_UNKNOWN_ENDPOINT = 16, /* the local address is no endpoint of this node: dropped */
  POLC_REASON_SPOOFED = 17,          /* the source address does not belong to the interface */
  POLC_REASON_NO_CLASS = 18,         /* the peer address maps to no class (tables incomplete) */
  POLC_REASON_NO_FUNCTION = 19,      /* the tables have no function for the lookup: dropped */
  POLC_REASON_EVENT_LOST = 20,       /* stats only: a flow event the ring buffer had no room for */
  POLC_REASON_L7_DENIED = 21,        /* an HTTP request the L7 set does not allow, or that cannot be
                                        classified safely (polc_l7_stats says why): dropped */
  POLC_REASONS = 22
};

/* polc_event.verdict */
enum polc_verdict_kind { POLC_FORWARDED = 0, POLC_DROPPED = 1 };

/* polc_config.flags */
enum polc_config_flags {
  POLC_CFG_ALLOW_FROM_OWN_NODE = 1u << 0, /* ingress from LOCAL_NODE addresses always allowed */
  POLC_CFG_EVENTS_DROPPED = 1u << 1,      /* a flow event for every dropped packet */
  POLC_CFG_EVENTS_ALLOWED = 1u << 2,      /* a flow event for every new allowed connection */
  POLC_CFG_NO_CONNTRACK = 1u << 3         /* debug/bench: judge every packet, never track */
};

/* polc_ipcache_entry.flags */
enum polc_ipcache_flags {
  POLC_IPC_LOCAL_NODE = 1u << 0 /* an address of the node this object runs on */
};

/* polc_ct_entry.flags */
enum polc_ct_flags {
  POLC_CT_CLOSING = 1u << 0, /* FIN or RST seen: short lifetime, a new SYN is judged again */
  POLC_CT_SEEN_REPLY = 1u << 1,
  POLC_CT_OPENED_BY_INGRESS = 1u << 2, /* judged by to-pod (the pod's ingress), else by from-pod */
  POLC_CT_SERVICE = 1u << 3            /* opened through a service: replies get reverse NAT */
};

/* The port index space of polc_port_classes: one slot per (bucket, port). TCP, UDP and SCTP
 * have 65,536 ports each, ICMP 256 types, every other protocol the single port 0. */
#define POLC_PORT_INDEX_TCP 0u
#define POLC_PORT_INDEX_UDP 65536u
#define POLC_PORT_INDEX_SCTP 131072u
#define POLC_PORT_INDEX_ICMP 196608u
#define POLC_PORT_INDEX_OTHER 196864u
#define POLC_PORT_INDEX_SIZE 196865u

/* Map name prefix: every map of the datapath is called polc_*; pinned maps live under
 * /sys/fs/bpf/polc/<node>/ when the runtime pins them. */

/* ------------------------------------------------------------------------------------------
 * polc_config (ARRAY, 1 entry, key u32 0): node-wide settings.
 *   abi_version  POLC_ABI_VERSION the object was built with (the runtime checks it)
 *   flags        polc_config_flags
 *   epoch        policy generation; conntrack entries made under another epoch are judged
 *                again by the current policy on their next packet (established flows and
 *                replies then follow the new policy)
 *   node_class   address class of this node (display)
 *   ct_timeout_* connection lifetimes in seconds: TCP established, TCP after FIN/RST, others
 *   generation   the generation word under which this object judges packets (0 from the
 *                compiler; the runtime writes it, see "Generations" below) */
struct polc_config {
  polc_u32 abi_version;
  polc_u32 flags;
  polc_u32 epoch;
  polc_u32 node_class;
  polc_u32 ct_timeout_tcp;
  polc_u32 ct_timeout_tcp_closing;
  polc_u32 ct_timeout_other;
  polc_u32 generation;
};
POLC_CHECK_SIZE(polc_config, 32);
POLC_CHECK_OFFSET(polc_config, generation, 28);

/* Generations (runtime, docs/runtime.md "Atomic re-apply"). polc_generation[0] is the node's
 * generation word: bits 0-1 the active slot (0, 1, or POLC_GEN_OPEN: no policy), bits 2-31 an
 * apply counter. A program judges a packet only when the word equals its polc_config.generation;
 * otherwise it tail-calls polc_slots[2 * slot] (from-pod) or [2 * slot + 1] (to-pod), and drops
 * when that slot is empty. The from-pod program stamps skb->mark (bits 28-31 POLC_MARK_MAGIC,
 * bits 24-27 the word's low four bits); the to-pod program on the same node follows the stamp, so
 * both programs of one packet belong to one generation. A standalone load (word 0, generation
 * 0) simply runs. */
#define POLC_GEN_SLOT_MASK 3u
#define POLC_GEN_STAMP_MASK 15u
#define POLC_GEN_OPEN 2u
#define POLC_GEN_SLOTS 6u
#define POLC_MARK_MAGIC 0xAu
POLC_CHECK_OFFSET(polc_config, flags, 4);
POLC_CHECK_OFFSET(polc_config, epoch, 8);
POLC_CHECK_OFFSET(polc_config, ct_timeout_other, 24);

/* ------------------------------------------------------------------------------------------
 * Key of polc_endpoints and polc_ipcache (HASH): one IPv4 address, exact match, no wildcard. */
struct polc_ip_key {
  polc_be32 addr;
};
POLC_CHECK_SIZE(polc_ip_key, 4);

/* polc_endpoints (HASH, polc_ip_key -> polc_endpoint): the policy-managed pods of this node.
 *   context     local context id (index into polc_contexts)
 *   addr_class  the pod's address class (as in polc_ipcache)
 *   ifindex     host-side interface of the pod; 0 = not bound yet. When set, a packet with this
 *               source address on another interface is dropped as spoofed. The runtime fills it.
 *   endpoint    cluster-wide endpoint id (layout.json tables.endpoints) */
struct polc_endpoint {
  polc_u32 context;
  polc_u32 addr_class;
  polc_u32 ifindex;
  polc_u32 endpoint;
};
POLC_CHECK_SIZE(polc_endpoint, 16);
POLC_CHECK_OFFSET(polc_endpoint, addr_class, 4);
POLC_CHECK_OFFSET(polc_endpoint, ifindex, 8);

/* Value of polc_ipcache (HASH, /32 of every pod and node in the cluster) and of
 * polc_ipcache_lpm (LPM_TRIE, every other prefix: world regions, 0.0.0.0/0 always present).
 * The datapath looks up the hash first and falls back to the trie, so a pod or node /32 always
 * beats a prefix that contains it.
 *   addr_class  address class id (layout.json tables.classes)
 *   flags       polc_ipcache_flags */
struct polc_ipcache_entry {
  polc_u32 addr_class;
  polc_u32 flags;
};
POLC_CHECK_SIZE(polc_ipcache_entry, 8);

/* Key of polc_ipcache_lpm. Field order is the trie's: prefixlen (0-32) first, then the address
 * in network byte order; bits beyond prefixlen are zero. */
struct polc_lpm_key {
  polc_u32 prefixlen;
  polc_be32 addr;
};
POLC_CHECK_SIZE(polc_lpm_key, 8);

/* polc_contexts (ARRAY, key = local context id): subjects selected by the same policies.
 *   default_function[dir]  the port function for any peer class that has no polc_policy entry
 *                          (the function most peers share), per polc_dir
 *   flags                  bit dir: isolated in that direction (display) */
struct polc_context {
  polc_u32 default_function[2];
  polc_u32 flags;
  polc_u32 pad;
};
POLC_CHECK_SIZE(polc_context, 16);
POLC_CHECK_OFFSET(polc_context, flags, 8);

/* Key of polc_policy (HASH): exact match on all three fields; a missing key means
 * polc_contexts[context].default_function[dir] (that is the only wildcard).
 *   context     local context id of the subject (the local pod)
 *   peer_class  address class of the other side
 *   dir         polc_dir */
struct polc_policy_key {
  polc_u32 context;
  polc_u32 peer_class;
  polc_u8 dir;
  polc_u8 pad[3];
};
POLC_CHECK_SIZE(polc_policy_key, 12);
POLC_CHECK_OFFSET(polc_policy_key, peer_class, 4);
POLC_CHECK_OFFSET(polc_policy_key, dir, 8);

/* Value of polc_policy: the port function (local id, index into polc_functions). */
struct polc_policy_entry {
  polc_u32 function;
};
POLC_CHECK_SIZE(polc_policy_entry, 4);

/* A final verdict for a port segment (value of polc_verdicts, and the per-bucket defaults of a
 * function).
 *   outcome   polc_outcome
 *   rule_set  deciding rules: index into layout.json tables.rule_sets and polc_rule_counters;
 *             0 = the empty set (default allow/deny)
 *   rule      the first rule of rule_set (display), POLC_NONE when empty
 *   l7_set    ALLOW_L7: index into layout.json tables.l7_sets (issue 8: the HTTP matchers) */
struct polc_verdict {
  polc_u8 outcome;
  polc_u8 pad[3];
  polc_u32 rule_set;
  polc_u32 rule;
  polc_u32 l7_set;
};
POLC_CHECK_SIZE(polc_verdict, 16);
POLC_CHECK_OFFSET(polc_verdict, rule_set, 4);
POLC_CHECK_OFFSET(polc_verdict, rule, 8);
POLC_CHECK_OFFSET(polc_verdict, l7_set, 12);

/* polc_functions (ARRAY, key = local function id): a port function's default verdict per
 * bucket (polc_bucket), used for every port class without a polc_verdicts entry. */
struct polc_function {
  struct polc_verdict defaults[POLC_BUCKETS];
};
POLC_CHECK_SIZE(polc_function, 80);

/* polc_port_classes (ARRAY, POLC_PORT_INDEX_SIZE entries, key = polc_port_index()): the port
 * class of every (bucket, port). Classes are the elementary intervals cut by the segment
 * boundaries of every function of the node, numbered from 0 per bucket. */
struct polc_port_class {
  polc_u32 port_class;
};
POLC_CHECK_SIZE(polc_port_class, 4);

/* Key of polc_verdicts (HASH): exact match; a missing key means
 * polc_functions[function].defaults[bucket] (the only wildcard).
 *   function    local function id
 *   port_class  class of the packet's port in this bucket (polc_port_classes)
 *   bucket      polc_bucket */
struct polc_verdict_key {
  polc_u32 function;
  polc_u32 port_class;
  polc_u8 bucket;
  polc_u8 pad[3];
};
POLC_CHECK_SIZE(polc_verdict_key, 12);
POLC_CHECK_OFFSET(polc_verdict_key, port_class, 4);
POLC_CHECK_OFFSET(polc_verdict_key, bucket, 8);

/* Key of polc_ct (LRU_HASH): one connection of one pod, as the pod's two programs see it. Both
 * directions of the connection share the entry: the key names the pod's side (local) and the
 * other side (remote), whichever way the packet goes, so a reply finds its connection with the
 * same single lookup as the packet that opened it. Exact match, no wildcard.
 *   local_addr    the pod's address: the source in from-pod, the destination in to-pod
 *   remote_addr   the other address (network byte order, both)
 *   local_port, remote_port   host byte order. TCP/UDP/SCTP: the ports. ICMP queries: the
 *                 identifier and the request type (8 echo, 13 timestamp, ...) on the side of
 *                 the request's sender and receiver; a reply carries them swapped, so it
 *                 finds its request. Other ICMP: 0 and type. Other protocols: 0, 0.
 *   proto         IP protocol number
 * Which side opened the connection is in the entry (POLC_CT_OPENED_BY_INGRESS), so an egress
 * decision never stands in for an ingress one: a packet in the other direction is a reply. */
struct polc_ct_key {
  polc_be32 local_addr;
  polc_be32 remote_addr;
  polc_u16 local_port;
  polc_u16 remote_port;
  polc_u8 proto;
  polc_u8 pad[3];
};
POLC_CHECK_SIZE(polc_ct_key, 16);
POLC_CHECK_OFFSET(polc_ct_key, local_port, 8);
POLC_CHECK_OFFSET(polc_ct_key, proto, 12);

/* Value of polc_ct.
 *   expires_ns   bpf_ktime_get_ns() after which the entry is dead
 *   epoch        polc_config.epoch when the policy last judged the connection
 *   rule_set     deciding rules (counters for every later packet); rule: the first of them
 *   l7_set       ALLOW_L7 connections: the HTTP matchers (issue 8); 0 = no L7 restriction
 *   ifindex      interface the connection was judged on; a packet on another one is not
 *                matched (it goes through the policy and the spoofing check)
 *   policy_port  the port the policy judged (for re-judging replies after an epoch change)
 *   outcome      polc_outcome of that judgement, or POLC_OUTCOME_DEFAULT_ALLOW for traffic
 *                allowed before the tables (from own node)
 *   flags        polc_ct_flags
 *   l7_state     per-connection HTTP parser state (issue 8); 0 today */
struct polc_ct_entry {
  polc_u64 expires_ns;
  polc_u32 epoch;
  polc_u32 rule_set;
  polc_u32 rule;
  polc_u32 l7_set;
  polc_u32 ifindex;
  polc_u16 policy_port;
  polc_u8 outcome;
  polc_u8 flags;
  polc_u64 l7_state;
};
POLC_CHECK_SIZE(polc_ct_entry, 40);
POLC_CHECK_OFFSET(polc_ct_entry, epoch, 8);
POLC_CHECK_OFFSET(polc_ct_entry, ifindex, 24);
POLC_CHECK_OFFSET(polc_ct_entry, policy_port, 28);
POLC_CHECK_OFFSET(polc_ct_entry, l7_state, 32);

/* Key of polc_frags (LRU_HASH): an IPv4 datagram whose first fragment was allowed; its later
 * fragments (which carry no ports) find their ports here. Exact match. */
struct polc_frag_key {
  polc_be32 saddr;
  polc_be32 daddr;
  polc_u16 id;
  polc_u8 proto;
  polc_u8 pad;
};
POLC_CHECK_SIZE(polc_frag_key, 12);

/* Value of polc_frags: the first fragment's conntrack ports and policy port. */
struct polc_frag_ports {
  polc_u16 sport;
  polc_u16 dport;
  polc_u16 policy_port;
  polc_u16 pad;
};
POLC_CHECK_SIZE(polc_frag_ports, 8);

/* Value of polc_rule_counters (PERCPU_ARRAY, key = rule set id) and polc_stats (PERCPU_ARRAY,
 * key = polc_reason). A rule's count is the sum over the rule sets that contain it. */
struct polc_counter {
  polc_u64 packets;
  polc_u64 bytes;
};
POLC_CHECK_SIZE(polc_counter, 16);

/* A flow event in polc_events (RINGBUF): one per dropped packet and per newly allowed
 * connection (polc_config.flags choose).
 *   timestamp_ns  bpf_ktime_get_ns()
 *   saddr, daddr  network byte order; sport, dport host byte order (as in polc_ct_key)
 *   policy_port   the port the policy judged (dport, ICMP type, 0)
 *   proto, dir    IP protocol, polc_dir of the program
 *   verdict       polc_verdict_kind
 *   reason        polc_reason
 *   outcome       polc_outcome when reason is a policy or conntrack reason
 *   tcp_flags     TCP flags byte (0 for other protocols)
 *   ifindex       skb->ifindex
 *   context       local context of the local pod (POLC_NONE before it is known)
 *   peer_class    address class of the other side (POLC_NONE before it is known)
 *   rule_set, rule, l7_set  as in polc_verdict
 *   len           packet length */
struct polc_event {
  polc_u64 timestamp_ns;
  polc_be32 saddr;
  polc_be32 daddr;
  polc_u16 sport;
  polc_u16 dport;
  polc_u16 policy_port;
  polc_u8 proto;
  polc_u8 dir;
  polc_u8 verdict;
  polc_u8 reason;
  polc_u8 outcome;
  polc_u8 tcp_flags;
  polc_u32 ifindex;
  polc_u32 context;
  polc_u32 peer_class;
  polc_u32 rule_set;
  polc_u32 rule;
  polc_u32 l7_set;
  polc_u32 len;
  polc_u32 pad[2];
};
POLC_CHECK_SIZE(polc_event, 64);
POLC_CHECK_OFFSET(polc_event, saddr, 8);
POLC_CHECK_OFFSET(polc_event, policy_port, 20);
POLC_CHECK_OFFSET(polc_event, proto, 22);
POLC_CHECK_OFFSET(polc_event, ifindex, 28);
POLC_CHECK_OFFSET(polc_event, rule_set, 40);
POLC_CHECK_OFFSET(polc_event, len, 52);

/* ------------------------------------------------------------------------------------------
 * Services (issue 7; backend-bpf/datapath/lb.h, docs/datapath.md "Services"). A pod's packet to
 * a service address is translated to one backend in polc_from_pod *before* the policy, so the
 * policy judges the backend pod and its target port, as Kubernetes specifies; replies get the
 * service address back in polc_to_pod. NodePort traffic from the underlay is translated by
 * polc_from_underlay / polc_to_underlay on the node's underlay interface. */

/* polc_svc.flags */
enum polc_svc_flags {
  POLC_SVC_NODE_PORT = 1u << 0 /* a nodePort entry (addr is a node IP): also served from the underlay */
};

/* polc_lb_backend.flags */
enum polc_lb_backend_flags {
  POLC_LB_BACKEND_LOCAL = 1u << 0 /* the backend runs on the node this object is for */
};

/* polc_lb_entry.flags */
enum polc_lb_flags {
  POLC_LB_CLOSING = 1u << 0,   /* FIN or RST seen: short lifetime; a new SYN chooses again */
  POLC_LB_NODE_PORT = 1u << 1, /* translated on the underlay interface (NodePort from outside) */
  POLC_LB_SNAT = 1u << 2       /* the source was rewritten to the node address (remote backend) */
};

/* Key of polc_services (HASH): exact match, no wildcard.
 *   addr   the ClusterIP, or a node IP for a nodePort (one entry per node of the cluster)
 *   port   the service port, or the nodePort (host byte order)
 *   proto  IP protocol (TCP or UDP; other protocols are not translated) */
struct polc_svc_key {
  polc_be32 addr;
  polc_u16 port;
  polc_u8 proto;
  polc_u8 pad;
};
POLC_CHECK_SIZE(polc_svc_key, 8);
POLC_CHECK_OFFSET(polc_svc_key, port, 4);
POLC_CHECK_OFFSET(polc_svc_key, proto, 6);

/* Value of polc_services: the service port's slice of polc_lb_backends.
 *   base, slots  polc_lb_backends[base .. base + slots - 1] hold the backends, each repeated in
 *                proportion to its weight; a new connection takes slot random % slots.
 *                slots == 0: no backend (the packet is not translated)
 *   id           service port id (layout.json tables.services), cluster-wide
 *   flags        polc_svc_flags */
struct polc_svc {
  polc_u32 base;
  polc_u32 slots;
  polc_u32 id;
  polc_u32 flags;
};
POLC_CHECK_SIZE(polc_svc, 16);
POLC_CHECK_OFFSET(polc_svc, slots, 4);
POLC_CHECK_OFFSET(polc_svc, flags, 12);

/* polc_svc_filter (ARRAY, POLC_SVC_FILTER_WORDS entries): a one-hash Bloom filter of the keys
 * of polc_services, so that a packet to no service skips the hash lookup (most packets: one
 * array read instead of a hash computation and a bucket walk). Bit polc_svc_filter_bit(key) is
 * set for every key; a clear bit proves the key absent, a set one sends the packet to the
 * lookup. */
#define POLC_SVC_FILTER_BITS 65536u
#define POLC_SVC_FILTER_WORDS (POLC_SVC_FILTER_BITS / 64u)
struct polc_svc_filter_word {
  polc_u64 bits;
};
POLC_CHECK_SIZE(polc_svc_filter_word, 8);

/* The filter bit of a polc_services key: addr as stored in the key (network byte order). */
static inline polc_u32 polc_svc_filter_bit(polc_be32 addr, polc_u16 port, polc_u8 proto) {
  polc_u32 h = (polc_u32)addr * 0x9e3779b1u;
  h ^= ((polc_u32)port << 8 | proto) * 0x85ebca77u;
  h ^= h >> 15;
  h *= 0x2c1b3c6du;
  h ^= h >> 13;
  return h & (POLC_SVC_FILTER_BITS - 1u);
}

/* Value of polc_lb_backends (ARRAY, key = polc_svc.base + slot): one backend.
 *   addr      the backend pod's address
 *   port      its target port for this service port (named targetPorts resolved per pod)
 *   flags     polc_lb_backend_flags
 *   endpoint  cluster-wide endpoint id (layout.json tables.endpoints) */
struct polc_lb_backend {
  polc_be32 addr;
  polc_u16 port;
  polc_u16 flags;
  polc_u32 endpoint;
};
POLC_CHECK_SIZE(polc_lb_backend, 12);
POLC_CHECK_OFFSET(polc_lb_backend, port, 4);
POLC_CHECK_OFFSET(polc_lb_backend, endpoint, 8);

/* Key of polc_lb_ct (LRU_HASH): the per-connection service affinity. Exact match.
 *   dir 0 (forward)  the tuple as the client sends it (client -> service address:port)
 *   dir 1 (reverse)  the tuple of a reply as it arrives before translation
 *                    (backend:target port -> client, or -> node address when SNATed)
 *   ports in host byte order, addresses in network byte order */
struct polc_lb_key {
  polc_be32 saddr;
  polc_be32 daddr;
  polc_u16 sport;
  polc_u16 dport;
  polc_u8 proto;
  polc_u8 dir;
  polc_u8 pad[2];
};
POLC_CHECK_SIZE(polc_lb_key, 16);
POLC_CHECK_OFFSET(polc_lb_key, sport, 8);
POLC_CHECK_OFFSET(polc_lb_key, dir, 13);

/* Value of polc_lb_ct.
 *   expires_ns       bpf_ktime_get_ns() after which the entry is dead (conntrack lifetimes of
 *                    polc_config)
 *   addr, port       forward: the chosen backend; reverse: the service address and port that
 *                    replies carry as their source
 *   nat_addr, nat_port  forward with POLC_LB_SNAT: the node address and port the source is
 *                    rewritten to; reverse with POLC_LB_SNAT: the original client, restored as
 *                    the destination
 *   flags            polc_lb_flags
 *   service          service port id; backend: endpoint id of the backend */
struct polc_lb_entry {
  polc_u64 expires_ns;
  polc_be32 addr;
  polc_be32 nat_addr;
  polc_u16 port;
  polc_u16 nat_port;
  polc_u8 flags;
  polc_u8 pad[3];
  polc_u32 service;
  polc_u32 backend;
};
POLC_CHECK_SIZE(polc_lb_entry, 32);
POLC_CHECK_OFFSET(polc_lb_entry, addr, 8);
POLC_CHECK_OFFSET(polc_lb_entry, port, 16);
POLC_CHECK_OFFSET(polc_lb_entry, flags, 20);
POLC_CHECK_OFFSET(polc_lb_entry, service, 24);

/* ------------------------------------------------------------------------------------------
 * HTTP (issue 8; backend-bpf/datapath/l7_http.h, docs/datapath.md "L7"). Compiled in only when
 * some rule has HTTP (POLC_FEATURE_L7 in polc_build_config.h). A connection whose verdict is
 * ALLOW_L7 carries its l7_set in conntrack; every request line and header block the client
 * sends on it is parsed by the program of the side whose policy has the HTTP rules, and matched
 * against polc_l7_sets[l7_set]. The per-connection parser position is polc_ct_entry.l7_state. */
#define POLC_L7_MAX_MATCHES 64     /* HTTP matches (rules.http entries) per l7 set: one bit each */
#define POLC_L7_MAX_HEADER 2048    /* request line + headers must arrive in one segment of at most this */
#define POLC_L7_MAX_SPAN 0xfffffu  /* header block + Content-Length of one request, bytes */
#define POLC_L7_DENIED_HLEN 0xfffu /* l7_state header length marking a denied connection */

/* The fields of a request a DFA reads, numbered as polc_l7_set.dfa. */
enum polc_l7_field { POLC_L7_METHOD = 0, POLC_L7_PATH = 1, POLC_L7_HOST = 2, POLC_L7_HEADER = 3, POLC_L7_FIELDS = 4 };

/* Why the L7 parser passed or refused a request: the index into polc_l7_stats. */
enum polc_l7_reason {
  POLC_L7_ALLOWED = 0,        /* a request some HTTP match of the set allows: passed */
  POLC_L7_DENIED = 1,         /* a well-formed request no HTTP match allows (403) */
  POLC_L7_INCOMPLETE = 2,     /* request line + headers not complete in one segment (split, too long) */
  POLC_L7_PIPELINED = 3,      /* bytes beyond the request (and its body) in the segment */
  POLC_L7_HTTP2 = 4,          /* the HTTP/2 connection preface */
  POLC_L7_BAD_PATH = 5,       /* not origin-form, or not normalized (dot segments, //, %2e %2f, ...) */
  POLC_L7_BAD_METHOD = 6,     /* a method that is not upper-case letters */
  POLC_L7_MALFORMED = 7,      /* other syntax: version, header line, bare CR or LF */
  POLC_L7_UNTRACKED_BODY = 8, /* Transfer-Encoding, a bad or repeated Content-Length, a repeated Host,
                                 a request over POLC_L7_MAX_SPAN bytes */
  POLC_L7_OUT_OF_WINDOW = 9,  /* data at no tracked request boundary (out of order, old): dropped */
  POLC_L7_AFTER_DENY = 10,    /* data on a connection whose request was refused: dropped */
  POLC_L7_RESPONSES = 11,     /* stats only: 403 responses (and resets to the server) sent */
  POLC_L7_REASONS = 12
};

/* polc_l7_sets (ARRAY, key = l7 set id, layout.json tables.l7_sets): the union of HTTP matches
 * of an ALLOW_L7 verdict. Match i of the set owns bit i. A request is allowed when
 *   all & (free[METHOD] | accept(method)) & (free[PATH] | accept(path)) & (free[HOST] | accept(host))
 *       & { i : header_req[i] is a subset of accept-bits of the request's header lines }  != 0
 * where accept(field) is the accept mask of the state polc_http_dfa reaches from dfa[field] on
 * the field's bytes (the method token, the request target, the Host value; absent Host: the
 * empty string). dfa[HEADER] runs on each header line as "lower-case-name:value" and its accept
 * bits are header requirements, not matches.
 *   dfa[f]       start state (index into polc_http_dfa), POLC_NONE when no match constrains f
 *   free[f]      matches that do not constrain field f (unused for HEADER)
 *   all          the set's matches; 0 = unused id (every request is refused)
 *   header_req   per match, the header requirement bits it needs (0: none) */
struct polc_l7_set {
  polc_u32 dfa[POLC_L7_FIELDS];
  polc_u64 free[POLC_L7_FIELDS];
  polc_u64 all;
  polc_u64 header_req[POLC_L7_MAX_MATCHES];
};
POLC_CHECK_SIZE(polc_l7_set, 568);
POLC_CHECK_OFFSET(polc_l7_set, free, 16);
POLC_CHECK_OFFSET(polc_l7_set, all, 48);
POLC_CHECK_OFFSET(polc_l7_set, header_req, 56);

/* polc_http_dfa (ARRAY, key = state): every DFA of every l7 set, states numbered globally.
 *   accept  the bits (matches, or header requirements) accepting in this state
 *   next    next state per input byte (global index) */
struct polc_dfa_state {
  polc_u64 accept;
  polc_u32 next[256];
};
POLC_CHECK_SIZE(polc_dfa_state, 1032);
POLC_CHECK_OFFSET(polc_dfa_state, next, 8);

/* polc_ct_entry.l7_state of an L7 connection (0: no request seen yet; the next data segment
 * starts one):
 *   bits 0-31   TCP sequence number where the next request starts
 *   bits 32-51  that boundary minus the start of the current request (its header block + body)
 *   bits 52-63  length of the current request's header block; POLC_L7_DENIED_HLEN: a request
 *               was refused, every later data segment is dropped */

/* The slot of (bucket, port) in polc_port_classes. ICMP types and the port of other protocols
 * are clamped into their ranges by the caller (the datapath never produces others). */
static inline polc_u32 polc_port_index(polc_u32 bucket, polc_u32 port) {
  switch (bucket) {
    case POLC_BUCKET_TCP: return POLC_PORT_INDEX_TCP + (port & 0xffffu);
    case POLC_BUCKET_UDP: return POLC_PORT_INDEX_UDP + (port & 0xffffu);
    case POLC_BUCKET_SCTP: return POLC_PORT_INDEX_SCTP + (port & 0xffffu);
    case POLC_BUCKET_ICMP: return POLC_PORT_INDEX_ICMP + (port & 0xffu);
    default: return POLC_PORT_INDEX_OTHER;
  }
}

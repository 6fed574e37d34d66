/* The few BPF definitions the datapath needs, written out here so that `polc compile` needs no
 * kernel or libc headers on the user's machine. Helper ids, map types and struct __sk_buff
 * follow the kernel UAPI (include/uapi/linux/bpf.h); only the parts the datapath uses. */
#pragma once

#include "polc/backend_bpf/abi.h"

#define SEC(name) __attribute__((section(name), used))
#define __polc_inline inline __attribute__((always_inline))
#define __polc_noinline __attribute__((noinline))

/* BTF-defined maps, as libbpf reads them. */
#define __uint(name, val) int(*name)[val]
#define __type(name, val) __typeof__(val)* name

enum {
  BPF_MAP_TYPE_HASH = 1,
  BPF_MAP_TYPE_ARRAY = 2,
  BPF_MAP_TYPE_PROG_ARRAY = 3,
  BPF_MAP_TYPE_PERCPU_ARRAY = 6,
  BPF_MAP_TYPE_LRU_HASH = 9,
  BPF_MAP_TYPE_LPM_TRIE = 11,
  BPF_MAP_TYPE_RINGBUF = 27,
};
enum { BPF_F_NO_PREALLOC = 1 };
enum { BPF_ANY = 0, BPF_NOEXIST = 1, BPF_EXIST = 2 };
enum { TC_ACT_OK = 0, TC_ACT_SHOT = 2 };

/* The start of struct __sk_buff (the verifier rewrites accesses by offset). */
struct __sk_buff {
  polc_u32 len;
  polc_u32 pkt_type;
  polc_u32 mark;
  polc_u32 queue_mapping;
  polc_u32 protocol;
  polc_u32 vlan_present;
  polc_u32 vlan_tci;
  polc_u32 vlan_proto;
  polc_u32 priority;
  polc_u32 ingress_ifindex;
  polc_u32 ifindex;
  polc_u32 tc_index;
  polc_u32 cb[5];
  polc_u32 hash;
  polc_u32 tc_classid;
  polc_u32 data;
  polc_u32 data_end;
};

static void* (*bpf_map_lookup_elem)(void* map, const void* key) = (void*)1;
static long (*bpf_map_update_elem)(void* map, const void* key, const void* value, polc_u64 flags) = (void*)2;
static long (*bpf_map_delete_elem)(void* map, const void* key) = (void*)3;
static polc_u64 (*bpf_ktime_get_ns)(void) = (void*)5;
/* CLOCK_MONOTONIC at the last tick: what conntrack lifetimes (seconds) need, without reading
 * the clock source on every packet. */
static polc_u64 (*bpf_ktime_get_coarse_ns)(void) = (void*)160;
static long (*bpf_tail_call)(void* ctx, void* prog_array, polc_u32 index) = (void*)12;
static long (*bpf_skb_pull_data)(struct __sk_buff* skb, polc_u32 len) = (void*)39;
static void* (*bpf_ringbuf_reserve)(void* ringbuf, polc_u64 size, polc_u64 flags) = (void*)131;
static void (*bpf_ringbuf_submit)(void* data, polc_u64 flags) = (void*)132;

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define polc_ntohs(x) __builtin_bswap16(x)
#else
#define polc_ntohs(x) (x)
#endif

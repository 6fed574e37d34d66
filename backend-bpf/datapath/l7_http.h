/* HTTP/1.x enforcement in the datapath (issue 8), included by polc_datapath.bpf.c when some rule
 * has HTTP (POLC_FEATURE_L7). Every request a client sends on an ALLOW_L7 connection is parsed
 * from the TCP payload and matched against the connection's l7 set with DFAs that polc compiled
 * from the rules' regexes (polc_l7_sets, polc_http_dfa; abi.h). No userspace hop, no unbounded
 * loop: the parser walks at most POLC_L7_MAX_HEADER bytes with bpf_loop.
 *
 * What it accepts (everything else is refused, fail closed; docs/datapath.md "L7"):
 *   - the request line and every header in one TCP segment starting at a request boundary:
 *     METHOD (A-Z only) SP origin-form target SP HTTP/1.1|HTTP/1.0 CRLF, header lines
 *     `token ":" OWS value CRLF` (no trailing whitespace, no obs-fold), the empty line;
 *   - a normalized target: starts with '/', no "//", no "." or ".." segment, no '\' or '#', no
 *     percent-encoded unreserved character, '/', '\' or '%' before the query;
 *   - a body framed by Content-Length (at most one, digits only); no Transfer-Encoding; at most
 *     one Host; no byte after the request's end in the segment (no pipelining).
 * The client's later segments are tracked by TCP sequence number (polc_ct_entry.l7_state): body
 * bytes pass, the next request must start exactly where the previous one ended, a retransmitted
 * request start is judged again, and data anywhere else is dropped.
 *
 * A refused request gets, like Cilium's proxy, "HTTP/1.1 403 Forbidden" with the body "Access
 * denied" (and FIN) sent back to the client, and a RST to the server; later data on the
 * connection is dropped. */

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the L7 parser assumes a little-endian BPF target"
#endif

#ifndef POLC_CAP_L7_SETS
#define POLC_CAP_L7_SETS 64
#endif
#ifndef POLC_CAP_HTTP_DFA
#define POLC_CAP_HTTP_DFA 256
#endif

/* Helpers used only here, under their own names so that they never clash with declarations in
 * polc_bpf.h. Ids from the kernel UAPI. */
static long (*polc_l7_skb_store_bytes)(struct __sk_buff* skb, polc_u32 offset, const void* from, polc_u32 len,
                                       polc_u64 flags) = (void*)9;
static long (*polc_l7_l4_csum_replace)(struct __sk_buff* skb, polc_u32 offset, polc_u64 from, polc_u64 to,
                                       polc_u64 flags) = (void*)11;
static long (*polc_l7_clone_redirect)(struct __sk_buff* skb, polc_u32 ifindex, polc_u64 flags) = (void*)13;
static long (*polc_l7_skb_load_bytes)(const struct __sk_buff* skb, polc_u32 offset, void* to, polc_u32 len) = (void*)26;
static long long (*polc_l7_csum_diff)(const void* from, polc_u32 from_size, const void* to, polc_u32 to_size,
                                      polc_u32 seed) = (void*)28;
static long (*polc_l7_skb_change_tail)(struct __sk_buff* skb, polc_u32 len, polc_u64 flags) = (void*)38;
static long (*polc_l7_loop)(polc_u32 nr_loops, long (*callback_fn)(polc_u64 index, void* ctx), void* callback_ctx,
                            polc_u64 flags) = (void*)181;
#define POLC_L7_F_RECOMPUTE_CSUM 1ull
#define POLC_L7_F_INGRESS 1ull

/* DFA states that accept nothing: no DFA for the field, or a state lookup that failed. */
#define POLC_L7_DEAD 0xfffffffeu

/* The TCP segment the L7 code works on (read with bpf_skb_load_bytes, independent of the
 * datapath's parse). Addresses and ports as in the packet (network byte order). */
struct polc_l7_tcp {
  polc_be32 saddr;
  polc_be32 daddr;
  polc_u32 seq; /* host byte order */
  polc_u32 ack;
  polc_u32 payload_off;
  polc_u32 payload_len;
  polc_u16 sport_be;
  polc_u16 dport_be;
  polc_u16 ihl;
  polc_u8 flags;
  polc_u8 pad;
};

/* The parser's state and its input, per CPU (tc programs run with preemption off, and the
 * bpf_loop callback finds it again by lookup). Internal to the datapath, not ABI. */
struct polc_l7_scratch {
  polc_u32 len;                   /* bytes of the segment in buf */
  polc_u32 end;                   /* header block length once its empty line was seen */
  polc_u32 state[POLC_L7_FIELDS]; /* current DFA state per field */
  polc_u32 start[POLC_L7_FIELDS]; /* start states (the header DFA restarts per line) */
  polc_u64 header_bits;           /* OR of the header DFA's accept bits over all lines */
  polc_u64 host_accept;           /* accept bits of the host DFA on the Host value */
  polc_u64 satisfied;             /* matches whose header requirements the request meets */
  polc_u32 set;                   /* the l7 set being matched */
  polc_u32 content_length;
  polc_u8 phase;    /* polc_l7_phase */
  polc_u8 reason;   /* POLC_L7_ALLOWED while well-formed, else the refusal */
  polc_u8 count;    /* method / target / name length so far (saturating) */
  polc_u8 cand;     /* name prefix still matching: 1 host, 2 content-length, 4 t-e */
  polc_u8 kind;     /* header of the current line: 0 other, 1 host, 2 content-length */
  polc_u8 seen;     /* 1 Host seen, 2 Content-Length seen */
  polc_u8 last;     /* previous byte */
  polc_u8 seg_len;  /* target: bytes of the current path segment (saturating) */
  polc_u8 seg_dots; /* target: '.' bytes of the current path segment */
  polc_u8 pct;      /* target: hex digits of a %XX escape still expected */
  polc_u8 pct_val;
  polc_u8 in_query;
  polc_u8 vpos;   /* position in "HTTP/1.x" */
  polc_u8 digits; /* Content-Length digits */
  polc_u8 pad[2];
  struct polc_l7_tcp tcp;                /* the segment being judged */
  polc_u8 hdr[40];                       /* its IPv4 and TCP headers as read; MAC addresses when responding */
  polc_u8 buf[POLC_L7_MAX_HEADER + 512]; /* the segment's head; the tail builds responses */
};

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, POLC_CAP_L7_SETS);
  __type(key, polc_u32);
  __type(value, struct polc_l7_set);
} polc_l7_sets SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, POLC_CAP_HTTP_DFA);
  __type(key, polc_u32);
  __type(value, struct polc_dfa_state);
} polc_http_dfa SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, POLC_L7_REASONS);
  __type(key, polc_u32);
  __type(value, struct polc_counter);
} polc_l7_stats SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, polc_u32);
  __type(value, struct polc_l7_scratch);
} polc_l7_scratch SEC(".maps");

enum polc_l7_phase {
  POLC_L7_PH_METHOD = 0,
  POLC_L7_PH_TARGET = 1,
  POLC_L7_PH_VERSION = 2,
  POLC_L7_PH_LINE_LF = 3, /* CR seen at the end of a line */
  POLC_L7_PH_LINE = 4,    /* start of a header line (or of the empty line) */
  POLC_L7_PH_NAME = 5,
  POLC_L7_PH_OWS = 6,
  POLC_L7_PH_VALUE = 7,
  POLC_L7_PH_END_LF = 8, /* CR of the empty line seen */
  POLC_L7_PH_DONE = 9
};

/* Byte `i` of a string of up to 24 bytes packed little-endian into three words (no .rodata:
 * the object has no data sections). */
static __polc_inline polc_u8 polc_l7_char_at(polc_u64 w0, polc_u64 w1, polc_u64 w2, polc_u32 i) {
  polc_u64 w = i < 8 ? w0 : i < 16 ? w1 : w2;
  return (polc_u8)(w >> ((i & 7) * 8));
}

/* RFC 9110 tchar. */
static __polc_inline int polc_l7_tchar(polc_u8 c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return 1;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~': return 1;
    default: return 0;
  }
}

static __polc_inline int polc_l7_hex(polc_u8 c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Characters whose percent-encoding a server may decode into path structure or into the byte
 * itself (RFC 3986 unreserved, '/', '\', '%'): such escapes are refused before the query. */
static __polc_inline int polc_l7_escape_refused(polc_u8 v) {
  return (v >= 'a' && v <= 'z') || (v >= 'A' && v <= 'Z') || (v >= '0' && v <= '9') || v == '-' || v == '.' ||
         v == '_' || v == '~' || v == '/' || v == '\\' || v == '%';
}

static __polc_inline void polc_l7_feed(struct polc_l7_scratch* s, polc_u32 field, polc_u8 c) {
  polc_u32 st = s->state[field & 3];
  if (st >= POLC_L7_DEAD) return;
  const struct polc_dfa_state* d = bpf_map_lookup_elem(&polc_http_dfa, &st);
  s->state[field & 3] = d ? d->next[c] : POLC_L7_DEAD;
}

static __polc_inline polc_u64 polc_l7_accept(polc_u32 st) {
  if (st >= POLC_L7_DEAD) return 0;
  const struct polc_dfa_state* d = bpf_map_lookup_elem(&polc_http_dfa, &st);
  return d ? d->accept : 0;
}

/* The end of a path segment (at '/', '?' or the end of the target): "." and ".." are refused. */
static __polc_inline int polc_l7_dot_segment(const struct polc_l7_scratch* s) {
  return s->seg_len == s->seg_dots && (s->seg_dots == 1 || s->seg_dots == 2);
}

static __polc_inline long polc_l7_fail(struct polc_l7_scratch* s, polc_u8 reason) {
  s->reason = reason;
  return 1;
}

/* One byte of the request head (the bpf_loop callback): returns 1 to stop (done or refused). */
static long polc_l7_step(polc_u64 index, void* ctx) {
  polc_u32 zero = 0;
  struct polc_l7_scratch* s = bpf_map_lookup_elem(&polc_l7_scratch, &zero);
  if (!s) return 1;
  if (index >= s->len) return 1;
  polc_u8 c = s->buf[index & (POLC_L7_MAX_HEADER - 1)];
  polc_u8 last = s->last;
  s->last = c;
  switch (s->phase) {
    case POLC_L7_PH_METHOD:
      if (c >= 'A' && c <= 'Z') {
        polc_l7_feed(s, POLC_L7_METHOD, c);
        if (++s->count > 32) return polc_l7_fail(s, POLC_L7_BAD_METHOD);
        return 0;
      }
      if (c == ' ' && s->count > 0) {
        s->phase = POLC_L7_PH_TARGET;
        s->count = 0;
        return 0;
      }
      return polc_l7_fail(s, POLC_L7_BAD_METHOD);

    case POLC_L7_PH_TARGET:
      if (c == ' ') {
        if (s->count == 0 || s->pct || (!s->in_query && polc_l7_dot_segment(s)))
          return polc_l7_fail(s, POLC_L7_BAD_PATH);
        s->phase = POLC_L7_PH_VERSION;
        return 0;
      }
      if (c <= 0x20 || c >= 0x7f || c == '#' || c == '\\') return polc_l7_fail(s, POLC_L7_BAD_PATH);
      if (s->count == 0 && c != '/') return polc_l7_fail(s, POLC_L7_BAD_PATH); /* origin-form only */
      if (s->count < 255) s->count++;
      polc_l7_feed(s, POLC_L7_PATH, c);
      if (s->in_query) return 0;
      if (s->pct) {
        int h = polc_l7_hex(c);
        if (h < 0) return polc_l7_fail(s, POLC_L7_BAD_PATH);
        s->pct_val = (polc_u8)(s->pct_val * 16 + h);
        if (--s->pct == 0) {
          if (polc_l7_escape_refused(s->pct_val)) return polc_l7_fail(s, POLC_L7_BAD_PATH);
          if (s->seg_len < 255) s->seg_len++;
        }
        return 0;
      }
      if (c == '/') {
        if ((last == '/' && s->count > 1) || polc_l7_dot_segment(s)) return polc_l7_fail(s, POLC_L7_BAD_PATH);
        s->seg_len = 0;
        s->seg_dots = 0;
      } else if (c == '?') {
        if (polc_l7_dot_segment(s)) return polc_l7_fail(s, POLC_L7_BAD_PATH);
        s->in_query = 1;
      } else if (c == '%') {
        s->pct = 2;
        s->pct_val = 0;
      } else {
        if (s->seg_len < 255) s->seg_len++;
        if (c == '.' && s->seg_dots < 255) s->seg_dots++;
      }
      return 0;

    case POLC_L7_PH_VERSION:
      /* "HTTP/1." then '0' or '1', then CR */
      if (s->vpos < 7) {
        if (c != polc_l7_char_at(0x2e312f50545448ull, 0, 0, s->vpos)) return polc_l7_fail(s, POLC_L7_MALFORMED);
      } else if (s->vpos == 7) {
        if (c != '0' && c != '1') return polc_l7_fail(s, POLC_L7_MALFORMED);
      } else {
        if (c != '\r') return polc_l7_fail(s, POLC_L7_MALFORMED);
        s->phase = POLC_L7_PH_LINE_LF;
      }
      s->vpos++;
      return 0;

    case POLC_L7_PH_LINE_LF:
      if (c != '\n') return polc_l7_fail(s, POLC_L7_MALFORMED);
      s->phase = POLC_L7_PH_LINE;
      return 0;

    case POLC_L7_PH_END_LF:
      if (c != '\n') return polc_l7_fail(s, POLC_L7_MALFORMED);
      s->phase = POLC_L7_PH_DONE;
      s->end = (polc_u32)index + 1;
      return 1;

    case POLC_L7_PH_LINE:
      if (c == '\r') {
        s->phase = POLC_L7_PH_END_LF;
        return 0;
      }
      /* a new header line: obs-fold (leading whitespace) is refused by the name check */
      s->phase = POLC_L7_PH_NAME;
      s->state[POLC_L7_HEADER] = s->start[POLC_L7_HEADER];
      s->count = 0;
      s->cand = 7;
      s->kind = 0;
      /* fall through */
    case POLC_L7_PH_NAME: {
      if (c == ':') {
        if (s->count == 0) return polc_l7_fail(s, POLC_L7_MALFORMED);
        if ((s->cand & 4) && s->count == 17) return polc_l7_fail(s, POLC_L7_UNTRACKED_BODY); /* transfer-encoding */
        if ((s->cand & 1) && s->count == 4) {
          if (s->seen & 1) return polc_l7_fail(s, POLC_L7_UNTRACKED_BODY);
          s->seen |= 1;
          s->kind = 1;
          s->state[POLC_L7_HOST] = s->start[POLC_L7_HOST];
        } else if ((s->cand & 2) && s->count == 14) {
          if (s->seen & 2) return polc_l7_fail(s, POLC_L7_UNTRACKED_BODY);
          s->seen |= 2;
          s->kind = 2;
          s->content_length = 0;
          s->digits = 0;
        }
        polc_l7_feed(s, POLC_L7_HEADER, ':');
        s->phase = POLC_L7_PH_OWS;
        return 0;
      }
      if (!polc_l7_tchar(c)) return polc_l7_fail(s, POLC_L7_MALFORMED);
      polc_u8 lc = c >= 'A' && c <= 'Z' ? c + 32 : c;
      polc_u32 k = s->count;
      if (k >= 4 || lc != polc_l7_char_at(0x74736f68ull, 0, 0, k)) s->cand &= ~1;
      if (k >= 14 || lc != polc_l7_char_at(0x2d746e65746e6f63ull, 0x6874676e656cull, 0, k)) s->cand &= ~2;
      if (k >= 17 || lc != polc_l7_char_at(0x726566736e617274ull, 0x6e69646f636e652dull, 0x67ull, k)) s->cand &= ~4;
      if (s->count < 255) s->count++;
      polc_l7_feed(s, POLC_L7_HEADER, lc);
      return 0;
    }

    case POLC_L7_PH_OWS:
      if (c == ' ' || c == '\t') return 0;
      s->phase = POLC_L7_PH_VALUE;
      /* fall through */
    case POLC_L7_PH_VALUE:
      if (c == '\r') {
        if (last == ' ' || last == '\t') return polc_l7_fail(s, POLC_L7_MALFORMED); /* trailing whitespace */
        /* Host is the host field, not a header (as in ir::HttpRequest) */
        if (s->kind == 1)
          s->host_accept = polc_l7_accept(s->state[POLC_L7_HOST]);
        else
          s->header_bits |= polc_l7_accept(s->state[POLC_L7_HEADER]);
        if (s->kind == 2 && s->digits == 0) return polc_l7_fail(s, POLC_L7_UNTRACKED_BODY);
        s->phase = POLC_L7_PH_LINE_LF;
        return 0;
      }
      if (c != '\t' && (c < 0x20 || c >= 0x7f)) return polc_l7_fail(s, POLC_L7_MALFORMED);
      polc_l7_feed(s, POLC_L7_HEADER, c);
      if (s->kind == 1) polc_l7_feed(s, POLC_L7_HOST, c);
      if (s->kind == 2) {
        if (c < '0' || c > '9' || s->digits >= 7) return polc_l7_fail(s, POLC_L7_UNTRACKED_BODY);
        s->content_length = s->content_length * 10 + (c - '0');
        s->digits++;
      }
      return 0;

    default: return polc_l7_fail(s, POLC_L7_MALFORMED);
  }
}

/* Match `index` of the set: are its header requirements among the request's header bits? (the
 * bpf_loop callback of the header check) */
static long polc_l7_header_step(polc_u64 index, void* ctx) {
  polc_u32 zero = 0;
  struct polc_l7_scratch* s = bpf_map_lookup_elem(&polc_l7_scratch, &zero);
  if (!s) return 1;
  polc_u32 set = s->set;
  const struct polc_l7_set* ls = bpf_map_lookup_elem(&polc_l7_sets, &set);
  if (!ls) return 1;
  polc_u64 need = ls->header_req[index & (POLC_L7_MAX_MATCHES - 1)];
  if ((need & s->header_bits) == need) s->satisfied |= 1ull << (index & (POLC_L7_MAX_MATCHES - 1));
  return 0;
}

static __polc_inline polc_u32 polc_l7_ntohl(polc_u32 x) {
  return __builtin_bswap32(x);
}

/* Returns 0 and fills *t, or -1 for a header that does not read back. */
static __polc_inline int polc_l7_read_tcp(struct __sk_buff* skb, struct polc_l7_scratch* s) {
  struct polc_l7_tcp* t = &s->tcp;
  polc_u8* ip = s->hdr;
  polc_u8* tcp = s->hdr + 20;
  if (polc_l7_skb_load_bytes(skb, POLC_ETH_HLEN, ip, 20) != 0) return -1;
  polc_u32 ihl = (polc_u32)(ip[0] & 0x0f) * 4;
  if (ihl < 20) return -1;
  if (polc_l7_skb_load_bytes(skb, POLC_ETH_HLEN + ihl, tcp, 20) != 0) return -1;
  polc_u32 doff = (polc_u32)(tcp[12] >> 4) * 4;
  if (doff < 20) return -1;
  polc_u32 frame = skb->len;
  polc_u32 ip_len = polc_ntohs(*(polc_u16*)(ip + 2));
  if (ip_len == 0 || ip_len > frame - POLC_ETH_HLEN) ip_len = frame - POLC_ETH_HLEN; /* GSO, padding */
  if (ip_len < ihl + doff) return -1;
  t->saddr = *(polc_be32*)(ip + 12);
  t->daddr = *(polc_be32*)(ip + 16);
  t->sport_be = *(polc_u16*)tcp;
  t->dport_be = *(polc_u16*)(tcp + 2);
  t->seq = polc_l7_ntohl(*(polc_u32*)(tcp + 4));
  t->ack = polc_l7_ntohl(*(polc_u32*)(tcp + 8));
  t->flags = tcp[13];
  t->ihl = (polc_u16)ihl;
  t->payload_off = POLC_ETH_HLEN + ihl + doff;
  t->payload_len = ip_len - ihl - doff;
  return 0;
}

static __polc_inline void polc_l7_count(polc_u32 reason, polc_u32 bytes) {
  struct polc_counter* c = bpf_map_lookup_elem(&polc_l7_stats, &reason);
  if (c) {
    c->packets += 1;
    c->bytes += bytes;
  }
}

/* Parses the request head at the start of the segment and matches it against l7 set `set`.
 * Returns a polc_l7_reason; on POLC_L7_ALLOWED sets *hlen (header block) and *body
 * (Content-Length). */
static __polc_inline int polc_l7_judge_request(struct __sk_buff* skb, struct polc_l7_scratch* s, polc_u32 set,
                                               polc_u32* hlen, polc_u32* body) {
  const struct polc_l7_tcp* t = &s->tcp;
  const struct polc_l7_set* ls = bpf_map_lookup_elem(&polc_l7_sets, &set);
  if (!ls) return POLC_L7_DENIED;
  polc_u32 n = t->payload_len;
  if (n > POLC_L7_MAX_HEADER) n = POLC_L7_MAX_HEADER;
  if (n < 4) return POLC_L7_INCOMPLETE;
  if (polc_l7_skb_load_bytes(skb, t->payload_off, s->buf, n) != 0) return POLC_L7_MALFORMED;
  if (*(polc_u32*)s->buf == 0x20495250u) return POLC_L7_HTTP2; /* "PRI " of "PRI * HTTP/2.0" */

  s->len = n;
  s->end = 0;
#pragma unroll
  for (int f = 0; f < POLC_L7_FIELDS; f++) {
    polc_u32 st = ls->dfa[f] == POLC_NONE ? POLC_L7_DEAD : ls->dfa[f];
    s->start[f] = st;
    s->state[f] = st;
  }
  s->header_bits = 0;
  s->host_accept = 0;
  s->content_length = 0;
  s->phase = POLC_L7_PH_METHOD;
  s->reason = POLC_L7_ALLOWED;
  s->count = 0;
  s->cand = 0;
  s->kind = 0;
  s->seen = 0;
  s->last = 0;
  s->seg_len = 0;
  s->seg_dots = 0;
  s->pct = 0;
  s->pct_val = 0;
  s->in_query = 0;
  s->vpos = 0;
  s->digits = 0;
  polc_l7_loop(n, polc_l7_step, 0, 0);
  if (s->reason != POLC_L7_ALLOWED) return s->reason;
  if (s->phase != POLC_L7_PH_DONE) return POLC_L7_INCOMPLETE;

  polc_u64 host = (s->seen & 1) ? s->host_accept : polc_l7_accept(s->start[POLC_L7_HOST]);
  polc_u64 ok = ls->all & (ls->free[POLC_L7_METHOD] | polc_l7_accept(s->state[POLC_L7_METHOD])) &
                (ls->free[POLC_L7_PATH] | polc_l7_accept(s->state[POLC_L7_PATH])) & (ls->free[POLC_L7_HOST] | host);
  if (ok && ls->dfa[POLC_L7_HEADER] != POLC_NONE) {
    s->set = set;
    s->satisfied = 0;
    polc_l7_loop(POLC_L7_MAX_MATCHES, polc_l7_header_step, 0, 0);
    ok &= s->satisfied;
  }
  if (!ok) return POLC_L7_DENIED;
  *hlen = s->end;
  *body = s->content_length;
  return POLC_L7_ALLOWED;
}

static __polc_inline polc_u16 polc_l7_fold(polc_u64 sum) {
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return (polc_u16)sum;
}

/* Writes an IPv4 header (20 bytes) + TCP header (20 bytes) + `payload` bytes already at
 * b + 40 into the packet at POLC_ETH_HLEN, with checksums. `partial`: the skb's checksum is
 * CHECKSUM_PARTIAL (the TCP field then holds the pseudo-header sum, completed later). */
static __polc_inline int polc_l7_write(struct __sk_buff* skb, polc_u8* b, polc_be32 saddr, polc_be32 daddr,
                                       polc_u16 sport_be, polc_u16 dport_be, polc_u32 seq, polc_u32 ack, polc_u8 flags,
                                       polc_u32 payload, int partial) {
  polc_u32 tcp_len = 20 + payload;
  polc_u32 tot = 20 + tcp_len;
  b[0] = 0x45;
  b[1] = 0;
  *(polc_u16*)(b + 2) = polc_ntohs((polc_u16)tot);
  *(polc_u16*)(b + 4) = 0;
  *(polc_u16*)(b + 6) = polc_ntohs(0x4000); /* DF */
  b[8] = 64;
  b[9] = POLC_IPPROTO_TCP;
  *(polc_u16*)(b + 10) = 0;
  *(polc_be32*)(b + 12) = saddr;
  *(polc_be32*)(b + 16) = daddr;
  long long ipsum = polc_l7_csum_diff(0, 0, b, 20, 0);
  if (ipsum < 0) return -1;
  *(polc_u16*)(b + 10) = (polc_u16)~polc_l7_fold((polc_u64)ipsum);

  polc_u8* th = b + 20;
  *(polc_u16*)th = sport_be;
  *(polc_u16*)(th + 2) = dport_be;
  *(polc_u32*)(th + 4) = polc_l7_ntohl(seq);
  *(polc_u32*)(th + 8) = polc_l7_ntohl(ack);
  th[12] = 5 << 4;
  th[13] = flags;
  *(polc_u16*)(th + 14) = polc_ntohs(flags & POLC_TCP_RST ? 0 : 502);
  *(polc_u16*)(th + 16) = 0;
  *(polc_u16*)(th + 18) = 0;
  /* the pseudo header, beyond the packet bytes */
  polc_u8* ph = b + 200;
  *(polc_be32*)ph = saddr;
  *(polc_be32*)(ph + 4) = daddr;
  ph[8] = 0;
  ph[9] = POLC_IPPROTO_TCP;
  *(polc_u16*)(ph + 10) = polc_ntohs((polc_u16)tcp_len);
  long long psum = polc_l7_csum_diff(0, 0, ph, 12, 0);
  if (psum < 0) return -1;
  if (partial) {
    *(polc_u16*)(th + 16) = polc_l7_fold((polc_u64)psum);
  } else {
    long long sum = polc_l7_csum_diff(0, 0, th, tcp_len & 0xfc, (polc_u32)psum);
    if (sum < 0) return -1;
    *(polc_u16*)(th + 16) = (polc_u16)~polc_l7_fold((polc_u64)sum);
  }
  return (int)polc_l7_skb_store_bytes(skb, POLC_ETH_HLEN, b, tot & 0xff, POLC_L7_F_RECOMPUTE_CSUM);
}

/* Whether the skb's checksum is CHECKSUM_PARTIAL: bpf_l4_csum_replace changes the TCP checksum
 * field for every other state and leaves it alone for PARTIAL (without BPF_F_PSEUDO_HDR). The
 * probe is undone. */
static __polc_inline int polc_l7_csum_partial(struct __sk_buff* skb, polc_u32 check_off) {
  polc_u16 before = 0, after = 0;
  if (polc_l7_skb_load_bytes(skb, check_off, &before, 2) != 0) return 0;
  if (polc_l7_l4_csum_replace(skb, check_off, 0, polc_ntohs(1), 2) != 0) return 0;
  if (polc_l7_skb_load_bytes(skb, check_off, &after, 2) != 0) return 0;
  if (after == before) return 1;
  polc_l7_l4_csum_replace(skb, check_off, polc_ntohs(1), 0, 2);
  return 0;
}

/* Refuses the request in the packet: a RST to the server (on the request's way) and an
 * HTTP 403 with FIN to the client, as clones; the packet itself (left holding the 403) is then
 * dropped by the caller. Only for plain 20-byte IPv4 headers (others are just dropped). A global
 * function: verified once. */
__polc_noinline int polc_l7_respond(struct __sk_buff* skb, polc_u32 dir) {
  if (!skb) return -1;
  polc_u32 zero = 0;
  struct polc_l7_scratch* s = bpf_map_lookup_elem(&polc_l7_scratch, &zero);
  if (!s) return -1;
  /* A copy: the RST clone below runs the to-pod program again, nested, on this CPU. */
  const struct polc_l7_tcp req = s->tcp;
  const struct polc_l7_tcp* t = &req;
  if (t->ihl != 20) return -1;
  polc_u32 ifindex = skb->ifindex;
  /* to-pod runs at tc egress of the host-side veth: the server is ahead (egress), the client
   * behind (ingress of the same device); from-pod is the other way round. */
  polc_u64 to_server = dir == POLC_DIR_INGRESS ? 0 : POLC_L7_F_INGRESS;
  polc_u64 to_client = dir == POLC_DIR_INGRESS ? POLC_L7_F_INGRESS : 0;
  int partial = polc_l7_csum_partial(skb, POLC_ETH_HLEN + 20 + 16);
  polc_u32 fin = (t->flags & POLC_TCP_FIN) ? 1 : 0;
  polc_u8* b = s->buf + POLC_L7_MAX_HEADER;

  if (polc_l7_skb_change_tail(skb, POLC_ETH_HLEN + 40, 0) != 0) return -1;
  if (polc_l7_write(skb, b, t->saddr, t->daddr, t->sport_be, t->dport_be, t->seq, t->ack, POLC_TCP_RST | POLC_TCP_ACK,
                    0, partial) != 0)
    return -1;
  polc_l7_clone_redirect(skb, ifindex, to_server);

  polc_u8* mac = s->hdr;
  polc_u8* swapped = s->hdr + 12;
  if (polc_l7_skb_load_bytes(skb, 0, mac, 12) != 0) return -1;
#pragma unroll
  for (int i = 0; i < 6; i++) {
    swapped[i] = mac[6 + i];
    swapped[6 + i] = mac[i];
  }
  if (polc_l7_skb_change_tail(skb, POLC_ETH_HLEN + 40 + 120, 0) != 0) return -1;
  if (polc_l7_skb_store_bytes(skb, 0, swapped, 12, 0) != 0) return -1;
  polc_u64* r = (polc_u64*)(b + 40);
  r[0] = 0x312e312f50545448ull;  /* "HTTP/1.1" */
  r[1] = 0x726f462033303420ull;  /* " 403 For" */
  r[2] = 0x0a0d6e6564646962ull;  /* "bidden\r\n" */
  r[3] = 0x2d746e65746e6f63ull;  /* "content-" */
  r[4] = 0x203a6874676e656cull;  /* "length: " */
  r[5] = 0x746e6f630a0d3531ull;  /* "15\r\ncont" */
  r[6] = 0x657079742d746e65ull;  /* "ent-type" */
  r[7] = 0x702f74786574203aull;  /* ": text/p" */
  r[8] = 0x65730a0d6e69616cull;  /* "lain\r\nse" */
  r[9] = 0x6f70203a72657672ull;  /* "rver: po" */
  r[10] = 0x6e6e6f630a0d636cull; /* "lc\r\nconn" */
  r[11] = 0x203a6e6f69746365ull; /* "ection: " */
  r[12] = 0x0d0a0d65736f6c63ull; /* "close\r\n\r" */
  r[13] = 0x207373656363410aull; /* "\nAccess " */
  r[14] = 0x0a0d6465696e6564ull; /* "denied\r\n" */
  if (polc_l7_write(skb, b, t->daddr, t->saddr, t->dport_be, t->sport_be, t->ack, t->seq + t->payload_len + fin,
                    POLC_TCP_FIN | POLC_TCP_ACK | 0x08 /* PSH */, 120, partial) != 0)
    return -1;
  polc_l7_clone_redirect(skb, ifindex, to_client);
  polc_l7_count(POLC_L7_RESPONSES, 0);
  return 0;
}

/* Sequence number comparison (RFC 1982). */
static __polc_inline int polc_l7_seq_diff(polc_u32 a, polc_u32 b) {
  return (int)(a - b);
}

/* The L7 check of a client packet on an ALLOW_L7 connection (ct: its conntrack entry, whose
 * l7_state it advances). Returns 0 to pass the packet, 1 to drop it (a refused request has then
 * been answered with 403 + RST). A global function: verified once. */
__polc_noinline int polc_l7_enforce(struct __sk_buff* skb, struct polc_ct_entry* ct, polc_u32 dir) {
  if (!skb || !ct) return 1;
  polc_u32 zero = 0;
  struct polc_l7_scratch* s = bpf_map_lookup_elem(&polc_l7_scratch, &zero);
  if (!s) return 1;
  if (polc_l7_read_tcp(skb, s) != 0) {
    polc_l7_count(POLC_L7_MALFORMED, 0);
    return 1;
  }
  struct polc_l7_tcp t = s->tcp;
  polc_u64 st = ct->l7_state;
  polc_u32 boundary = (polc_u32)st;
  polc_u32 span = (polc_u32)(st >> 32) & POLC_L7_MAX_SPAN;
  polc_u32 hlen = (polc_u32)(st >> 52);
  polc_u32 seq = t.seq + ((t.flags & POLC_TCP_SYN) ? 1 : 0);
  if (st == 0 && (t.flags & POLC_TCP_SYN)) {
    /* the connection's first byte is its first request */
    boundary = seq;
    ct->l7_state = seq;
  }
  if (t.payload_len == 0) return 0;
  if (hlen == POLC_L7_DENIED_HLEN) {
    polc_l7_count(POLC_L7_AFTER_DENY, t.payload_len);
    return 1;
  }
  if (st == 0 && !(t.flags & POLC_TCP_SYN)) {
    boundary = seq;
    span = 0;
    hlen = 0;
  }
  polc_u32 start = boundary - span;
  int again = 0;
  if (seq == boundary) {
    /* the next request */
  } else if (span != 0 && seq == start) {
    again = 1; /* the current request's first segment, retransmitted: judged again */
  } else {
    int from_start = polc_l7_seq_diff(seq, start);
    int past_end = polc_l7_seq_diff(seq + t.payload_len, boundary);
    if (span != 0 && from_start >= (int)hlen && past_end <= 0) return 0; /* body */
    int reason = POLC_L7_OUT_OF_WINDOW;
    if (span != 0 && from_start >= (int)hlen && polc_l7_seq_diff(seq, boundary) < 0)
      reason = POLC_L7_PIPELINED; /* the body runs into more bytes */
    if (reason == POLC_L7_OUT_OF_WINDOW) {
      polc_l7_count(reason, t.payload_len);
      return 1; /* dropped; TCP sends it again */
    }
    polc_l7_count(reason, t.payload_len);
    ct->l7_state = (st & 0xffffffffull) | ((polc_u64)POLC_L7_DENIED_HLEN << 52);
    polc_l7_respond(skb, dir);
    return 1;
  }

  polc_u32 head = 0, body = 0;
  int reason = polc_l7_judge_request(skb, s, ct->l7_set, &head, &body);
  polc_u32 total = head + body;
  if (reason == POLC_L7_ALLOWED) {
    if (total > POLC_L7_MAX_SPAN)
      reason = POLC_L7_UNTRACKED_BODY;
    else if (t.payload_len > total)
      reason = POLC_L7_PIPELINED;
    else if (again && (head != hlen || total != span))
      reason = POLC_L7_PIPELINED; /* a retransmission that frames the request differently */
  }
  if (reason == POLC_L7_ALLOWED) {
    ct->l7_state = (polc_u64)(seq + total) | ((polc_u64)total << 32) | ((polc_u64)head << 52);
    polc_l7_count(POLC_L7_ALLOWED, t.payload_len);
    return 0;
  }
  polc_l7_count(reason, t.payload_len);
  ct->l7_state = (polc_u64)boundary | ((polc_u64)POLC_L7_DENIED_HLEN << 52);
  polc_l7_respond(skb, dir);
  return 1;
}

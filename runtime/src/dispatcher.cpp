#include "dispatcher.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include <cerrno>
#include <cstddef>
#include <vector>

#include "libbpf_log.h"
#include "polc/backend_bpf/abi.h"

namespace polc::runtime::dispatch {

namespace {

// The handful of instruction forms the dispatchers need (the kernel's filter.h macros are not
// part of the UAPI headers).
bpf_insn make(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}
bpf_insn mov64_reg(uint8_t dst, uint8_t src) {
  return make(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0);
}
bpf_insn mov32_reg(uint8_t dst, uint8_t src) {
  return make(BPF_ALU | BPF_MOV | BPF_X, dst, src, 0, 0);
}
bpf_insn mov64_imm(uint8_t dst, int32_t imm) {
  return make(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm);
}
bpf_insn alu32_imm(uint8_t op, uint8_t dst, int32_t imm) {
  return make(BPF_ALU | op | BPF_K, dst, 0, 0, imm);
}
bpf_insn alu64_imm(uint8_t op, uint8_t dst, int32_t imm) {
  return make(BPF_ALU64 | op | BPF_K, dst, 0, 0, imm);
}
bpf_insn alu32_reg(uint8_t op, uint8_t dst, uint8_t src) {
  return make(BPF_ALU | op | BPF_X, dst, src, 0, 0);
}
bpf_insn ldx_w(uint8_t dst, uint8_t src, int16_t off) {
  return make(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0);
}
bpf_insn stx_w(uint8_t dst, uint8_t src, int16_t off) {
  return make(BPF_STX | BPF_MEM | BPF_W, dst, src, off, 0);
}
bpf_insn st_w(uint8_t dst, int16_t off, int32_t imm) {
  return make(BPF_ST | BPF_MEM | BPF_W, dst, 0, off, imm);
}
bpf_insn jeq_imm(uint8_t dst, int32_t imm, int16_t off) {
  return make(BPF_JMP | BPF_JEQ | BPF_K, dst, 0, off, imm);
}
bpf_insn jne32_imm(uint8_t dst, int32_t imm, int16_t off) {
  return make(BPF_JMP32 | BPF_JNE | BPF_K, dst, 0, off, imm);
}
bpf_insn ja(int16_t off) {
  return make(BPF_JMP | BPF_JA, 0, 0, off, 0);
}
bpf_insn call(int32_t helper) {
  return make(BPF_JMP | BPF_CALL, 0, 0, 0, helper);
}
bpf_insn exit_insn() {
  return make(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}
void ld_map_fd(std::vector<bpf_insn>& p, uint8_t dst, int fd) {
  p.push_back(make(BPF_LD | BPF_DW | BPF_IMM, dst, BPF_PSEUDO_MAP_FD, 0, fd));
  p.push_back(make(0, 0, 0, 0, 0));
}

constexpr int16_t kMarkOff = static_cast<int16_t>(offsetof(__sk_buff, mark));

/// Appends: r7 = generation word (drop when the map has no entry, which cannot happen).
/// Jumps are patched by the caller through the returned index of the "if r0 == 0" insn.
size_t emit_read_generation(std::vector<bpf_insn>& p, int gen_map_fd) {
  p.push_back(st_w(BPF_REG_10, -4, 0));
  p.push_back(mov64_reg(BPF_REG_2, BPF_REG_10));
  p.push_back(alu64_imm(BPF_ADD, BPF_REG_2, -4));
  ld_map_fd(p, BPF_REG_1, gen_map_fd);
  p.push_back(call(BPF_FUNC_map_lookup_elem));
  size_t null_check = p.size();
  p.push_back(jeq_imm(BPF_REG_0, 0, 0));  // -> drop, patched
  p.push_back(ldx_w(BPF_REG_7, BPF_REG_0, 0));
  return null_check;
}

/// Appends the tail call to slot(r7, to_pod) and the fail-closed drop after it.
void emit_tail_call(std::vector<bpf_insn>& p, int prog_array_fd, bool to_pod, std::vector<size_t>& to_drop) {
  p.push_back(mov64_reg(BPF_REG_3, BPF_REG_7));
  p.push_back(alu64_imm(BPF_LSH, BPF_REG_3, 1));
  if (to_pod) p.push_back(alu64_imm(BPF_ADD, BPF_REG_3, 1));
  p.push_back(mov64_reg(BPF_REG_1, BPF_REG_6));
  ld_map_fd(p, BPF_REG_2, prog_array_fd);
  p.push_back(call(BPF_FUNC_tail_call));
  // Reached only when the slot is empty: no program for this generation means drop.
  size_t drop = p.size();
  p.push_back(mov64_imm(BPF_REG_0, TC_ACT_SHOT));
  p.push_back(exit_insn());
  for (size_t j : to_drop) p[j].off = static_cast<int16_t>(drop - j - 1);
}

}  // namespace

Result<Fd> load(bool to_pod, int gen_map_fd, int prog_array_fd) {
  std::vector<bpf_insn> p;
  std::vector<size_t> to_drop;
  p.push_back(mov64_reg(BPF_REG_6, BPF_REG_1));
  if (!to_pod) {
    // r7 = generation word; mark = (mark & 0x00ffffff) | magic << 28 | (r7 & 15) << 24; r7 &= 3
    to_drop.push_back(emit_read_generation(p, gen_map_fd));
    p.push_back(ldx_w(BPF_REG_8, BPF_REG_6, kMarkOff));
    p.push_back(alu32_imm(BPF_AND, BPF_REG_8, 0x00ffffff));
    p.push_back(mov32_reg(BPF_REG_9, BPF_REG_7));
    p.push_back(alu32_imm(BPF_AND, BPF_REG_9, static_cast<int32_t>(POLC_GEN_STAMP_MASK)));
    p.push_back(alu32_imm(BPF_LSH, BPF_REG_9, 24));
    p.push_back(alu32_reg(BPF_OR, BPF_REG_8, BPF_REG_9));
    p.push_back(alu32_imm(BPF_OR, BPF_REG_8, static_cast<int32_t>(kMarkMagic << 28)));
    p.push_back(stx_w(BPF_REG_6, BPF_REG_8, kMarkOff));
    p.push_back(alu32_imm(BPF_AND, BPF_REG_7, static_cast<int32_t>(POLC_GEN_SLOT_MASK)));
  } else {
    // A stamp from this node's from-pod hook decides; otherwise the current generation. The
    // stamp stays: the compiled program checks it again and clears it (abi.h, "Generations").
    p.push_back(ldx_w(BPF_REG_8, BPF_REG_6, kMarkOff));
    p.push_back(mov32_reg(BPF_REG_9, BPF_REG_8));
    p.push_back(alu32_imm(BPF_RSH, BPF_REG_9, 28));
    size_t no_stamp = p.size();
    p.push_back(jne32_imm(BPF_REG_9, static_cast<int32_t>(kMarkMagic), 0));  // -> read generation
    p.push_back(mov32_reg(BPF_REG_7, BPF_REG_8));
    p.push_back(alu32_imm(BPF_RSH, BPF_REG_7, 24));
    size_t skip = p.size();
    p.push_back(ja(0));  // -> slot mask, tail call
    p[no_stamp].off = static_cast<int16_t>(p.size() - no_stamp - 1);
    to_drop.push_back(emit_read_generation(p, gen_map_fd));
    p[skip].off = static_cast<int16_t>(p.size() - skip - 1);
    p.push_back(alu32_imm(BPF_AND, BPF_REG_7, static_cast<int32_t>(POLC_GEN_SLOT_MASK)));
  }
  emit_tail_call(p, prog_array_fd, to_pod, to_drop);

  const char* name = to_pod ? kToPodName : kFromPodName;
  std::vector<char> log(1 << 16);
  bpf_prog_load_opts opts{};
  opts.sz = sizeof opts;
  opts.log_buf = log.data();
  opts.log_size = static_cast<uint32_t>(log.size());
  opts.log_level = 1;
  libbpf_log_begin();
  int fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, name, "GPL", p.data(), p.size(), &opts);
  if (fd < 0) {
    int err = -fd;
    return sys_error(std::string("loading the dispatcher ") + name + " (verifier: " + log.data() + ")", err);
  }
  return Fd(fd);
}

}  // namespace polc::runtime::dispatch

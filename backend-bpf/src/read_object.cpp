#include "polc/backend_bpf/read_object.h"

#include <llvm/Object/ELFObjectFile.h>
#include <llvm/Object/ObjectFile.h>
#include <llvm/Support/MemoryBuffer.h>

#include <algorithm>
#include <cstring>

namespace polc::backend_bpf {

namespace {

// BTF, as documented in the kernel's Documentation/bpf/btf.rst.
constexpr uint16_t kBtfMagic = 0xeB9F;
enum BtfKind : uint32_t {
  kInt = 1,
  kPtr = 2,
  kArray = 3,
  kStruct = 4,
  kUnion = 5,
  kEnum = 6,
  kFwd = 7,
  kTypedef = 8,
  kVolatile = 9,
  kConst = 10,
  kRestrict = 11,
  kFunc = 12,
  kFuncProto = 13,
  kVar = 14,
  kDatasec = 15,
  kFloat = 16,
  kDeclTag = 17,
  kTypeTag = 18,
  kEnum64 = 19,
};

struct BtfType {
  uint32_t kind = 0;
  uint32_t vlen = 0;
  bool kflag = false;
  std::string name;
  uint32_t size_or_type = 0;
  const uint8_t* extra = nullptr;  // kind-specific data after the common header
};

uint32_t rd32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

class Btf {
 public:
  ir::Status parse(llvm::StringRef data) {
    const auto* p = reinterpret_cast<const uint8_t*>(data.data());
    if (data.size() < 24) return ir::Error{"BTF section too small"};
    uint16_t magic;
    std::memcpy(&magic, p, 2);
    if (magic != kBtfMagic) return ir::Error{"bad BTF magic"};
    uint32_t hdr_len = rd32(p + 4), type_off = rd32(p + 8), type_len = rd32(p + 12), str_off = rd32(p + 16),
             str_len = rd32(p + 20);
    if (uint64_t(hdr_len) + str_off + str_len > data.size() || uint64_t(hdr_len) + type_off + type_len > data.size())
      return ir::Error{"BTF section truncated"};
    strings_ = llvm::StringRef(data.data() + hdr_len + str_off, str_len);
    const uint8_t* t = p + hdr_len + type_off;
    const uint8_t* end = t + type_len;
    types_.emplace_back();  // id 0: void
    while (t + 12 <= end) {
      BtfType bt;
      uint32_t info = rd32(t + 4);
      bt.name = str(rd32(t));
      bt.vlen = info & 0xffff;
      bt.kind = (info >> 24) & 0x1f;
      bt.kflag = (info >> 31) != 0;
      bt.size_or_type = rd32(t + 8);
      bt.extra = t + 12;
      t += 12;
      switch (bt.kind) {
        case kInt: t += 4; break;
        case kArray: t += 12; break;
        case kStruct:
        case kUnion: t += 12 * bt.vlen; break;
        case kEnum: t += 8 * bt.vlen; break;
        case kFuncProto: t += 8 * bt.vlen; break;
        case kVar: t += 4; break;
        case kDatasec: t += 12 * bt.vlen; break;
        case kDeclTag: t += 4; break;
        case kEnum64: t += 12 * bt.vlen; break;
        case kPtr:
        case kFwd:
        case kTypedef:
        case kVolatile:
        case kConst:
        case kRestrict:
        case kFunc:
        case kFloat:
        case kTypeTag: break;
        default: return ir::Error{"unknown BTF kind " + std::to_string(bt.kind)};
      }
      if (t > end) return ir::Error{"BTF type section truncated"};
      types_.push_back(std::move(bt));
    }
    return {};
  }

  [[nodiscard]] const BtfType& type(uint32_t id) const { return types_.at(id); }
  [[nodiscard]] size_t size() const { return types_.size(); }

  /// Skips const/volatile/restrict/type tags (not typedefs).
  [[nodiscard]] uint32_t strip_qualifiers(uint32_t id) const {
    for (int i = 0; i < 32; ++i) {
      const auto& t = type(id);
      if (t.kind != kConst && t.kind != kVolatile && t.kind != kRestrict && t.kind != kTypeTag) return id;
      id = t.size_or_type;
    }
    return id;
  }

  /// The layout of a type (layout_codec.h schema).
  ir::Result<nlohmann::json> layout(uint32_t id, int depth = 0) const {
    if (depth > 16) return ir::Error{"BTF type nesting too deep"};
    id = strip_qualifiers(id);
    const BtfType& t = type(id);
    switch (t.kind) {
      case kTypedef:
        if (t.name == "polc_be32") return nlohmann::json{{"kind", "ipv4"}, {"size", 4}};
        return layout(t.size_or_type, depth + 1);
      case kInt:
      case kEnum: {
        uint32_t size = t.size_or_type;
        if (size != 1 && size != 2 && size != 4 && size != 8) return ir::Error{"unsupported integer size"};
        return nlohmann::json{{"kind", "u" + std::to_string(size * 8)}, {"size", size}};
      }
      case kArray: {
        uint32_t elem = rd32(t.extra), count = rd32(t.extra + 8);
        auto e = layout(elem, depth + 1);
        if (!e) return e;
        uint64_t size = (*e)["size"].get<uint64_t>() * count;
        return nlohmann::json{{"kind", "array"}, {"size", size}, {"count", count}, {"element", *e}};
      }
      case kStruct: {
        nlohmann::json fields = nlohmann::json::array();
        for (uint32_t i = 0; i < t.vlen; ++i) {
          const uint8_t* m = t.extra + 12 * i;
          uint32_t off = rd32(m + 8);
          if (t.kflag && (off >> 24) != 0) return ir::Error{"bitfields are not part of the datapath ABI"};
          off &= 0xffffff;
          if (off % 8 != 0) return ir::Error{"unaligned struct member"};
          auto ft = layout(rd32(m + 4), depth + 1);
          if (!ft) return ft;
          fields.push_back({{"name", str(rd32(m))}, {"offset", off / 8}, {"type", *ft}});
        }
        return nlohmann::json{{"kind", "struct"}, {"name", t.name}, {"size", t.size_or_type}, {"fields", fields}};
      }
      default: return ir::Error{"BTF type of kind " + std::to_string(t.kind) + " is not part of the datapath ABI"};
    }
  }

  /// For a `__uint(name, N)` member (pointer to an array of N): N.
  [[nodiscard]] std::optional<uint32_t> uint_member(uint32_t member_type) const {
    const BtfType& p = type(member_type);
    if (p.kind != kPtr) return std::nullopt;
    const BtfType& a = type(strip_qualifiers(p.size_or_type));
    if (a.kind != kArray) return std::nullopt;
    return rd32(a.extra + 8);
  }

  [[nodiscard]] std::string str(uint32_t off) const {
    if (off >= strings_.size()) return {};
    return std::string(strings_.data() + off);
  }

 private:
  llvm::StringRef strings_;
  std::vector<BtfType> types_;
};

}  // namespace

std::string map_type_name(uint32_t type) {
  switch (type) {
    case 1: return "hash";
    case 2: return "array";
    case 3: return "prog_array";
    case 6: return "percpu_array";
    case 9: return "lru_hash";
    case 11: return "lpm_trie";
    case 27: return "ringbuf";
    default: return "type-" + std::to_string(type);
  }
}

ir::Result<ObjectInfo> read_object(std::string_view elf) {
  auto buffer = llvm::MemoryBuffer::getMemBuffer(llvm::StringRef(elf.data(), elf.size()), "polc.bpf.o", false);
  auto obj = llvm::object::ObjectFile::createObjectFile(buffer->getMemBufferRef());
  if (!obj) return ir::Error{"not an ELF object: " + llvm::toString(obj.takeError())};
  ObjectInfo info;

  Btf btf;
  bool have_btf = false;
  for (const auto& sec : (*obj)->sections()) {
    auto name = sec.getName();
    if (!name || *name != ".BTF") continue;
    auto contents = sec.getContents();
    if (!contents) return ir::Error{"unreadable .BTF section"};
    if (auto st = btf.parse(*contents); !st.ok()) return ir::Error{"bad BTF: " + st.error().message};
    have_btf = true;
  }
  if (!have_btf) return ir::Error{"the object has no BTF"};

  for (uint32_t id = 1; id < btf.size(); ++id) {
    const BtfType& t = btf.type(id);
    if (t.kind == kStruct && !t.name.empty() && t.name.rfind("polc_", 0) == 0) {
      auto l = btf.layout(id);
      if (l) info.structs[t.name] = *l;
    }
    if (t.kind != kDatasec || t.name != ".maps") continue;
    for (uint32_t i = 0; i < t.vlen; ++i) {
      const BtfType& var = btf.type(rd32(t.extra + 12 * i));
      if (var.kind != kVar) return ir::Error{"a .maps entry that is not a variable"};
      const BtfType& def = btf.type(btf.strip_qualifiers(var.size_or_type));
      if (def.kind != kStruct) return ir::Error{"map " + var.name + " is not a BTF map definition"};
      ObjectMap m;
      m.name = var.name;
      for (uint32_t j = 0; j < def.vlen; ++j) {
        const uint8_t* mem = def.extra + 12 * j;
        std::string field = btf.str(rd32(mem));
        uint32_t ftype = rd32(mem + 4);
        if (field == "type" || field == "max_entries" || field == "map_flags") {
          auto v = btf.uint_member(ftype);
          if (!v) return ir::Error{"map " + m.name + ": bad '" + field + "'"};
          (field == "type" ? m.type : field == "max_entries" ? m.max_entries : m.flags) = *v;
        } else if (field == "key_size" || field == "value_size") {  // maps without BTF types (prog arrays)
          auto v = btf.uint_member(ftype);
          if (!v) return ir::Error{"map " + m.name + ": bad '" + field + "'"};
          (field == "key_size" ? m.key_size : m.value_size) = *v;
        } else if (field == "key" || field == "value") {
          const BtfType& ptr = btf.type(ftype);
          if (ptr.kind != kPtr) return ir::Error{"map " + m.name + ": bad '" + field + "'"};
          auto l = btf.layout(ptr.size_or_type);
          if (!l) return ir::Error{"map " + m.name + " " + field + ": " + l.error().message};
          (field == "key" ? m.key : m.value) = *l;
          (field == "key" ? m.key_size : m.value_size) = (*l)["size"].get<uint32_t>();
        }
      }
      if (m.type == 0) return ir::Error{"map " + m.name + " has no type"};
      info.maps.push_back(std::move(m));
    }
  }

  // Programs: function symbols outside .text; .text holds subprograms.
  for (const auto& sym : (*obj)->symbols()) {
    auto type = sym.getType();
    if (!type || *type != llvm::object::SymbolRef::ST_Function) continue;
    auto name = sym.getName();
    auto sec = sym.getSection();
    if (!name || !sec || *sec == (*obj)->section_end()) continue;
    auto sec_name = (*sec)->getName();
    if (!sec_name) continue;
    uint64_t size = llvm::object::ELFSymbolRef(sym).getSize();
    if (*sec_name == ".text") {
      info.subprogram_instructions += size / 8;
      continue;
    }
    ObjectProgram p;
    p.name = name->str();
    p.section = sec_name->str();
    p.instructions = size / 8;
    info.programs.push_back(std::move(p));
  }
  std::sort(info.programs.begin(), info.programs.end(),
            [](const ObjectProgram& a, const ObjectProgram& b) { return a.name < b.name; });
  return info;
}

}  // namespace polc::backend_bpf

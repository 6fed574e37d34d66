// ReadObject: what a compiled datapath object contains, read back from its ELF symbols and its
// BTF: every map (type, max entries, key/value layout) and every program (section, size). This
// is how layout.json describes the abi.h structs without a second, hand-written description.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "polc/ir/result.h"

namespace polc::backend_bpf {

/// Kernel map types (enum bpf_map_type) the datapath uses, by number.
[[nodiscard]] std::string map_type_name(uint32_t type);

struct ObjectMap {
  std::string name;
  uint32_t type = 0;  ///< enum bpf_map_type
  uint32_t max_entries = 0;
  uint32_t flags = 0;
  uint32_t key_size = 0;  ///< 0 when the map has no key type (ring buffer)
  uint32_t value_size = 0;
  nlohmann::json key;  ///< type layout (layout_codec.h), null when none
  nlohmann::json value;
};

struct ObjectProgram {
  std::string name;
  std::string section;
  uint64_t instructions = 0;  ///< the program's own instructions
};

struct ObjectInfo {
  std::vector<ObjectMap> maps;                    ///< in BTF order (= source order)
  std::vector<ObjectProgram> programs;            ///< entry points (not .text subprograms), by offset
  uint64_t subprogram_instructions = 0;           ///< .text functions every program may call
  std::map<std::string, nlohmann::json> structs;  ///< every named struct in BTF, as type layouts
};

/// Reads an ELF BPF object. Errors (not ELF, no BTF, a map without type) are internal bugs of
/// the compile step and come back as Error.
[[nodiscard]] ir::Result<ObjectInfo> read_object(std::string_view elf);

}  // namespace polc::backend_bpf

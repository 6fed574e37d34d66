// ReadObject: the maps and programs read back from the compiled object's ELF and BTF, and the
// struct layouts BTF gives agree with the C++ view of abi.h (same sizes, no implicit padding).
#include "polc/backend_bpf/read_object.h"

#include <gtest/gtest.h>

#include "polc/backend_bpf/abi.h"
#include "polc/backend_bpf/compile_datapath.h"

namespace polc::backend_bpf::testing {
namespace {

class CompiledObject : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto obj = compile_datapath("#define POLC_CAP_VERDICTS 8192u\n", Emit::Obj);
    ASSERT_TRUE(obj.ok()) << obj.error().message;
    auto info = read_object(*obj);
    ASSERT_TRUE(info.ok()) << info.error().message;
    info_ = new ObjectInfo(std::move(*info));
  }
  static void TearDownTestSuite() { delete info_; }
  static const ObjectMap& map(const std::string& name) {
    for (const auto& m : info_->maps)
      if (m.name == name) return m;
    throw std::runtime_error("no map " + name);
  }
  static ObjectInfo* info_;
};
ObjectInfo* CompiledObject::info_ = nullptr;

TEST_F(CompiledObject, ListsEveryMapWithTypeAndSize) {
  // 14 + the services' polc_services, polc_lb_backends, polc_lb_ct, polc_svc_filter + the
  // runtime's polc_generation and polc_slots
  EXPECT_EQ(info_->maps.size(), 20u);
  EXPECT_EQ(map("polc_svc_filter").max_entries, POLC_SVC_FILTER_WORDS);
  EXPECT_EQ(map_type_name(map("polc_slots").type), "prog_array");
  EXPECT_EQ(map("polc_slots").max_entries, POLC_GEN_SLOTS);
  EXPECT_EQ(map("polc_generation").max_entries, 1u);
  EXPECT_EQ(map_type_name(map("polc_policy").type), "hash");
  EXPECT_EQ(map_type_name(map("polc_ipcache_lpm").type), "lpm_trie");
  EXPECT_EQ(map("polc_ipcache_lpm").flags, 1u);  // BPF_F_NO_PREALLOC
  EXPECT_EQ(map_type_name(map("polc_ct").type), "lru_hash");
  EXPECT_EQ(map_type_name(map("polc_rule_counters").type), "percpu_array");
  EXPECT_EQ(map_type_name(map("polc_events").type), "ringbuf");
  EXPECT_EQ(map("polc_verdicts").max_entries, 8192u);
  EXPECT_EQ(map("polc_port_classes").max_entries, POLC_PORT_INDEX_SIZE);
  EXPECT_EQ(map("polc_stats").max_entries, uint32_t{POLC_REASONS});
  EXPECT_TRUE(map("polc_events").key.is_null());
}

TEST_F(CompiledObject, KeyAndValueSizesAreTheCppSizes) {
  const std::map<std::string, std::pair<size_t, size_t>> sizes = {
      {"polc_config", {4, sizeof(polc_config)}},
      {"polc_endpoints", {sizeof(polc_ip_key), sizeof(polc_endpoint)}},
      {"polc_ipcache", {sizeof(polc_ip_key), sizeof(polc_ipcache_entry)}},
      {"polc_ipcache_lpm", {sizeof(polc_lpm_key), sizeof(polc_ipcache_entry)}},
      {"polc_contexts", {4, sizeof(polc_context)}},
      {"polc_policy", {sizeof(polc_policy_key), sizeof(polc_policy_entry)}},
      {"polc_functions", {4, sizeof(polc_function)}},
      {"polc_port_classes", {4, sizeof(polc_port_class)}},
      {"polc_verdicts", {sizeof(polc_verdict_key), sizeof(polc_verdict)}},
      {"polc_ct", {sizeof(polc_ct_key), sizeof(polc_ct_entry)}},
      {"polc_frags", {sizeof(polc_frag_key), sizeof(polc_frag_ports)}},
      {"polc_rule_counters", {4, sizeof(polc_counter)}},
      {"polc_stats", {4, sizeof(polc_counter)}},
      {"polc_generation", {4, 4}},
      {"polc_slots", {4, 4}},
  };
  for (const auto& [name, kv] : sizes) {
    EXPECT_EQ(map(name).key_size, kv.first) << name;
    EXPECT_EQ(map(name).value_size, kv.second) << name;
  }
  ASSERT_TRUE(info_->structs.count("polc_event"));
  EXPECT_EQ(info_->structs.at("polc_event")["size"], sizeof(polc_event));
}

/// Fields in order, not overlapping, together covering the struct: padding is explicit.
void check_contiguous(const nlohmann::json& t, const std::string& where) {
  if (t["kind"] == "array") return check_contiguous(t["element"], where + "[]");
  if (t["kind"] != "struct") return;
  size_t at = 0;
  for (const auto& f : t["fields"]) {
    EXPECT_EQ(f["offset"].get<size_t>(), at) << where << "." << f["name"] << ": implicit padding before it";
    at = f["offset"].get<size_t>() + f["type"]["size"].get<size_t>();
    check_contiguous(f["type"], where + "." + f["name"].get<std::string>());
  }
  EXPECT_EQ(at, t["size"].get<size_t>()) << where << ": implicit padding at the end";
}

TEST_F(CompiledObject, AbiStructsHaveNoImplicitPadding) {
  for (const auto& m : info_->maps) {
    if (!m.key.is_null()) check_contiguous(m.key, m.name + " key");
    if (!m.value.is_null()) check_contiguous(m.value, m.name + " value");
  }
  check_contiguous(info_->structs.at("polc_event"), "polc_event");
}

TEST_F(CompiledObject, AddressesAreMarkedIpv4) {
  const auto& key = map("polc_ipcache_lpm").key;
  ASSERT_EQ(key["fields"].size(), 2u);
  EXPECT_EQ(key["fields"][0]["name"], "prefixlen");
  EXPECT_EQ(key["fields"][0]["type"]["kind"], "u32");
  EXPECT_EQ(key["fields"][1]["name"], "addr");
  EXPECT_EQ(key["fields"][1]["type"]["kind"], "ipv4");
  EXPECT_EQ(map("polc_ct").key["fields"][0]["type"]["kind"], "ipv4");
}

TEST_F(CompiledObject, ListsThePodAndUnderlayPrograms) {
  ASSERT_EQ(info_->programs.size(), 4u);
  EXPECT_EQ(info_->programs[0].name, "polc_from_pod");
  EXPECT_EQ(info_->programs[1].name, "polc_from_underlay");
  EXPECT_EQ(info_->programs[2].name, "polc_to_pod");
  EXPECT_EQ(info_->programs[3].name, "polc_to_underlay");
  for (const auto& p : info_->programs) {
    EXPECT_EQ(p.section, "tc");
    EXPECT_GT(p.instructions, 100u);
  }
  EXPECT_GT(info_->subprogram_instructions, 50u);
}

TEST(ReadObject, RejectsWhatIsNotAnObject) {
  EXPECT_FALSE(read_object("not an elf").ok());
  EXPECT_FALSE(read_object(std::string("\x7f"
                                       "ELF",
                                       4))
                   .ok());
}

}  // namespace
}  // namespace polc::backend_bpf::testing

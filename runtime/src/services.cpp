#include "services.h"

namespace polc::runtime::services {

namespace {

constexpr uint32_t kHandle = TcAttachment::kDefaultHandle;
constexpr uint32_t kPriority = TcAttachment::kDefaultPriority;

bool ours(const TcFilterInfo& f) {
  return f.handle == kHandle && f.priority == kPriority && f.prog_name.find(kUnderlayProgramPart) != std::string::npos;
}

}  // namespace

Status attach_underlay(const Netns& ns, const std::string& underlay_if, int from_fd, int to_fd) {
  auto idx = link_index(ns, underlay_if);
  if (!idx) return idx.error();
  auto q = Qdisc::create_clsact(ns, *idx);
  if (!q) return q.error();
  auto filters = list_tc_filters(ns, *idx);
  if (!filters) return filters.error();
  std::vector<TcAttachment> attached;  // detached again if a later step fails
  for (TcDirection dir : {TcDirection::Ingress, TcDirection::Egress}) {
    int fd = dir == TcDirection::Ingress ? from_fd : to_fd;
    const TcFilterInfo* cur = nullptr;
    for (const auto& f : *filters)
      if (f.dir == dir && f.handle == kHandle && f.priority == kPriority) cur = &f;
    if (cur) {
      auto t = TcAttachment::adopt(ns, *idx, dir, kHandle, kPriority);
      if (!t) return t.error();
      auto st = t->replace(fd);
      t->release();
      if (!st) return Error{underlay_if + ": " + st.error().message};
      continue;
    }
    auto t = TcAttachment::attach(ns, *idx, dir, fd, kHandle, kPriority);
    if (!t) return Error{underlay_if + ": " + t.error().message};
    attached.push_back(std::move(*t));
  }
  for (auto& t : attached) t.release();
  q->release();
  return {};
}

Status detach_underlay(const Netns& ns, const std::string& underlay_if) {
  auto idx = link_index(ns, underlay_if);
  if (!idx) return {};
  auto filters = list_tc_filters(ns, *idx);
  if (!filters) return filters.error();
  bool others = false;
  for (const auto& f : *filters) {
    if (!ours(f)) {
      others = true;
      continue;
    }
    auto t = TcAttachment::adopt(ns, *idx, f.dir, f.handle, f.priority);
    if (!t) return t.error();
    if (auto st = t->remove(); !st) return st;
  }
  if (!others)
    if (auto q = Qdisc::adopt_clsact(ns, *idx)) return q->remove();
  return {};
}

}  // namespace polc::runtime::services

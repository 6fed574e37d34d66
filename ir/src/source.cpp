#include "polc/ir/source.h"

namespace polc::ir {

SourceManager::SourceManager() {
  files_.push_back(File{"<none>", "", {0}});
}

uint32_t SourceManager::add(std::string path, std::string text) {
  File f{std::move(path), std::move(text), {0}};
  for (uint32_t i = 0; i < f.text.size(); ++i)
    if (f.text[i] == '\n') f.line_starts.push_back(i + 1);
  files_.push_back(std::move(f));
  return static_cast<uint32_t>(files_.size() - 1);
}

const std::string& SourceManager::path(uint32_t file) const {
  return file < files_.size() ? files_[file].path : files_[0].path;
}

const std::string& SourceManager::text(uint32_t file) const {
  return file < files_.size() ? files_[file].text : files_[0].text;
}

std::string_view SourceManager::line(uint32_t file, uint32_t line) const {
  if (file == 0 || file >= files_.size() || line == 0) return {};
  const File& f = files_[file];
  if (line > f.line_starts.size()) return {};
  size_t begin = f.line_starts[line - 1];
  size_t end = line < f.line_starts.size() ? f.line_starts[line] - 1 : f.text.size();
  if (end > begin && f.text[end - 1] == '\r') --end;
  return std::string_view(f.text).substr(begin, end - begin);
}

std::string SourceManager::format(SourceLoc loc) const {
  if (loc.file == 0 || loc.file >= files_.size()) return "<unknown>";
  std::string s = files_[loc.file].path;
  if (loc.line) {
    s += ':' + std::to_string(loc.line);
    if (loc.col) s += ':' + std::to_string(loc.col);
  }
  return s;
}

}  // namespace polc::ir

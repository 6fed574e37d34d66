// Source files and locations: every IR element points back into the YAML it came from.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace polc::ir {

/// A position in a source file; line and column are 1-based (0 = unknown).
struct SourceLoc {
  uint32_t file = 0;  ///< index into SourceManager; 0 = no file
  uint32_t line = 0;
  uint32_t col = 0;

  [[nodiscard]] bool valid() const { return file != 0 && line != 0; }
  friend auto operator<=>(const SourceLoc&, const SourceLoc&) = default;
};

/// Owns the text of every input file so diagnostics can quote source lines.
class SourceManager {
 public:
  SourceManager();
  /// Registers a file (path as the user named it) and returns its id (>= 1).
  uint32_t add(std::string path, std::string text);
  [[nodiscard]] const std::string& path(uint32_t file) const;
  [[nodiscard]] const std::string& text(uint32_t file) const;
  /// The text of one line (without newline); empty when out of range.
  [[nodiscard]] std::string_view line(uint32_t file, uint32_t line) const;
  /// "path:line:col", or "<unknown>" for an invalid location.
  [[nodiscard]] std::string format(SourceLoc loc) const;
  [[nodiscard]] size_t file_count() const { return files_.size() - 1; }

 private:
  struct File {
    std::string path;
    std::string text;
    std::vector<uint32_t> line_starts;
  };
  std::vector<File> files_;
};

}  // namespace polc::ir

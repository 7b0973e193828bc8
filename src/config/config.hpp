// config/config.hpp — load and validate the YAML (or JSON) configuration file of SPEC §4.
//
// load_file() parses the whole schema into an immutable Snapshot. Every problem is reported as a
// ConfigError with the file, line, column and key path ("organizations[0].outbound_connectors[1].
// smart_hosts[0]"); loading goes on after an error so that one run reports them all. A Snapshot is
// returned only when there are no errors. Thread-safe (no shared state); reads only the named file
// (and `recipients_file` files it references).
#pragma once

#include "config/snapshot.hpp"

#include <memory>
#include <string>
#include <vector>

namespace mf::config {

struct ConfigError {
  std::string file;
  int line = 0;    // 1-based; 0 when unknown
  int column = 0;  // 1-based; 0 when unknown
  std::string key_path;
  std::string message;
  // "file:line:column: key_path: message"
  std::string str() const;
};

struct LoadResult {
  std::shared_ptr<const Snapshot> snapshot;  // null when errors is not empty
  std::vector<ConfigError> errors;
  bool ok() const { return snapshot != nullptr; }
};

LoadResult load_file(const std::string& path);
// For tests: parse YAML text as if it were the file `virtual_path` (relative paths resolve against
// its folder).
LoadResult load_string(const std::string& yaml_text, const std::string& virtual_path = "config.yaml");

// Parses a duration "30s", "5m", "24h", "2d" or a bare number of seconds.
Result<Seconds> parse_duration(std::string_view text);
// Parses a size "36700160", "35MB", "10KB", "1GB" (powers of 1024).
Result<std::uint64_t> parse_size(std::string_view text);

}  // namespace mf::config

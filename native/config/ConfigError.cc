#include "config/ConfigError.h"

#include <utility>

namespace px {

namespace {

std::string formatWhat(const std::string& file, int line, const std::string& key,
                       const std::string& message) {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line);
  out += ": ";
  if (!key.empty()) out += key + ": ";
  return out + message;
}

}  // namespace

ConfigError::ConfigError(std::string file, int line, std::string key, const std::string& message)
    : std::runtime_error(formatWhat(file, line, key, message)),
      file_(std::move(file)),
      line_(line),
      key_(std::move(key)) {}

}  // namespace px

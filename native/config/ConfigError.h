// The one exception of the configuration loader: a problem located by file, line and key.
#pragma once

#include <stdexcept>
#include <string>

namespace px {

// A configuration problem: what() is "<file>:<line>: <key.path>: <message>"; ":<line>" is left
// out when line is 0 and "<key.path>: " when key is empty (e.g. YAML syntax errors).
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string file, int line, std::string key, const std::string& message);
  const std::string& file() const { return file_; }
  int line() const { return line_; }               // 1-based; 0 when the file itself is the problem
  const std::string& key() const { return key_; }  // dotted path, e.g. "sip.port"

 private:
  std::string file_;
  int line_;
  std::string key_;
};

}  // namespace px

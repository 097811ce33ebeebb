// Expecting ConfigErrors from YAML text: shared by the config test suites.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/GatewayConfig.h"

namespace px::testing {

// Loads `yaml` (as "test.yaml") expecting a ConfigError; returns it for further checks.
inline ConfigError loadError(const std::string& yaml) {
  try {
    loadConfigText(yaml, "test.yaml");
  } catch (const ConfigError& e) {
    return e;
  }
  ADD_FAILURE() << "no ConfigError for:\n" << yaml;
  return ConfigError("", -1, "", "none");
}

// One error case: YAML text, expected line, key path and message fragment.
struct ErrorCase {
  std::string yaml;
  int line;
  std::string key;
  std::string message;
};

inline void expectErrors(const std::vector<ErrorCase>& cases) {
  for (const auto& c : cases) {
    SCOPED_TRACE(c.yaml);
    const ConfigError e = loadError(c.yaml);
    EXPECT_EQ(e.file(), "test.yaml");
    EXPECT_EQ(e.line(), c.line);
    EXPECT_EQ(e.key(), c.key);
    EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
  }
}

}  // namespace px::testing

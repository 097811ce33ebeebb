// Fuzz target: the YAML configuration loader (native/config loadConfigText). Any text gives a
// GatewayConfig or a ConfigError naming the file; any other exception escapes and is reported by
// libFuzzer as a crash, a hang (yaml-cpp 0.7 loops forever on some inputs; the loader works
// around it) as a timeout.
//
// The loader resolves relative paths and reads digestSecretFile files: the target runs in a
// scratch working directory (scripts/fuzz.sh) so that those reads see nothing of interest.
#include <cstddef>
#include <cstdint>
#include <string>

#include "FuzzCheck.h"
#include "config/GatewayConfig.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string yaml(reinterpret_cast<const char*>(data), size);
  try {
    const px::GatewayConfig cfg = px::loadConfigText(yaml, "fuzz.yaml");
    // What the loader promises of any config it returns.
    PX_FUZZ_CHECK(cfg.sourcePath.empty());
    PX_FUZZ_CHECK(!cfg.sip.transports.empty());
    PX_FUZZ_CHECK(!cfg.usage.database.empty() && cfg.usage.database.front() == '/');
    PX_FUZZ_CHECK(!cfg.usage.host.empty());
    PX_FUZZ_CHECK(cfg.presence.resubscribeBackoffMs <= cfg.presence.resubscribeBackoffMaxMs);
    PX_FUZZ_CHECK(cfg.notifications.defaultDurationSec <= cfg.notifications.maxDurationSec);
  } catch (const px::ConfigError& e) {
    PX_FUZZ_CHECK(e.file() == "fuzz.yaml");
    PX_FUZZ_CHECK(e.line() >= 0);
    PX_FUZZ_CHECK(std::string(e.what()).rfind("fuzz.yaml", 0) == 0);
  }
  return 0;
}

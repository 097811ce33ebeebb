// Fuzz target: the SERVICEDATA codec of usage records (native/usage). Properties, both from
// ServiceData.h:
// - decode(text) succeeds exactly when encode(decode(text)) == text (never a crash on any bytes);
// - encode/decode round trip: any pairs with unique non-empty keys come back unchanged.
// The input is read twice: as SERVICEDATA text, and as pairs "key\x01value\x00key\x01value...".
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>

#include "FuzzCheck.h"
#include "usage/ServiceData.h"

namespace sd = px::servicedata;

namespace {

sd::Pairs pairsOf(std::string_view bytes, bool& valid) {
  sd::Pairs pairs;
  std::set<std::string> keys;
  valid = true;
  size_t pos = 0;
  while (pos <= bytes.size()) {
    const size_t end = std::min(bytes.find('\0', pos), bytes.size());
    const std::string_view item = bytes.substr(pos, end - pos);
    const size_t sep = item.find('\x01');
    std::string key(item.substr(0, sep));
    std::string value(sep == std::string_view::npos ? std::string_view() : item.substr(sep + 1));
    if (key.empty() || !keys.insert(key).second) valid = false;
    pairs.emplace_back(std::move(key), std::move(value));
    pos = end + 1;
  }
  return pairs;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  // 1. Arbitrary bytes as SERVICEDATA text.
  const std::optional<sd::Pairs> decoded = sd::decode(text);
  if (decoded) {
    PX_FUZZ_CHECK(sd::encode(*decoded) == text);
  }

  // 2. The bytes as pairs: encode then decode gives them back; bad keys are refused by encode.
  bool valid = false;
  const sd::Pairs pairs = pairsOf(text, valid);
  std::string encoded;
  try {
    encoded = sd::encode(pairs);
  } catch (const std::invalid_argument&) {
    PX_FUZZ_CHECK(!valid);
    return 0;
  }
  PX_FUZZ_CHECK(valid);
  const std::optional<sd::Pairs> back = sd::decode(encoded);
  PX_FUZZ_CHECK(back.has_value());
  PX_FUZZ_CHECK(*back == pairs);
  return 0;
}

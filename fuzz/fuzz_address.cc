// Fuzz target: the Parlay X address parser (native/address), which sees every address of every
// SOAP request. Beyond "no crash": an accepted address's canonical form is accepted again and is a
// fixed point, and the SIP Request-URI made from it is itself an address the parser accepts.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "FuzzCheck.h"
#include "address/Address.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const px::AddressParseResult r = px::parseAddress(text);
  if (!r.ok()) {
    PX_FUZZ_CHECK(!r.reason.empty());
    return 0;
  }
  const px::Address& a = r.address;
  PX_FUZZ_CHECK(r.reason.empty());
  PX_FUZZ_CHECK(!a.canonical.empty());

  // Canonicalisation is idempotent.
  const px::AddressParseResult again = px::parseAddress(a.canonical);
  PX_FUZZ_CHECK(again.ok());
  PX_FUZZ_CHECK(again.address.canonical == a.canonical);
  PX_FUZZ_CHECK(again.address.scheme == a.scheme);
  PX_FUZZ_CHECK(again.address.user == a.user);
  PX_FUZZ_CHECK(again.address.host == a.host);
  PX_FUZZ_CHECK(again.address.port == a.port);

  // What goes on the wire is a SIP URI we would accept ourselves (when it fits the length cap).
  for (std::string_view domain : {"example.test", ""}) {
    const std::string uri = px::toSipRequestUri(a, domain);
    if (uri.size() > 512) continue;
    const px::AddressParseResult sip = px::parseAddress(uri);
    PX_FUZZ_CHECK(sip.ok());
    if (a.scheme == px::AddressScheme::kTel && !domain.empty()) {
      PX_FUZZ_CHECK(sip.address.scheme == px::AddressScheme::kSip);
      PX_FUZZ_CHECK(sip.address.host == domain);
    } else {
      PX_FUZZ_CHECK(sip.address.canonical == a.canonical);
    }
  }
  return 0;
}

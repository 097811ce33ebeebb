// Fuzz target: the Parlay X address parser (native/address), which sees every address of every
// SOAP request. Beyond "no crash": an accepted address's canonical form is accepted again and is a
// fixed point, the SIP Request-URI made from it is itself an address the parser accepts, and
// Sofia-SIP (which sends that Request-URI) reads the same scheme, host and port from it as we do:
// what the policy checked is where the SUBSCRIBE goes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "FuzzCheck.h"
#include "address/Address.h"
#include "common/Ascii.h"
#include "sip/Sofia.h"

namespace {

// Sofia's reading of a SIP Request-URI must agree with ours.
void checkSofiaAgrees(const px::Address& sip, const std::string& uri) {
  px::SuHome home(static_cast<su_home_t*>(su_home_new(sizeof(su_home_t))));
  PX_FUZZ_CHECK(home != nullptr);
  const url_t* url = url_make(home.get(), uri.c_str());
  PX_FUZZ_CHECK(url != nullptr);
  PX_FUZZ_CHECK(url->url_type == (sip.scheme == px::AddressScheme::kSips ? url_sips : url_sip));
  PX_FUZZ_CHECK(url->url_host != nullptr);
  PX_FUZZ_CHECK(px::ascii::equalsNoCase(url->url_host, sip.host));
  if (sip.port == 0) {
    PX_FUZZ_CHECK(url->url_port == nullptr || *url->url_port == '\0');
  } else {
    PX_FUZZ_CHECK(url->url_port != nullptr);
    PX_FUZZ_CHECK(std::strtoul(url->url_port, nullptr, 10) == sip.port);
  }
  PX_FUZZ_CHECK((url->url_user != nullptr && *url->url_user) == !sip.user.empty());
  PX_FUZZ_CHECK(url->url_password == nullptr);
  PX_FUZZ_CHECK(url->url_headers == nullptr);
}

}  // namespace

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
    if (sip.address.scheme != px::AddressScheme::kTel) checkSofiaAgrees(sip.address, uri);
    if (a.scheme == px::AddressScheme::kTel && !domain.empty()) {
      PX_FUZZ_CHECK(sip.address.scheme == px::AddressScheme::kSip);
      PX_FUZZ_CHECK(sip.address.host == domain);
    } else {
      PX_FUZZ_CHECK(sip.address.canonical == a.canonical);
    }
  }
  return 0;
}

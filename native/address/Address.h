// Parlay X terminal addresses (xsd:anyURI): tel:, sip: and sips: URIs.
#pragma once

#include <string>
#include <string_view>

namespace px {

enum class AddressScheme { kTel, kSip, kSips };

// Why an address was refused. kUnknownScheme maps to usage status UNKNOWN_SCHEME (10),
// kInvalid to INVALID (13); both are answered with SVC0002.
enum class AddressError { kNone, kUnknownScheme, kInvalid };

struct Address {
  AddressScheme scheme = AddressScheme::kSip;
  // Canonical form: scheme lower-case; tel: without visual separators ("tel:+15551234567"),
  // phone-context normalised the same way (domain lower-case), other parameters as given;
  // sip/sips: host lower-case, port without leading zeros, user part and parameters as given.
  std::string canonical;
  // tel: the digits with leading '+' (global) or the local number; sip/sips: the user part
  // (may be empty for sip:host).
  std::string user;
  // sip/sips: host (lower-case, IPv6 in brackets); tel: the phone-context if any, else empty.
  std::string host;
  unsigned port = 0;  // 0 when absent
};

// What the address is for. A terminal address comes from a requester and becomes the Request-URI
// and To of a SUBSCRIBE, so the URI parameters that steer where or how SIP sends a request
// (maddr, transport, ttl, lr, method) are refused there: they would let a requester route the
// gateway's SIP to hosts of its choosing. A routing URI is the operator's own (the presence
// server, the watcher's identity in the configuration) and may carry them.
// URI headers ("?Route=...") are refused for both: they inject headers into the request.
enum class AddressUse { kTerminal, kRouting };

struct AddressParseResult {
  AddressError error = AddressError::kNone;
  std::string reason;  // human readable when error != kNone
  Address address;
  bool ok() const { return error == AddressError::kNone; }
};

// Parses one address. Never throws. Leading/trailing whitespace is refused (kInvalid),
// as are control characters, a length over 512 bytes, and anything RFC 3261 / RFC 3966 rejects
// in the parts we use (empty host, bad port, tel: without digits, ...); for kTerminal also the
// routing parameters listed at AddressUse (kInvalid, hence SVC0002).
AddressParseResult parseAddress(std::string_view text, AddressUse use = AddressUse::kTerminal);

// The SIP Request-URI to subscribe to for an address. tel: numbers become
// "sip:<number>@<telDomain>;user=phone" (IMS style) when telDomain is not empty, else the tel URI
// is used as it is. sip/sips: the canonical form.
std::string toSipRequestUri(const Address& address, std::string_view telDomain);

}  // namespace px

#include "config/OutboundConfigReader.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstdlib>

#include "common/Ascii.h"
#include "config/TextSyntax.h"

namespace px::config {

std::string normaliseCidr(const std::string& text, std::string* problem) {
  const size_t slash = text.find('/');
  const std::string address = text.substr(0, slash);
  std::array<unsigned char, 16> bytes{};
  int family = 0;
  if (inet_pton(AF_INET, address.c_str(), bytes.data()) == 1) {
    family = AF_INET;
  } else if (inet_pton(AF_INET6, address.c_str(), bytes.data()) == 1) {
    family = AF_INET6;
  } else {
    return "";
  }
  const int maxPrefix = family == AF_INET ? 32 : 128;
  int prefix = maxPrefix;
  if (slash != std::string::npos) {
    const std::string digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3 ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      *problem = "the prefix length after '/' must be a number";
      return "";
    }
    prefix = std::atoi(digits.c_str());
    if (prefix > maxPrefix) {
      *problem = "the prefix length must be 0.." + std::to_string(maxPrefix);
      return "";
    }
  }
  for (int bit = prefix; bit < maxPrefix; ++bit) {
    if (bytes[bit / 8] & (0x80 >> (bit % 8))) {
      *problem = "address bits beyond the prefix length must be zero";
      return "";
    }
  }
  std::array<char, INET6_ADDRSTRLEN> canonical{};
  inet_ntop(family, bytes.data(), canonical.data(), canonical.size());
  return std::string(canonical.data()) + "/" + std::to_string(prefix);
}

namespace {
// "999.1.1.1" is a mistyped address, not a host name.
bool looksNumeric(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}
}  // namespace

OutboundConfig OutboundConfigReader::read(const Item& section) const {
  OutboundConfig out;
  auto f = yaml_.fields(section, {"allow", "allowOwnListeners"});
  if (auto it = f.find("allow"); it != f.end()) {
    for (const Item& e : yaml_.list(it->second)) {
      const std::string entry = yaml_.text(e);
      std::string problem;
      const std::string cidr = normaliseCidr(entry, &problem);
      if (!cidr.empty()) {
        if (std::find(out.allowCidrs.begin(), out.allowCidrs.end(), cidr) != out.allowCidrs.end()) {
          yaml_.fail(e, "duplicate entry " + quote(entry));
        }
        out.allowCidrs.push_back(cidr);
      } else if (!problem.empty()) {
        yaml_.fail(e, "expected a CIDR like \"10.0.0.0/8\": " + problem + ", got " + quote(entry));
      } else if (isHostName(entry) && !looksNumeric(entry)) {
        const std::string host = ascii::lowered(entry);
        if (std::find(out.allowHosts.begin(), out.allowHosts.end(), host) != out.allowHosts.end()) {
          yaml_.fail(e, "duplicate entry " + quote(entry));
        }
        out.allowHosts.push_back(host);
      } else {
        yaml_.fail(e,
                   "expected a CIDR (\"10.0.0.0/8\", \"fd00::/8\"), an IP address or a host name, "
                   "got " +
                       describe(e.node));
      }
    }
  }
  if (auto it = f.find("allowOwnListeners"); it != f.end()) {
    out.allowOwnListeners = yaml_.boolean(it->second);
  }
  return out;
}

}  // namespace px::config

#include "config/OutboundConfigReader.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <optional>

#include "common/Ascii.h"
#include "common/IpCidr.h"
#include "config/TextSyntax.h"

namespace px::config {

std::string normaliseCidr(const std::string& text, std::string* problem) {
  const size_t slash = text.find('/');
  const std::optional<IpCidr> address = IpCidr::parse(text.substr(0, slash));
  if (!address) return "";
  const std::optional<IpCidr> cidr = IpCidr::parse(text);
  if (!cidr) {
    *problem =
        "the prefix length after '/' must be a number in 0.." + std::to_string(address->prefix);
    return "";
  }
  for (unsigned bit = cidr->prefix; bit < address->prefix; ++bit) {
    if (cidr->bytes[bit / 8] & (0x80 >> (bit % 8))) {
      *problem = "address bits beyond the prefix length must be zero";
      return "";
    }
  }
  std::array<char, INET6_ADDRSTRLEN> canonical{};
  inet_ntop(cidr->family, cidr->bytes.data(), canonical.data(), canonical.size());
  return std::string(canonical.data()) + "/" + std::to_string(cidr->prefix);
}

namespace {
// "999.1.1.1" is a mistyped address, not a host name.
bool looksNumeric(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}
}  // namespace

void OutboundConfigReader::readAllow(const Item& list, OutboundConfig& out) const {
  for (const Item& e : yaml_.list(list)) {
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

}  // namespace px::config

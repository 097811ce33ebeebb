// Reads `outbound.allow` (OutboundConfig) with YamlReader's file:line: key errors; the section's
// scalar keys are read through the schema (ConfigSchema.cc).
#pragma once

#include "config/OutboundConfig.h"
#include "config/YamlReader.h"

namespace px::config {

class OutboundConfigReader {
 public:
  explicit OutboundConfigReader(const YamlReader& yaml) : yaml_(yaml) {}

  // The allow list into out.allowCidrs and out.allowHosts.
  void readAllow(const Item& list, OutboundConfig& out) const;

 private:
  const YamlReader& yaml_;
};

// "<address>/<prefix>" with the address in canonical form, or "" when `text` is not an IPv4/IPv6
// address optionally followed by /prefix (0..32 or 0..128); a bare address gets the full prefix.
// Host bits beyond the prefix must be zero ("10.0.0.1/8" is refused as ambiguous).
std::string normaliseCidr(const std::string& text, std::string* problem);

}  // namespace px::config

// Where terminal statuses come from (presence.source) and the parameters that make the shared
// fetch and subscription machinery speak one event package: its Event and Accept and its
// document mapper. "both" runs the reg and the presence package side by side and combines their
// statuses with combineStatus().
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "presence/DocumentMapper.h"
#include "presence/TerminalStatus.h"

namespace px {

struct EventPackage {
  std::string event;   // Event of every SUBSCRIBE; NOTIFYs must carry the same
  std::string accept;  // Accept of every SUBSCRIBE
  std::shared_ptr<const DocumentMapper> mapper;
  std::string supported;  // Supported of every SUBSCRIBE ("eventlist" for RLS lists); "" none
};

// "presence" (RFC 3856), application/pidf+xml, PresenceDocumentMapper.
EventPackage presencePackage(std::vector<std::string> busyActivities);
// "reg" (RFC 3680), application/reginfo+xml, RegInfoDocumentMapper.
EventPackage regPackage();

// presence.source "both": reachability from the registration, Busy from presence.
// - reg Unreachable                          -> Unreachable (whatever presence says)
// - reg Reachable, presence Busy             -> Busy
// - reg Reachable, presence anything else or unknown (no answer yet, failed) -> Reachable
constexpr TerminalStatus combineStatus(TerminalStatus reg, std::optional<TerminalStatus> presence) {
  if (reg != TerminalStatus::kReachable) return TerminalStatus::kUnreachable;
  return presence == TerminalStatus::kBusy ? TerminalStatus::kBusy : TerminalStatus::kReachable;
}

}  // namespace px

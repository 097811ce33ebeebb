// Whose NOTIFYs the watcher believes (issue 12). Pure apart from the one name lookup at start.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/IpCidr.h"
#include "config/GatewayConfig.h"

namespace px {

class NotifySources {
 public:
  NotifySources() = default;
  // The presence server's host (an IP literal, or a name resolved once here: NTA resolves the
  // same name for every SUBSCRIBE anyway) and sip.trustedNotifySources.
  static NotifySources resolve(const SipConfig& sip);
  // For tests: these sources; check off when `check` is false.
  NotifySources(std::vector<IpCidr> sources, bool check)
      : sources_(std::move(sources)), check_(check) {}

  // A NOTIFY of a dialog is taken from: the presence server or a trusted source, the source of
  // the dialog's 2xx, or the host (IP literal) of its remote target or first route. A NOTIFY
  // that overtakes the 2xx therefore needs the presence server's or a trusted address. Only the
  // IP is compared: over TCP the notifier's source port is an ephemeral one.
  bool allowed(const std::optional<IpCidr>& source, const std::optional<IpCidr>& peer,
               const std::string* remoteTarget, const std::string* firstHop) const;

  // Always accepted sources (the TCP guard keeps their connections first).
  const std::vector<IpCidr>& trusted() const { return sources_; }

 private:
  std::vector<IpCidr> sources_;
  bool check_ = true;
};

}  // namespace px

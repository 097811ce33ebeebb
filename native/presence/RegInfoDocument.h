// Maps a registration-state document (RFC 3680 "reg" event package, application/reginfo+xml) to
// a TerminalStatus: registered means reachable (the seed's definition). Busy never comes from
// here; with presence.source "both" it comes from the presence subscription (StatusSource.h).
#pragma once

#include <string_view>

#include "presence/DocumentMapper.h"

namespace px {

// Rule (documented in README "Registration state as a status source"):
// - no body at all (empty): nothing registered for the AoR            -> Unreachable
// - state="full": Reachable when some <registration> has state="active" and at least one
//   <contact> child with state="active"; otherwise (init/terminated registrations, only
//   terminated contacts, no registration)                              -> Unreachable
// - state="partial" (RFC 3680 §5.3: only changed registrations and contacts are listed):
//   no <registration> at all -> unchanged (a subscription keeps its last status; a fetch, which
//   always gets full state, Unreachable); else Reachable when a listed registration is "active"
//   (an active registration has at least one active contact, §5.1), otherwise Unreachable
// - every registration in the document counts (the notifier chooses them for the subscribed
//   AoR, implicitly registered AoRs included); the version attribute is not tracked
// - !ok (status Unreachable): not well-formed XML, a DOCTYPE or entity declaration, a root other
//   than {urn:ietf:params:xml:ns:reginfo}reginfo, a reginfo state other than full/partial
//   (or none), a registration state other than init/active/terminated, a contact state other
//   than active/terminated, a content type other than application/reginfo+xml (parameters
//   allowed, case-insensitive), or a body over 1 MiB
class RegInfoDocumentMapper : public DocumentMapper {
 public:
  PresenceMapping map(std::string_view contentType, std::string_view body) const override;
};

}  // namespace px

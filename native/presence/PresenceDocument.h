// Maps a PIDF (RFC 3863) document with RPID (RFC 4480) extensions to a TerminalStatus.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "presence/DocumentMapper.h"
#include "presence/TerminalStatus.h"

namespace px {

// Rule (documented in README "Presence to status"):
// - no body at all (empty)                                   -> Unreachable
// - any <tuple> whose <status><basic> is "open"               -> Reachable, or Busy when an
//   RPID <activities> child (anywhere in the document: person, tuple or device) has a local
//   name in busyActivities (exact match), or is an <rpid:other> whose trimmed text is in it.
//   Only presence/tuple/status/basic (PIDF namespace) counts; the value is whitespace-trimmed.
// - every tuple "closed", tuples without <basic>, or no tuple -> Unreachable
// - not well-formed XML, a DOCTYPE or entity declaration, a root other than
//   {urn:ietf:params:xml:ns:pidf}presence, a <basic> other than open/closed, or a content type
//   other than application/pidf+xml (parameters allowed, case-insensitive), or a body over
//   1 MiB  -> !ok (status Unreachable)
class PresenceDocumentMapper : public DocumentMapper {
 public:
  explicit PresenceDocumentMapper(std::vector<std::string> busyActivities);

  PresenceMapping map(std::string_view contentType, std::string_view body) const override;

 private:
  struct ParserCache;  // one reusable expat parser: creating one per NOTIFY dominated the cost

  std::vector<std::string> busyActivities_;
  std::shared_ptr<ParserCache> cache_;
};

}  // namespace px

// RFC 4662 resource list NOTIFY bodies: multipart/related (RFC 2387) with an RLMI root
// (application/rlmi+xml) and one part per resource instance, found by Content-ID. Each member's
// part is mapped with the package's document mapper (PIDF: PresenceDocumentMapper), so a member's
// status means exactly what a per-terminal fetch of it would mean. Pure: no Sofia, no clock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "presence/DocumentMapper.h"
#include "presence/TerminalStatus.h"

namespace px {

// What the list says of one member (resource).
struct ListMemberState {
  std::string uri;  // the <resource uri>, as sent
  // kUnknown: the resource is listed without an instance, or its instances are all pending: the
  // RLS has no state for it (yet).
  enum class Kind { kUnknown, kStatus, kBadDocument } kind = Kind::kUnknown;
  TerminalStatus status = TerminalStatus::kUnreachable;  // kStatus
  std::string detail;  // kBadDocument: why; kStatus: "terminated: <reason>" or "no document"
};

struct ListNotification {
  bool ok = false;
  std::string error;  // !ok: why the body could not be used
  std::string listUri;
  uint32_t version = 0;
  bool fullState = false;
  std::vector<ListMemberState> members;
};

struct ListLimits {
  std::size_t maxBodyBytes = 4 * 1024 * 1024;
  std::size_t maxParts = 20000;
  std::size_t maxResources = 10000;
};

// True for "multipart/related" (parameters allowed, case-insensitive).
bool isMultipartRelated(std::string_view contentType);

// Parses one NOTIFY body. Rules (README "Resource lists"):
// - the Content-Type must be multipart/related with a boundary; the root part is the one whose
//   Content-ID is the `start` parameter (else the first part) and must be application/rlmi+xml
//   with a <list uri version fullState> root in urn:ietf:params:xml:ns:rlmi;
// - a resource's state comes from its first active instance (else terminated, else pending):
//   active with a cid whose part exists -> the part mapped by `mapper`; active without a cid, or
//   whose cid names no part, or terminated -> Unreachable (as a fetch answered without a
//   document); pending only or no instance -> kUnknown;
// - over the limits, malformed boundaries or XML (DOCTYPE refused) -> !ok.
ListNotification parseListNotification(std::string_view contentType, std::string_view body,
                                       const DocumentMapper& mapper, const ListLimits& limits = {});

// The merged state of one list subscription: full-state NOTIFYs replace it, partial ones
// (fullState="false") update the members they name, in version order (RFC 4662 §5.2).
class ResourceListState {
 public:
  enum class Applied {
    kApplied,  // merged; changed() lists the members whose state changed
    kStale,    // a version already seen: ignored
    kGap,      // a partial state whose version is not last + 1 (or before any full state):
               // ignored; the subscriber must get a full state again (re-SUBSCRIBE)
  };
  Applied apply(const ListNotification& notification);

  bool hasFullState() const { return version_.has_value(); }
  uint32_t version() const { return version_.value_or(0); }
  // Members by normalized URI (normalizeMemberUri).
  const std::map<std::string, ListMemberState>& members() const { return members_; }
  const std::vector<std::string>& changed() const { return changed_; }
  void reset();

 private:
  std::optional<uint32_t> version_;
  std::map<std::string, ListMemberState> members_;
  std::vector<std::string> changed_;
};

// The form member URIs are compared in: scheme and host part lower-case, user part and
// parameters as written, without angle brackets.
std::string normalizeMemberUri(std::string_view uri);

}  // namespace px

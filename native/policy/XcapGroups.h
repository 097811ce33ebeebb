// The XCAP group source (config groups.xcap, docs/policy.md "Group sources"): groups are RFC 4826
// resource lists in one document of an XDMS. A group URI `<group scheme>:<name>` that the YAML
// groups do not list names the top-level <list name="<name>"> of that document; its members are
// the <entry> URIs of the list and, recursively, of its nested <list>s and of the lists its
// <external anchor>s point at (XCAP URIs below the configured root, with a node selector
// `resource-lists/list[@name="..."]...`).
//
// The source decides; it does no I/O. The JS side asks which documents are needed (needed()),
// fetches them with node:http under one deadline, and hands each result back (store()); then the
// policy resolves the group from the cache (resolve()). A group is unresolved, and the request
// refused with UNRESOLVED_GROUPS (15), when a document it needs was not fetched (timeout, HTTP
// error, not XML, not resource-lists), the list or an anchor's list is missing, an anchor leaves
// the root or has an unsupported selector, an <entry-ref> is met, a list contains itself
// (directly or through others), or the nesting is deeper than maxDepth.
//
// Threading: not thread-safe; the policy engine's thread (the JS thread) only.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/GatewayConfig.h"
#include "policy/ResourceLists.h"

namespace px::policy {

class XcapGroups {
 public:
  explicit XcapGroups(const XcapGroupsConfig& config);

  bool enabled() const { return !documentUrl_.empty(); }
  // The configured document's URL (<root>/resource-lists/users/<user>/index, or root/path).
  const std::string& documentUrl() const { return documentUrl_; }

  // The documents to fetch before the groups `names` can be resolved: not fetched yet, failed,
  // or fetched cacheSec or more ago; each once. Only the documents the walk reaches through
  // fresh ones are named, so a caller asks again after storing (one round per nesting level).
  std::vector<std::string> needed(const std::vector<std::string>& names, int64_t nowMs) const;

  // The outcome of a fetch: `body` of a 200 answer, or nullopt with `error` (timeout, status).
  void store(const std::string& url, std::optional<std::string_view> body, std::string_view error,
             int64_t nowMs);

  struct Resolution {
    bool ok = false;
    std::vector<std::string> members;  // entry URIs as written, in document order, repeats kept
    std::string error;                 // why not, when !ok
    // The group's list holds a nested <list> or an <external> reference (NestedGroupSupport,
    // POL0007): known as soon as the group's own list is found, so also set when a nested list
    // could not be resolved.
    bool nested = false;
  };
  // The group `name` from the documents stored, however old.
  Resolution resolve(std::string_view name) const;

  size_t cachedDocuments() const { return cache_.size(); }

 private:
  struct Cached {
    int64_t fetchedMs = 0;
    bool ok = false;
    ResourceListsDocument document;
    std::string error;
  };
  struct Walk;
  bool walkDocument(Walk& w, const std::string& url, const std::vector<std::string>& path,
                    uint32_t depth) const;
  bool walkList(Walk& w, const std::string& url, const Cached& doc, size_t index,
                uint32_t depth) const;

  std::string root_;
  std::string documentUrl_;
  int64_t cacheMs_;
  uint32_t maxDepth_;
  std::map<std::string, Cached, std::less<>> cache_;
};

}  // namespace px::policy

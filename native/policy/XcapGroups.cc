#include "policy/XcapGroups.h"

#include <set>
#include <utility>

namespace px::policy {

struct XcapGroups::Walk {
  bool refresh = false;  // needed(): stale and failed documents are to be fetched again
  int64_t nowMs = 0;
  std::set<std::string>* missing = nullptr;  // needed(): what to fetch
  std::vector<std::string> members;
  std::string error;
  bool nested = false;                              // a <list> or <external> item was met
  std::set<std::pair<std::string, size_t>> onPath;  // lists being expanded (loop detection)
};

XcapGroups::XcapGroups(const XcapGroupsConfig& config)
    : root_(config.root), cacheMs_(int64_t{config.cacheSec} * 1000), maxDepth_(config.maxDepth) {
  if (root_.empty()) return;
  documentUrl_ = root_ + "/" +
                 (config.documentPath.empty() ? "resource-lists/users/" + config.user + "/index"
                                              : config.documentPath);
}

std::vector<std::string> XcapGroups::needed(const std::vector<std::string>& names,
                                            int64_t nowMs) const {
  std::set<std::string> missing;
  for (const std::string& name : names) {
    Walk w;
    w.refresh = true;
    w.nowMs = nowMs;
    w.missing = &missing;
    walkDocument(w, documentUrl_, {name}, 0);
  }
  return {missing.begin(), missing.end()};
}

void XcapGroups::store(const std::string& url, std::optional<std::string_view> body,
                       std::string_view error, int64_t nowMs) {
  Cached c;
  c.fetchedMs = nowMs;
  if (body) {
    ResourceListsParse parsed = parseResourceLists(*body);
    c.ok = parsed.ok;
    c.document = std::move(parsed.document);
    if (!parsed.ok) c.error = "not a resource-lists document: " + parsed.error;
  } else {
    c.error = std::string(error);
  }
  cache_.insert_or_assign(url, std::move(c));
}

XcapGroups::Resolution XcapGroups::resolve(std::string_view name) const {
  Walk w;
  Resolution r;
  r.ok = walkDocument(w, documentUrl_, {std::string(name)}, 0);
  r.nested = w.nested;
  if (r.ok) {
    r.members = std::move(w.members);
  } else {
    r.error = std::move(w.error);
  }
  return r;
}

bool XcapGroups::walkDocument(Walk& w, const std::string& url, const std::vector<std::string>& path,
                              uint32_t depth) const {
  const auto it = cache_.find(url);
  const bool fresh = it != cache_.end() && it->second.ok &&
                     (!w.refresh || w.nowMs - it->second.fetchedMs < cacheMs_);
  if (w.refresh && !fresh) {
    w.missing->insert(url);
    return true;  // the walk goes on once it is fetched
  }
  if (it == cache_.end()) {
    w.error = url + " was not fetched";
    return false;
  }
  if (!it->second.ok) {
    w.error = url + ": " + it->second.error;
    return false;
  }
  const std::optional<size_t> index = it->second.document.find(path);
  if (!index) {
    std::string shown;
    for (const std::string& step : path) shown += "/" + step;
    w.error = "no list " + shown + " in " + url;
    return false;
  }
  return walkList(w, url, it->second, *index, depth);
}

bool XcapGroups::walkList(Walk& w, const std::string& url, const Cached& doc, size_t index,
                          uint32_t depth) const {
  if (depth > maxDepth_) {
    w.error = "lists nested deeper than groups.xcap.maxDepth (" + std::to_string(maxDepth_) +
              ") in " + url;
    return false;
  }
  const auto key = std::make_pair(url, index);
  if (!w.onPath.insert(key).second) {
    w.error = "list '" + doc.document.lists[index].name + "' of " + url + " contains itself";
    return false;
  }
  for (const ResourceListItem& item : doc.document.lists[index].items) {
    bool ok = true;
    switch (item.kind) {
      case ResourceListItem::Kind::kEntry:
        w.members.push_back(item.value);
        break;
      case ResourceListItem::Kind::kList:
        w.nested = true;
        ok = walkList(w, url, doc, item.list, depth + 1);
        break;
      case ResourceListItem::Kind::kExternal: {
        // <root>/<document path>/~~/<node selector>, below the configured root only.
        w.nested = true;
        const std::string& anchor = item.value;
        const size_t selector = anchor.find("/~~/");
        std::optional<std::vector<std::string>> path;
        if (selector != std::string::npos)
          path = listPathOfNodeSelector(anchor.substr(selector + 4));
        if (anchor.compare(0, root_.size() + 1, root_ + "/") != 0) {
          w.error = "external anchor " + anchor + " is not below the XCAP root " + root_;
          ok = false;
        } else if (!path) {
          w.error = "external anchor " + anchor + " does not select a list by name";
          ok = false;
        } else {
          ok = walkDocument(w, anchor.substr(0, selector), *path, depth + 1);
        }
        break;
      }
      case ResourceListItem::Kind::kEntryRef:
        w.error = "<entry-ref ref=\"" + item.value + "\"> in " + url + " is not supported";
        ok = false;
        break;
    }
    if (!ok) return false;
  }
  w.onPath.erase(key);
  return true;
}

}  // namespace px::policy

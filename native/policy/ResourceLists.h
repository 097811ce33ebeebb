// RFC 4826 resource-lists documents (application/resource-lists+xml), as an XDMS serves them over
// XCAP: the groups of the XCAP group source (XcapGroups.h). Parsed in one pass of expat, the
// parser of the PIDF mapper (native/presence); DOCTYPEs and entity declarations are refused.
//
// Kept: every <list> (top-level and nested) with its name, and in order its <entry uri>, nested
// <list>, <external anchor> and <entry-ref ref> items. <display-name> and elements of other
// namespaces (extensions) are skipped.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace px::policy {

struct ResourceListItem {
  enum class Kind { kEntry, kList, kExternal, kEntryRef };
  Kind kind = Kind::kEntry;
  std::string value;     // kEntry: uri; kExternal: anchor; kEntryRef: ref (as written)
  std::size_t list = 0;  // kList: index in ResourceListsDocument::lists
};

struct ResourceList {
  std::string name;  // "" when the list has none
  std::vector<ResourceListItem> items;
};

struct ResourceListsDocument {
  std::vector<ResourceList> lists;  // every list, a nested one after its parent
  std::vector<std::size_t> top;     // the top-level lists, in document order

  // The list at `path`: names from a top-level list down through nested ones; nullopt when
  // a step names no list.
  std::optional<std::size_t> find(const std::vector<std::string>& path) const;
};

struct ResourceListsParse {
  bool ok = false;
  ResourceListsDocument document;
  std::string error;  // when !ok: why, with the line for XML errors
};

// Limits of one document: bodies larger than 1 MiB, lists nested deeper than 32 levels within
// the document, and more than 100000 items are refused.
ResourceListsParse parseResourceLists(std::string_view xml);

// An XCAP node selector for a list (RFC 4825 §6.3), percent-decoded or not:
// "resource-lists/list[@name="a"]/list[@name="b"]" -> {"a", "b"}. Steps may carry a namespace
// prefix ("rl:list"). nullopt for any other selector (positions, entries, other documents).
std::optional<std::vector<std::string>> listPathOfNodeSelector(std::string_view selector);

// "%5b" -> "[" ...; nullopt for a malformed escape.
std::optional<std::string> percentDecode(std::string_view text);

}  // namespace px::policy

#include "policy/ResourceLists.h"

#include <expat.h>

#include <memory>
#include <type_traits>
#include <utility>

namespace px::policy {
namespace {

constexpr std::size_t kMaxBodyBytes = 1024 * 1024;
constexpr std::size_t kMaxNesting = 32;
constexpr std::size_t kMaxItems = 100000;
// Expat reports "namespace-URI<sep>local-name"; a space cannot occur in a namespace URI.
constexpr XML_Char kNsSeparator = ' ';
constexpr std::string_view kNs = "urn:ietf:params:xml:ns:resource-lists";

struct ParserDeleter {
  void operator()(XML_Parser parser) const noexcept { XML_ParserFree(parser); }
};
using ParserPtr = std::unique_ptr<std::remove_pointer_t<XML_Parser>, ParserDeleter>;

struct ParseState {
  XML_Parser parser = nullptr;
  ResourceListsDocument doc;
  // Open elements: a list's index, or kSkipped for everything the groups do not need.
  std::vector<std::size_t> stack;
  std::size_t items = 0;
  bool rootSeen = false;
  std::string error;
};
constexpr std::size_t kSkipped = static_cast<std::size_t>(-1);
constexpr std::size_t kRoot = static_cast<std::size_t>(-2);

void stop(ParseState& s, std::string why) {
  if (!s.error.empty()) return;
  s.error = std::move(why);
  XML_StopParser(s.parser, XML_FALSE);
}

std::string_view localNameIn(std::string_view name, bool& inNs) {
  const std::size_t sep = name.rfind(kNsSeparator);
  inNs = sep != std::string_view::npos && name.substr(0, sep) == kNs;
  return sep == std::string_view::npos ? name : name.substr(sep + 1);
}

const XML_Char* attribute(const XML_Char** attributes, std::string_view wanted) {
  // Unprefixed attributes have no namespace: expat reports them by local name.
  for (std::size_t i = 0; attributes[i] != nullptr; i += 2) {
    if (wanted == attributes[i]) return attributes[i + 1];
  }
  return nullptr;
}

void onStartElement(void* userData, const XML_Char* name, const XML_Char** attributes) {
  auto& s = *static_cast<ParseState*>(userData);
  if (!s.error.empty()) return;
  bool inNs = false;
  const std::string_view local = localNameIn(name, inNs);
  if (s.stack.empty()) {
    if (s.rootSeen || !inNs || local != "resource-lists") {
      stop(s, "root element is not {" + std::string(kNs) + "}resource-lists");
      return;
    }
    s.rootSeen = true;
    s.stack.push_back(kRoot);
    return;
  }
  const std::size_t parent = s.stack.back();
  if (parent == kSkipped || !inNs || (parent == kRoot && local != "list")) {
    s.stack.push_back(kSkipped);
    return;
  }
  if (++s.items > kMaxItems) return stop(s, "more than 100000 items");
  if (local == "list") {
    if (s.stack.size() > kMaxNesting) return stop(s, "lists nested deeper than 32 levels");
    const XML_Char* listName = attribute(attributes, "name");
    const std::size_t index = s.doc.lists.size();
    s.doc.lists.push_back(ResourceList{listName != nullptr ? listName : "", {}});
    if (parent == kRoot) {
      s.doc.top.push_back(index);
    } else {
      ResourceListItem item;
      item.kind = ResourceListItem::Kind::kList;
      item.list = index;
      s.doc.lists[parent].items.push_back(std::move(item));
    }
    s.stack.push_back(index);
    return;
  }
  struct ItemKind {
    std::string_view element;
    std::string_view attribute;
    ResourceListItem::Kind kind;
  };
  static constexpr ItemKind kItems[] = {
      {"entry", "uri", ResourceListItem::Kind::kEntry},
      {"external", "anchor", ResourceListItem::Kind::kExternal},
      {"entry-ref", "ref", ResourceListItem::Kind::kEntryRef},
  };
  for (const ItemKind& k : kItems) {
    if (local != k.element) continue;
    const XML_Char* value = attribute(attributes, k.attribute);
    if (value == nullptr || *value == '\0') {
      return stop(s, "<" + std::string(k.element) + "> without " + std::string(k.attribute) +
                         " at line " + std::to_string(XML_GetCurrentLineNumber(s.parser)));
    }
    ResourceListItem item;
    item.kind = k.kind;
    item.value = value;
    s.doc.lists[parent].items.push_back(std::move(item));
    break;
  }
  // <display-name>, and the children of an entry: nothing the groups need.
  s.stack.push_back(kSkipped);
}

void onEndElement(void* userData, const XML_Char* /*name*/) {
  auto& s = *static_cast<ParseState*>(userData);
  if (s.error.empty() && !s.stack.empty()) s.stack.pop_back();
}

void onStartDoctype(void* userData, const XML_Char* /*doctypeName*/, const XML_Char* /*sysid*/,
                    const XML_Char* /*pubid*/, int /*hasInternalSubset*/) {
  stop(*static_cast<ParseState*>(userData), "DOCTYPE is not allowed in a resource-lists document");
}

void onEntityDecl(void* userData, const XML_Char* /*entityName*/, int /*isParameterEntity*/,
                  const XML_Char* /*value*/, int /*valueLength*/, const XML_Char* /*base*/,
                  const XML_Char* /*systemId*/, const XML_Char* /*publicId*/,
                  const XML_Char* /*notationName*/) {
  stop(*static_cast<ParseState*>(userData), "entity declarations are not allowed");
}

ResourceListsParse failure(std::string why) {
  ResourceListsParse p;
  p.error = std::move(why);
  return p;
}

}  // namespace

std::optional<std::size_t> ResourceListsDocument::find(const std::vector<std::string>& path) const {
  if (path.empty()) return std::nullopt;
  const std::vector<std::size_t>* candidates = &top;
  std::vector<std::size_t> nested;
  std::optional<std::size_t> found;
  for (const std::string& step : path) {
    found.reset();
    for (const std::size_t index : *candidates) {
      if (lists[index].name == step) {
        found = index;
        break;
      }
    }
    if (!found) return std::nullopt;
    nested.clear();
    for (const ResourceListItem& item : lists[*found].items) {
      if (item.kind == ResourceListItem::Kind::kList) nested.push_back(item.list);
    }
    candidates = &nested;
  }
  return found;
}

ResourceListsParse parseResourceLists(std::string_view xml) {
  if (xml.size() > kMaxBodyBytes) return failure("document larger than 1 MiB");
  const ParserPtr parser(XML_ParserCreateNS(nullptr, kNsSeparator));
  if (!parser) return failure("out of memory creating the XML parser");
  XML_Parser p = parser.get();
  ParseState state;
  state.parser = p;
  XML_SetUserData(p, &state);
  XML_SetElementHandler(p, onStartElement, onEndElement);
  XML_SetStartDoctypeDeclHandler(p, onStartDoctype);
  XML_SetEntityDeclHandler(p, onEntityDecl);
  XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
  if (XML_Parse(p, xml.data(), static_cast<int>(xml.size()), XML_TRUE) == XML_STATUS_ERROR) {
    if (!state.error.empty()) return failure(std::move(state.error));
    return failure(std::string("not well-formed XML: ") + XML_ErrorString(XML_GetErrorCode(p)) +
                   " at line " + std::to_string(XML_GetCurrentLineNumber(p)));
  }
  if (!state.error.empty()) return failure(std::move(state.error));
  if (!state.rootSeen) return failure("empty document");
  ResourceListsParse result;
  result.ok = true;
  result.document = std::move(state.doc);
  return result;
}

std::optional<std::string> percentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int hi = hex(text[i + 1]);
    const int lo = hex(text[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

std::optional<std::vector<std::string>> listPathOfNodeSelector(std::string_view selector) {
  const std::optional<std::string> decoded = percentDecode(selector);
  if (!decoded) return std::nullopt;
  std::string_view rest = *decoded;
  // A step is "[prefix:]name" followed by an optional predicate.
  const auto stripPrefix = [](std::string_view step) {
    const std::size_t colon = step.find(':');
    return colon == std::string_view::npos ? step : step.substr(colon + 1);
  };
  std::vector<std::string> path;
  bool first = true;
  while (!rest.empty()) {
    // Split at the next '/' outside quotes.
    std::size_t end = 0;
    char quote = 0;
    for (; end < rest.size(); ++end) {
      const char c = rest[end];
      if (quote != 0) {
        if (c == quote) quote = 0;
      } else if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == '/') {
        break;
      }
    }
    const std::string_view step = rest.substr(0, end);
    rest = end < rest.size() ? rest.substr(end + 1) : std::string_view{};
    if (first) {
      if (stripPrefix(step) != "resource-lists") return std::nullopt;
      first = false;
      continue;
    }
    const std::size_t open = step.find('[');
    if (open == std::string_view::npos || step.back() != ']') return std::nullopt;
    if (stripPrefix(step.substr(0, open)) != "list") return std::nullopt;
    std::string_view predicate = step.substr(open + 1, step.size() - open - 2);
    constexpr std::string_view kName = "@name=";
    if (predicate.substr(0, kName.size()) != kName) return std::nullopt;
    predicate.remove_prefix(kName.size());
    if (predicate.size() < 2 || (predicate.front() != '"' && predicate.front() != '\'') ||
        predicate.back() != predicate.front()) {
      return std::nullopt;
    }
    path.emplace_back(predicate.substr(1, predicate.size() - 2));
  }
  if (path.empty()) return std::nullopt;
  return path;
}

}  // namespace px::policy

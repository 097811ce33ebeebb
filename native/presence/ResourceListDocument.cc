// multipart/related + RLMI in two steps: the MIME split (string views into the body, no copy)
// and one streaming expat pass over the RLMI root; each member's part then goes to the
// package's mapper. Documents come from the network: DOCTYPEs and entity declarations are
// refused, sizes and counts are bounded before anything is allocated per part.
#include "presence/ResourceListDocument.h"

#include <expat.h>

#include <memory>
#include <type_traits>
#include <unordered_map>
#include <utility>

namespace px {
namespace {

constexpr XML_Char kNsSeparator = ' ';
constexpr std::string_view kRlmiNs = "urn:ietf:params:xml:ns:rlmi";

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view trim(std::string_view s, std::string_view blanks = " \t\r\n") {
  const std::size_t first = s.find_first_not_of(blanks);
  if (first == std::string_view::npos) return {};
  const std::size_t last = s.find_last_not_of(blanks);
  return s.substr(first, last - first + 1);
}

std::string_view mediaType(std::string_view contentType) {
  return trim(contentType.substr(0, contentType.find(';')), " \t");
}

// A parameter of a Content-Type (quotes removed); nullopt when absent.
std::optional<std::string_view> parameter(std::string_view contentType, std::string_view name) {
  std::size_t pos = contentType.find(';');
  while (pos != std::string_view::npos) {
    std::string_view rest = contentType.substr(pos + 1);
    // A quoted value may hold ';': find the end of this parameter with quotes in mind.
    std::size_t end = 0;
    bool quoted = false;
    for (; end < rest.size(); ++end) {
      if (rest[end] == '"') quoted = !quoted;
      if (rest[end] == ';' && !quoted) break;
    }
    const std::string_view param = trim(rest.substr(0, end), " \t");
    const std::size_t eq = param.find('=');
    if (eq != std::string_view::npos && iequals(trim(param.substr(0, eq), " \t"), name)) {
      std::string_view value = trim(param.substr(eq + 1), " \t");
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      return value;
    }
    pos = end < rest.size() ? pos + 1 + end : std::string_view::npos;
  }
  return std::nullopt;
}

// "<id>", "cid:id" or "id" -> "id".
std::string_view bareId(std::string_view id) {
  id = trim(id, " \t");
  if (id.size() >= 2 && id.front() == '<' && id.back() == '>') id = id.substr(1, id.size() - 2);
  if (id.size() > 4 && iequals(id.substr(0, 4), "cid:")) id = id.substr(4);
  return id;
}

struct Part {
  std::string_view contentId;
  std::string_view contentType;
  std::string_view body;
};

// Splits a multipart body (RFC 2046 §5.1.1). False with `error` when malformed.
bool splitMultipart(std::string_view body, std::string_view boundary, std::size_t maxParts,
                    std::vector<Part>& parts, std::string& error) {
  const std::string delimiter = "--" + std::string(boundary);
  // Delimiters start a line: at the very start of the body or after a line feed.
  std::size_t pos = body.rfind(delimiter, 0) == 0 ? 0 : body.find("\n" + delimiter);
  if (pos == std::string_view::npos) {
    error = "multipart body without its boundary";
    return false;
  }
  if (pos != 0) pos += 1;
  for (;;) {
    std::size_t after = pos + delimiter.size();
    if (body.compare(after, 2, "--") == 0) return true;  // close delimiter
    const std::size_t eol = body.find('\n', after);
    if (eol == std::string_view::npos) {
      error = "multipart body ends without its close delimiter";
      return false;
    }
    const std::size_t start = eol + 1;
    const std::size_t next = body.find("\n" + delimiter, start > 0 ? start - 1 : 0);
    if (next == std::string_view::npos) {
      error = "multipart body ends without its close delimiter";
      return false;
    }
    std::string_view content = body.substr(start, next + 1 - start);
    // The line break before the delimiter belongs to it.
    if (!content.empty() && content.back() == '\n') content.remove_suffix(1);
    if (!content.empty() && content.back() == '\r') content.remove_suffix(1);
    if (parts.size() >= maxParts) {
      error = "multipart body with more than " + std::to_string(maxParts) + " parts";
      return false;
    }
    Part part;
    std::size_t headersEnd = content.find("\r\n\r\n");
    std::size_t skip = 4;
    const std::size_t lf = content.find("\n\n");
    if (lf != std::string_view::npos && (headersEnd == std::string_view::npos || lf < headersEnd)) {
      headersEnd = lf;
      skip = 2;
    }
    std::string_view headers;
    if (content.rfind("\r\n", 0) == 0 || content.rfind("\n", 0) == 0) {
      part.body = content.substr(content.front() == '\r' ? 2 : 1);  // no headers
    } else if (headersEnd == std::string_view::npos) {
      headers = content;  // headers only, no body
    } else {
      headers = content.substr(0, headersEnd);
      part.body = content.substr(headersEnd + skip);
    }
    while (!headers.empty()) {
      const std::size_t nl = headers.find('\n');
      const std::string_view line = trim(headers.substr(0, nl), "\r");
      headers = nl == std::string_view::npos ? std::string_view() : headers.substr(nl + 1);
      const std::size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      const std::string_view name = trim(line.substr(0, colon), " \t");
      const std::string_view value = trim(line.substr(colon + 1), " \t");
      if (iequals(name, "Content-ID")) part.contentId = bareId(value);
      if (iequals(name, "Content-Type")) part.contentType = value;
    }
    parts.push_back(part);
    pos = next + 1;
  }
}

struct ParserDeleter {
  void operator()(XML_Parser parser) const noexcept { XML_ParserFree(parser); }
};
using ParserPtr = std::unique_ptr<std::remove_pointer_t<XML_Parser>, ParserDeleter>;

struct RlmiInstance {
  std::string state;
  std::string reason;
  std::string cid;
};
struct RlmiResource {
  std::string uri;
  std::vector<RlmiInstance> instances;
};

struct RlmiState {
  XML_Parser parser = nullptr;
  std::size_t maxResources = 0;
  int depth = 0;
  bool sawList = false;
  std::string listUri;
  std::optional<uint32_t> version;
  std::optional<bool> fullState;
  std::vector<RlmiResource> resources;
  bool inResource = false;
  std::string error;
};

void stop(RlmiState& s, std::string why) {
  if (!s.error.empty()) return;
  s.error = std::move(why);
  XML_StopParser(s.parser, XML_FALSE);
}

bool isRlmi(std::string_view name, std::string_view local) {
  return name.size() == kRlmiNs.size() + 1 + local.size() &&
         name.substr(0, kRlmiNs.size()) == kRlmiNs && name[kRlmiNs.size()] == ' ' &&
         name.substr(kRlmiNs.size() + 1) == local;
}

const XML_Char* attribute(const XML_Char** atts, std::string_view name) {
  for (int i = 0; atts[i]; i += 2) {
    if (name == atts[i]) return atts[i + 1];
  }
  return nullptr;
}

void XMLCALL onStart(void* data, const XML_Char* name, const XML_Char** atts) {
  auto& s = *static_cast<RlmiState*>(data);
  const std::string_view n(name);
  s.depth++;
  if (s.depth == 1) {
    if (!isRlmi(n, "list")) return stop(s, "RLMI root is not {urn:ietf:params:xml:ns:rlmi}list");
    s.sawList = true;
    if (const char* uri = attribute(atts, "uri")) s.listUri = uri;
    if (const char* version = attribute(atts, "version")) {
      const std::string_view v = trim(version);
      uint64_t value = 0;
      bool digits = !v.empty() && v.size() <= 10;
      for (char c : v) {
        if (c < '0' || c > '9') digits = false;
        value = value * 10 + static_cast<uint64_t>(c - '0');
      }
      if (!digits || value > UINT32_MAX) return stop(s, "RLMI list version is not a number");
      s.version = static_cast<uint32_t>(value);
    }
    if (const char* full = attribute(atts, "fullState")) {
      const std::string_view f = trim(full);
      if (f == "true" || f == "1")
        s.fullState = true;
      else if (f == "false" || f == "0")
        s.fullState = false;
      else
        return stop(s, "RLMI fullState is not a boolean");
    }
    return;
  }
  if (s.depth == 2 && isRlmi(n, "resource")) {
    if (s.resources.size() >= s.maxResources) {
      return stop(s, "RLMI list with more than " + std::to_string(s.maxResources) + " resources");
    }
    const char* uri = attribute(atts, "uri");
    if (!uri || !*uri) return stop(s, "RLMI resource without uri");
    s.resources.push_back(RlmiResource{uri, {}});
    s.inResource = true;
    return;
  }
  if (s.depth == 3 && s.inResource && isRlmi(n, "instance")) {
    RlmiInstance instance;
    if (const char* state = attribute(atts, "state")) instance.state = trim(state);
    if (const char* reason = attribute(atts, "reason")) instance.reason = reason;
    if (const char* cid = attribute(atts, "cid")) instance.cid = bareId(cid);
    if (s.resources.back().instances.size() < 64) {
      s.resources.back().instances.push_back(std::move(instance));
    }
  }
}

void XMLCALL onEnd(void* data, const XML_Char*) {
  auto& s = *static_cast<RlmiState*>(data);
  if (s.depth == 2) s.inResource = false;
  s.depth--;
}

void XMLCALL onDoctype(void* data, const XML_Char*, const XML_Char*, const XML_Char*, int) {
  stop(*static_cast<RlmiState*>(data), "DOCTYPE not allowed");
}

void XMLCALL onEntity(void* data, const XML_Char*, int, const XML_Char*, int, const XML_Char*,
                      const XML_Char*, const XML_Char*, const XML_Char*) {
  stop(*static_cast<RlmiState*>(data), "entity declarations not allowed");
}

bool parseRlmi(std::string_view xml, std::size_t maxResources, RlmiState& s) {
  ParserPtr parser(XML_ParserCreateNS(nullptr, kNsSeparator));
  if (!parser) {
    s.error = "out of memory";
    return false;
  }
  s.parser = parser.get();
  s.maxResources = maxResources;
  XML_SetUserData(parser.get(), &s);
  XML_SetElementHandler(parser.get(), &onStart, &onEnd);
  XML_SetStartDoctypeDeclHandler(parser.get(), &onDoctype);
  XML_SetEntityDeclHandler(parser.get(), &onEntity);
  const XML_Status status =
      XML_Parse(parser.get(), xml.data(), static_cast<int>(xml.size()), XML_TRUE);
  if (!s.error.empty()) return false;
  if (status != XML_STATUS_OK) {
    s.error =
        std::string("RLMI not well-formed: ") + XML_ErrorString(XML_GetErrorCode(parser.get()));
    return false;
  }
  if (!s.sawList) {
    s.error = "RLMI without a list";
    return false;
  }
  if (!s.version) {
    s.error = "RLMI list without version";
    return false;
  }
  if (!s.fullState) {
    s.error = "RLMI list without fullState";
    return false;
  }
  return true;
}

bool sameState(const ListMemberState& a, const ListMemberState& b) {
  return a.kind == b.kind && (a.kind != ListMemberState::Kind::kStatus || a.status == b.status);
}

}  // namespace

bool isMultipartRelated(std::string_view contentType) {
  return iequals(mediaType(contentType), "multipart/related");
}

ListNotification parseListNotification(std::string_view contentType, std::string_view body,
                                       const DocumentMapper& mapper, const ListLimits& limits) {
  ListNotification out;
  if (!isMultipartRelated(contentType)) {
    out.error = "content type is not multipart/related";
    return out;
  }
  if (body.size() > limits.maxBodyBytes) {
    out.error = "body over " + std::to_string(limits.maxBodyBytes) + " bytes";
    return out;
  }
  const std::optional<std::string_view> boundary = parameter(contentType, "boundary");
  if (!boundary || boundary->empty() || boundary->size() > 70) {
    out.error = "multipart/related without a usable boundary";
    return out;
  }
  std::vector<Part> parts;
  if (!splitMultipart(body, *boundary, limits.maxParts, parts, out.error)) return out;
  if (parts.empty()) {
    out.error = "multipart body without parts";
    return out;
  }
  const Part* root = &parts.front();
  if (const std::optional<std::string_view> start = parameter(contentType, "start")) {
    const std::string_view id = bareId(*start);
    root = nullptr;
    for (const Part& part : parts) {
      if (part.contentId == id) root = &part;
    }
    if (!root) {
      out.error = "multipart/related start names no part";
      return out;
    }
  }
  if (!iequals(mediaType(root->contentType), "application/rlmi+xml")) {
    out.error = "root part is not application/rlmi+xml";
    return out;
  }
  RlmiState rlmi;
  if (!parseRlmi(trim(root->body), limits.maxResources, rlmi)) {
    out.error = rlmi.error;
    return out;
  }
  std::unordered_map<std::string_view, const Part*> byId;
  for (const Part& part : parts) {
    if (!part.contentId.empty()) byId.emplace(part.contentId, &part);
  }
  out.listUri = rlmi.listUri;
  out.version = *rlmi.version;
  out.fullState = *rlmi.fullState;
  out.members.reserve(rlmi.resources.size());
  for (const RlmiResource& resource : rlmi.resources) {
    ListMemberState member;
    member.uri = resource.uri;
    const RlmiInstance* active = nullptr;
    const RlmiInstance* terminated = nullptr;
    for (const RlmiInstance& instance : resource.instances) {
      if (instance.state == "active" && !active) active = &instance;
      if (instance.state == "terminated" && !terminated) terminated = &instance;
    }
    if (active) {
      member.kind = ListMemberState::Kind::kStatus;
      const auto part = active->cid.empty() ? byId.end() : byId.find(active->cid);
      if (part == byId.end()) {
        member.status = TerminalStatus::kUnreachable;
        member.detail = active->cid.empty() ? "no document" : "no document (cid part missing)";
      } else {
        const PresenceMapping mapping =
            mapper.map(part->second->contentType, trim(part->second->body));
        if (mapping.ok) {
          member.status = mapping.status;
        } else {
          member.kind = ListMemberState::Kind::kBadDocument;
          member.detail = mapping.error;
        }
      }
    } else if (terminated) {
      member.kind = ListMemberState::Kind::kStatus;
      member.status = TerminalStatus::kUnreachable;
      member.detail = "terminated: " + terminated->reason;
    }
    out.members.push_back(std::move(member));
  }
  out.ok = true;
  return out;
}

std::string normalizeMemberUri(std::string_view uri) {
  uri = trim(uri, " \t<>");
  std::string out(uri);
  const std::size_t colon = out.find(':');
  if (colon == std::string::npos) return out;
  for (std::size_t i = 0; i < colon; ++i) out[i] = lower(out[i]);
  // The host part: after '@' (or the scheme) up to ';', '?' or '>'.
  const std::size_t at = out.find('@', colon);
  const std::size_t hostStart = at == std::string::npos ? colon + 1 : at + 1;
  const std::size_t hostEnd = out.find_first_of(";?>", hostStart);
  for (std::size_t i = hostStart; i < std::min(hostEnd, out.size()); ++i) out[i] = lower(out[i]);
  return out;
}

ResourceListState::Applied ResourceListState::apply(const ListNotification& n) {
  changed_.clear();
  if (n.fullState) {
    if (version_ && n.version <= *version_) return Applied::kStale;
    std::map<std::string, ListMemberState> next;
    for (const ListMemberState& member : n.members) {
      std::string key = normalizeMemberUri(member.uri);
      const auto old = members_.find(key);
      if (old == members_.end() || !sameState(old->second, member)) changed_.push_back(key);
      next[std::move(key)] = member;
    }
    for (const auto& [key, member] : members_) {
      (void)member;
      if (!next.count(key)) changed_.push_back(key);  // left the list
    }
    members_ = std::move(next);
    version_ = n.version;
    return Applied::kApplied;
  }
  if (!version_) return Applied::kGap;
  if (n.version <= *version_) return Applied::kStale;
  if (n.version != *version_ + 1) return Applied::kGap;
  for (const ListMemberState& member : n.members) {
    std::string key = normalizeMemberUri(member.uri);
    auto& slot = members_[key];
    if (slot.uri.empty() || !sameState(slot, member)) changed_.push_back(key);
    slot = member;
  }
  version_ = n.version;
  return Applied::kApplied;
}

void ResourceListState::reset() {
  version_.reset();
  members_.clear();
  changed_.clear();
}

}  // namespace px

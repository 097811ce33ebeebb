// reginfo (RFC 3680) to TerminalStatus in one streaming pass of expat, with the same hardening as
// the PIDF mapper: DOCTYPEs and entity declarations are refused outright. Reg NOTIFYs are rare
// (one per (de-)registration), so a parser is created per document.
#include "presence/RegInfoDocument.h"

#include <expat.h>

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "common/Ascii.h"

namespace px {
namespace {

constexpr std::size_t kMaxBodyBytes = 1024 * 1024;
constexpr XML_Char kNsSeparator = ' ';  // see PresenceDocument.cc
constexpr std::string_view kRegInfoNs = "urn:ietf:params:xml:ns:reginfo";
constexpr std::string_view kRegInfoContentType = "application/reginfo+xml";
constexpr std::size_t kMaxQuotedValue = 32;

struct ParserDeleter {
  void operator()(XML_Parser parser) const noexcept { XML_ParserFree(parser); }
};
using ParserPtr = std::unique_ptr<std::remove_pointer_t<XML_Parser>, ParserDeleter>;

enum class Kind { kRegInfo, kRegistration, kContact, kOther };

struct ParseState {
  XML_Parser parser = nullptr;
  std::vector<Kind> stack;
  bool partial = false;
  bool anyRegistration = false;
  bool registrationActive = false;  // the open <registration>
  bool contactActive = false;       // the open <registration> has an active <contact>
  bool reachable = false;
  std::string error;
};

std::string_view trim(std::string_view s) {
  const std::size_t first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

void stop(ParseState& s, std::string why) {
  if (!s.error.empty()) return;
  s.error = std::move(why);
  XML_StopParser(s.parser, XML_FALSE);
}

std::string quoted(std::string_view value) {
  std::string shown(value.substr(0, kMaxQuotedValue));
  if (value.size() > kMaxQuotedValue) shown += "...";
  return "'" + shown + "'";
}

// The value of an unqualified attribute, nullptr when absent.
const XML_Char* attribute(const XML_Char** attributes, std::string_view name) {
  for (const XML_Char** a = attributes; a && a[0]; a += 2) {
    if (name == a[0]) return a[1];
  }
  return nullptr;
}

// Checks that `element`'s state attribute is one of `allowed`; returns it ("" after an error).
std::string_view stateOf(ParseState& s, const XML_Char** attributes, std::string_view element,
                         std::initializer_list<std::string_view> allowed) {
  const XML_Char* value = attribute(attributes, "state");
  if (!value) {
    stop(s, "<" + std::string(element) + "> without a state attribute");
    return {};
  }
  const std::string_view state(value);
  for (std::string_view a : allowed) {
    if (state == a) return state;
  }
  std::string expected;
  for (std::string_view a : allowed) expected += (expected.empty() ? "" : "/") + std::string(a);
  stop(s, "<" + std::string(element) + "> state is " + quoted(state) + ", expected " + expected);
  return {};
}

void onStartElement(void* userData, const XML_Char* name, const XML_Char** attributes) {
  auto& s = *static_cast<ParseState*>(userData);
  if (!s.error.empty()) return;
  const std::string_view n(name);
  const std::size_t sep = n.rfind(kNsSeparator);
  const std::string_view ns = sep == std::string_view::npos ? std::string_view() : n.substr(0, sep);
  const std::string_view local = sep == std::string_view::npos ? n : n.substr(sep + 1);
  Kind kind = Kind::kOther;
  if (s.stack.empty()) {
    if (ns != kRegInfoNs || local != "reginfo") {
      stop(s, "root element is not {" + std::string(kRegInfoNs) + "}reginfo");
      return;
    }
    const std::string_view state = stateOf(s, attributes, "reginfo", {"full", "partial"});
    if (state.empty()) return;
    s.partial = state == "partial";
    kind = Kind::kRegInfo;
  } else if (ns == kRegInfoNs && local == "registration" && s.stack.back() == Kind::kRegInfo) {
    const std::string_view state =
        stateOf(s, attributes, "registration", {"init", "active", "terminated"});
    if (state.empty()) return;
    s.anyRegistration = true;
    s.registrationActive = state == "active";
    s.contactActive = false;
    kind = Kind::kRegistration;
  } else if (ns == kRegInfoNs && local == "contact" && s.stack.back() == Kind::kRegistration) {
    const std::string_view state = stateOf(s, attributes, "contact", {"active", "terminated"});
    if (state.empty()) return;
    if (state == "active") s.contactActive = true;
    kind = Kind::kContact;
  }
  s.stack.push_back(kind);
}

void onEndElement(void* userData, const XML_Char* /*name*/) {
  auto& s = *static_cast<ParseState*>(userData);
  if (!s.error.empty() || s.stack.empty()) return;
  const Kind kind = s.stack.back();
  s.stack.pop_back();
  if (kind != Kind::kRegistration) return;
  // Partial state lists changed contacts only: the registration's own state decides (§5.1).
  if (s.registrationActive && (s.partial || s.contactActive)) s.reachable = true;
}

void onStartDoctype(void* userData, const XML_Char*, const XML_Char*, const XML_Char*, int) {
  stop(*static_cast<ParseState*>(userData), "DOCTYPE is not allowed in a reginfo document");
}

void onEntityDecl(void* userData, const XML_Char*, int, const XML_Char*, int, const XML_Char*,
                  const XML_Char*, const XML_Char*, const XML_Char*) {
  stop(*static_cast<ParseState*>(userData), "entity declarations are not allowed");
}

PresenceMapping failure(std::string why) {
  PresenceMapping m;
  m.ok = false;
  m.status = TerminalStatus::kUnreachable;
  m.error = std::move(why);
  return m;
}

}  // namespace

PresenceMapping RegInfoDocumentMapper::map(std::string_view contentType,
                                           std::string_view body) const {
  if (body.empty()) {
    // A NOTIFY without body: no registration known for the AoR (Kamailio, nothing published).
    PresenceMapping m;
    m.ok = true;
    m.status = TerminalStatus::kUnreachable;
    return m;
  }
  if (!ascii::equalsNoCase(trim(contentType.substr(0, contentType.find(';'))),
                           kRegInfoContentType)) {
    return failure("content type '" + std::string(contentType) +
                   "' is not application/reginfo+xml");
  }
  if (body.size() > kMaxBodyBytes) return failure("reginfo document larger than 1 MiB");

  ParserPtr parser(XML_ParserCreateNS(nullptr, kNsSeparator));
  if (!parser) return failure("cannot create XML parser");
  XML_Parser p = parser.get();
  ParseState state;
  state.parser = p;
  state.stack.reserve(16);
  XML_SetUserData(p, &state);
  XML_SetElementHandler(p, onStartElement, onEndElement);
  XML_SetStartDoctypeDeclHandler(p, onStartDoctype);
  XML_SetEntityDeclHandler(p, onEntityDecl);
  XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);

  if (XML_Parse(p, body.data(), static_cast<int>(body.size()), XML_TRUE) == XML_STATUS_ERROR) {
    if (!state.error.empty()) return failure(state.error);
    return failure(std::string("not well-formed XML: ") + XML_ErrorString(XML_GetErrorCode(p)) +
                   " at line " + std::to_string(XML_GetCurrentLineNumber(p)) + ", column " +
                   std::to_string(XML_GetCurrentColumnNumber(p)));
  }
  if (!state.error.empty()) return failure(state.error);

  PresenceMapping m;
  m.ok = true;
  m.status = state.reachable ? TerminalStatus::kReachable : TerminalStatus::kUnreachable;
  m.unchanged = state.partial && !state.anyRegistration;
  return m;
}

}  // namespace px

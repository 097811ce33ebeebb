// PIDF/RPID to TerminalStatus in one streaming pass of expat (this runs for every NOTIFY, so no
// DOM is built). Documents come from the network: DOCTYPEs and entity declarations are refused
// outright, which rules out entity expansion attacks and external entity fetches.
#include "presence/PresenceDocument.h"

#include <expat.h>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <mutex>
#include <random>
#include <type_traits>
#include <utility>

namespace px {
namespace {

constexpr std::size_t kMaxBodyBytes = 1024 * 1024;
// Expat reports "namespace-URI<sep>local-name". A space cannot occur in a namespace URI (expat
// rejects a declaration that contains the separator), so the split is unambiguous.
constexpr XML_Char kNsSeparator = ' ';
constexpr std::string_view kPidfNs = "urn:ietf:params:xml:ns:pidf";
constexpr std::string_view kRpidNs = "urn:ietf:params:xml:ns:pidf:rpid";
constexpr std::string_view kPidfContentType = "application/pidf+xml";
constexpr std::size_t kMaxQuotedValue = 32;  // of a bad <basic> value, in the error text

struct ParserDeleter {
  void operator()(XML_Parser parser) const noexcept { XML_ParserFree(parser); }
};
using ParserPtr = std::unique_ptr<std::remove_pointer_t<XML_Parser>, ParserDeleter>;

// The elements the mapping cares about; everything else is kOther.
enum class Kind { kPresence, kTuple, kStatus, kBasic, kActivities, kRpidOther, kOther };

struct ParseState {
  XML_Parser parser = nullptr;
  const std::vector<std::string>* busyActivities = nullptr;
  std::vector<Kind> stack;  // open elements
  std::string text;         // character data of the open <basic> or <rpid:other>
  bool anyOpen = false;
  bool busy = false;
  std::string error;  // first error; set means parsing was stopped
};

std::string_view trim(std::string_view s, std::string_view blanks) {
  const std::size_t first = s.find_first_not_of(blanks);
  if (first == std::string_view::npos) return {};
  const std::size_t last = s.find_last_not_of(blanks);
  return s.substr(first, last - first + 1);
}

std::string_view trimXmlSpace(std::string_view s) {
  return trim(s, " \t\r\n");
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const char x = (a[i] >= 'A' && a[i] <= 'Z') ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    if (x != b[i]) return false;
  }
  return true;
}

// "application/pidf+xml" with any parameters (charset=...), case-insensitive.
bool isPidfContentType(std::string_view contentType) {
  const std::string_view type = trim(contentType.substr(0, contentType.find(';')), " \t");
  return iequals(type, kPidfContentType);
}

bool isBusyActivity(const ParseState& s, std::string_view name) {
  const auto& list = *s.busyActivities;
  return std::find(list.begin(), list.end(), name) != list.end();
}

void stop(ParseState& s, std::string why) {
  if (!s.error.empty()) return;
  s.error = std::move(why);
  XML_StopParser(s.parser, XML_FALSE);
}

struct QName {
  std::string_view ns;
  std::string_view local;
};

QName splitName(const XML_Char* name) {
  const std::string_view n(name);
  const std::size_t sep = n.rfind(kNsSeparator);
  if (sep == std::string_view::npos) return {{}, n};
  return {n.substr(0, sep), n.substr(sep + 1)};
}

void onStartElement(void* userData, const XML_Char* name, const XML_Char** /*attributes*/) {
  auto& s = *static_cast<ParseState*>(userData);
  if (!s.error.empty()) return;
  const QName q = splitName(name);
  Kind kind = Kind::kOther;
  if (s.stack.empty()) {
    if (q.ns != kPidfNs || q.local != "presence") {
      stop(s, "root element is not {" + std::string(kPidfNs) + "}presence");
      return;
    }
    kind = Kind::kPresence;
  } else {
    const Kind parent = s.stack.back();
    if (q.ns == kPidfNs) {
      if (q.local == "tuple" && parent == Kind::kPresence) kind = Kind::kTuple;
      if (q.local == "status" && parent == Kind::kTuple) kind = Kind::kStatus;
      if (q.local == "basic" && parent == Kind::kStatus) kind = Kind::kBasic;
    } else if (q.ns == kRpidNs && q.local == "activities") {
      kind = Kind::kActivities;
    }
    if (parent == Kind::kActivities) {
      // Activities from other namespaces (extensions) count by local name as well.
      if (isBusyActivity(s, q.local)) s.busy = true;
      if (q.ns == kRpidNs && q.local == "other") kind = Kind::kRpidOther;
    }
  }
  if (kind == Kind::kBasic || kind == Kind::kRpidOther) s.text.clear();
  s.stack.push_back(kind);
}

void onEndElement(void* userData, const XML_Char* /*name*/) {
  auto& s = *static_cast<ParseState*>(userData);
  if (!s.error.empty() || s.stack.empty()) return;
  const Kind kind = s.stack.back();
  s.stack.pop_back();
  if (kind == Kind::kBasic) {
    const std::string_view value = trimXmlSpace(s.text);
    if (value == "open") {
      s.anyOpen = true;
    } else if (value != "closed") {
      std::string shown(value.substr(0, kMaxQuotedValue));
      if (value.size() > kMaxQuotedValue) shown += "...";
      stop(s, "<basic> is '" + shown + "', expected open or closed");
    }
  } else if (kind == Kind::kRpidOther) {
    // <rpid:other>on-the-phone</rpid:other>: a free-text activity some clients publish.
    if (isBusyActivity(s, trimXmlSpace(s.text))) s.busy = true;
  }
}

void onCharacterData(void* userData, const XML_Char* data, int len) {
  auto& s = *static_cast<ParseState*>(userData);
  if (!s.error.empty() || s.stack.empty()) return;
  const Kind kind = s.stack.back();
  if (kind == Kind::kBasic || kind == Kind::kRpidOther) {
    s.text.append(data, static_cast<std::size_t>(len));
  }
}

void onStartDoctype(void* userData, const XML_Char* /*doctypeName*/, const XML_Char* /*sysid*/,
                    const XML_Char* /*pubid*/, int /*hasInternalSubset*/) {
  stop(*static_cast<ParseState*>(userData), "DOCTYPE is not allowed in a presence document");
}

void onEntityDecl(void* userData, const XML_Char* /*entityName*/, int /*isParameterEntity*/,
                  const XML_Char* /*value*/, int /*valueLength*/, const XML_Char* /*base*/,
                  const XML_Char* /*systemId*/, const XML_Char* /*publicId*/,
                  const XML_Char* /*notationName*/) {
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

// Creating an expat parser allocates its tables and draws a hash salt from the kernel; the SIP
// thread maps thousands of documents a second, so one parser is kept and reset instead. The salt
// stays random (hash-flooding protection), drawn once per mapper.
struct PresenceDocumentMapper::ParserCache {
  std::mutex mutex;
  ParserPtr parser;
  unsigned long salt = 0;

  // Takes the cached parser (reset), or a new one when it is in use by another thread.
  ParserPtr take() {
    ParserPtr p;
    {
      std::lock_guard<std::mutex> lock(mutex);
      p = std::move(parser);
    }
    if (p && XML_ParserReset(p.get(), nullptr) != XML_TRUE) p.reset();
    if (!p) p.reset(XML_ParserCreateNS(nullptr, kNsSeparator));
    if (p) XML_SetHashSalt(p.get(), salt);
    return p;
  }
  void give(ParserPtr p) {
    std::lock_guard<std::mutex> lock(mutex);
    if (!parser) parser = std::move(p);
  }
};

PresenceDocumentMapper::PresenceDocumentMapper(std::vector<std::string> busyActivities)
    : busyActivities_(std::move(busyActivities)), cache_(std::make_shared<ParserCache>()) {
  std::random_device entropy;
  cache_->salt = (static_cast<unsigned long>(entropy()) << 16) ^ entropy();
}

PresenceMapping PresenceDocumentMapper::map(std::string_view contentType,
                                            std::string_view body) const {
  if (body.empty()) {
    // A NOTIFY without body: nothing published for the user (or the publication expired).
    PresenceMapping m;
    m.ok = true;
    m.status = TerminalStatus::kUnreachable;
    return m;
  }
  if (!isPidfContentType(contentType)) {
    return failure("content type '" + std::string(contentType) + "' is not application/pidf+xml");
  }
  if (body.size() > kMaxBodyBytes) return failure("presence document larger than 1 MiB");

  ParserPtr parser = cache_->take();
  if (!parser) return failure("cannot create XML parser");
  XML_Parser p = parser.get();
  // Back to the cache whatever the outcome: take() resets it before the next document.
  struct GiveBack {
    ParserCache& cache;
    ParserPtr& parser;
    ~GiveBack() { cache.give(std::move(parser)); }
  } giveBack{*cache_, parser};

  ParseState state;
  state.parser = p;
  state.busyActivities = &busyActivities_;
  state.stack.reserve(16);

  XML_SetUserData(p, &state);
  XML_SetElementHandler(p, onStartElement, onEndElement);
  XML_SetCharacterDataHandler(p, onCharacterData);
  XML_SetStartDoctypeDeclHandler(p, onStartDoctype);
  XML_SetEntityDeclHandler(p, onEntityDecl);
  // The default already, stated so that nobody turns external entities on by accident.
  XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);

  // body.size() <= kMaxBodyBytes, so it fits in an int.
  if (XML_Parse(p, body.data(), static_cast<int>(body.size()), XML_TRUE) == XML_STATUS_ERROR) {
    if (!state.error.empty()) return failure(state.error);
    return failure(std::string("not well-formed XML: ") + XML_ErrorString(XML_GetErrorCode(p)) +
                   " at line " + std::to_string(XML_GetCurrentLineNumber(p)) + ", column " +
                   std::to_string(XML_GetCurrentColumnNumber(p)));
  }
  if (!state.error.empty()) return failure(state.error);

  PresenceMapping m;
  m.ok = true;
  if (!state.anyOpen) {
    m.status = TerminalStatus::kUnreachable;
  } else {
    m.status = state.busy ? TerminalStatus::kBusy : TerminalStatus::kReachable;
  }
  return m;
}

}  // namespace px

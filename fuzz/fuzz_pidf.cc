// Fuzz target: the PIDF/RPID mapper (native/presence), fed with every NOTIFY body from the
// network. Properties: a failure carries a reason and maps to Unreachable; the cached expat parser
// is reset between documents, so mapping the same document twice gives the same answer.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "FuzzCheck.h"
#include "presence/PresenceDocument.h"

namespace {

void checkMapping(const px::PresenceMapping& m) {
  if (m.ok) {
    PX_FUZZ_CHECK(m.error.empty());
  } else {
    PX_FUZZ_CHECK(!m.error.empty());
    PX_FUZZ_CHECK(m.status == px::TerminalStatus::kUnreachable);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // One mapper for the whole run, as on the SIP thread: its parser is reused document after
  // document. "other" in the list exercises the <rpid:other> free-text path on its own name too.
  static const px::PresenceDocumentMapper mapper({"on-the-phone", "busy", "other"});
  const std::string_view body(reinterpret_cast<const char*>(data), size);

  const px::PresenceMapping first = mapper.map("application/pidf+xml", body);
  checkMapping(first);
  const px::PresenceMapping second = mapper.map("Application/PIDF+XML; charset=UTF-8", body);
  checkMapping(second);
  PX_FUZZ_CHECK(first.ok == second.ok);
  PX_FUZZ_CHECK(first.status == second.status);
  PX_FUZZ_CHECK(first.error == second.error);

  // The same bytes as a content type: only application/pidf+xml (with parameters) is accepted.
  const px::PresenceMapping typed = mapper.map(body.substr(0, std::min<size_t>(body.size(), 128)),
                                               "<presence xmlns='urn:ietf:params:xml:ns:pidf'/>");
  checkMapping(typed);
  return 0;
}

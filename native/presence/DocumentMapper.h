// What a status source's document parser does: one NOTIFY body (with its Content-Type) to a
// TerminalStatus. One implementation per event package: PIDF for "presence"
// (PresenceDocument.h), reginfo for "reg" (RegInfoDocument.h). The fetch and subscription
// machinery is shared and takes the mapper of its package as a parameter.
#pragma once

#include <string>
#include <string_view>

#include "presence/TerminalStatus.h"

namespace px {

struct PresenceMapping {
  bool ok = false;
  TerminalStatus status = TerminalStatus::kUnreachable;
  // ok, but the document says nothing new about the terminal (a partial reginfo notification
  // that lists no registration): a subscription keeps its last status; a fetch takes `status`.
  bool unchanged = false;
  std::string error;  // set when !ok: why the document could not be mapped
};

class DocumentMapper {
 public:
  virtual ~DocumentMapper() = default;
  virtual PresenceMapping map(std::string_view contentType, std::string_view body) const = 0;
};

}  // namespace px

// The Parlay X common fault catalogue (ES 202 391-1 / OneAPI common exceptions): messageId ->
// exception kind, title and text template (%1, %2 ... mark the variables). Declared once here;
// the addon exports it and js/parlayx/faults.js builds its frozen CATALOGUE from the export.
#pragma once

#include <array>
#include <string_view>

namespace px::parlayx {

enum class FaultKind { kServiceException, kPolicyException };

struct FaultDefinition {
  std::string_view messageId;  // e.g. "SVC0001"
  FaultKind kind;
  std::string_view title;
  std::string_view text;  // the template, as sent in the <text> element
};

// "ServiceException" or "PolicyException": the name of the fault detail element.
const char* toString(FaultKind kind);

// Every fault, in catalogue order (SVC0001..SVC0008, POL0001..POL0013).
const std::array<FaultDefinition, 21>& faultCatalogue();

// The definition of messageId, nullptr when the catalogue does not list it.
const FaultDefinition* findFault(std::string_view messageId);

}  // namespace px::parlayx

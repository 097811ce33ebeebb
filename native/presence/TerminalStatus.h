// The Parlay X Terminal Status values (ES 202 391-8 §7.1).
#pragma once

#include <string_view>

namespace px {

enum class TerminalStatus { kReachable, kUnreachable, kBusy };

constexpr std::string_view toString(TerminalStatus s) {
  switch (s) {
    case TerminalStatus::kReachable:
      return "Reachable";
    case TerminalStatus::kUnreachable:
      return "Unreachable";
    case TerminalStatus::kBusy:
      return "Busy";
  }
  return "Unreachable";
}

}  // namespace px

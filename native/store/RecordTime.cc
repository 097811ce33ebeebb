#include "store/RecordTime.h"

#include <stdexcept>

#include "usage/UtcTime.h"

namespace px {

std::string formatRecordTime(int64_t ms) {
  if (ms < kMinRecordTimeMs || ms > kMaxRecordTimeMs) {
    throw std::out_of_range("RECORDTIME " + std::to_string(ms) + " ms is outside 1970..9999");
  }
  return formatUtcTime(ms);
}

std::optional<int64_t> parseRecordTime(std::string_view text) {
  const std::optional<int64_t> ms = parseUtcTime(text);
  if (!ms || *ms < kMinRecordTimeMs || *ms > kMaxRecordTimeMs) return std::nullopt;
  return ms;
}

}  // namespace px

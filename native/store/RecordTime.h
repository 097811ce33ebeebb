// RECORDTIME as stored: UTC ISO-8601 text with milliseconds, "2026-11-24T16:01:02.345Z". The
// fixed width makes text order equal time order, billing can read it with any SQL client, and
// SQLite's date functions accept it. Range: 1970-01-01T00:00:00.000Z .. 9999-12-31T23:59:59.999Z.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace px {

inline constexpr int64_t kMinRecordTimeMs = 0;
inline constexpr int64_t kMaxRecordTimeMs = 253402300799999;  // 9999-12-31T23:59:59.999Z

// Formats ms since the epoch (UTC). Throws std::out_of_range outside the range above.
std::string formatRecordTime(int64_t ms);

// Parses exactly the format above (calendar-checked); nullopt for anything else.
std::optional<int64_t> parseRecordTime(std::string_view text);

}  // namespace px

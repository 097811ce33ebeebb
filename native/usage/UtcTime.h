// UTC timestamps as the usage records write them: ISO-8601 with milliseconds,
// "2026-11-24T16:01:02.345Z" (fixed width, so text order is time order). The one implementation
// for START_TIME-like attributes and the RECORDTIME column.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace px {

inline constexpr size_t kUtcTimeLength = 24;  // "2026-11-24T16:01:02.345Z"

// Milliseconds since the epoch -> text; std::out_of_range outside the years 0000..9999.
std::string formatUtcTime(int64_t msSinceEpoch);
// The same text written to out[0 .. kUtcTimeLength) (no terminating NUL, no allocation).
void formatUtcTime(int64_t msSinceEpoch, char* out);

// Exactly the format above, calendar-checked; nullopt for anything else.
std::optional<int64_t> parseUtcTime(std::string_view text);

}  // namespace px

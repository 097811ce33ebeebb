// Splitting a record's SERVICEDATA over rows (SEGMENT 0, 1, 2, ...) and joining it back.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "usage/UsageRecord.h"

namespace px {

inline constexpr size_t kDefaultSegmentBytes = 1024;
inline constexpr size_t kMinSegmentBytes = 16;  // room for the largest unit we never split (5)

// One row per segment of at most maxBytes bytes of SERVICEDATA: SEGMENT 0, 1, 2, ..., every other
// column repeated. A cut never falls inside a UTF-8 multi-byte sequence nor between a '\' and
// the character it escapes, so a segment may be a few bytes shorter than maxBytes. Empty
// SERVICEDATA gives one row. Throws std::invalid_argument when maxBytes < kMinSegmentBytes.
std::vector<UsageRow> segment(const UsageRecord& record, size_t maxBytes = kDefaultSegmentBytes);
// The same rows, moving the record's text into its row when it has one segment (copied as above
// otherwise). The record is left valid but unspecified.
std::vector<UsageRow> segment(UsageRecord&& record, size_t maxBytes = kDefaultSegmentBytes);

// The record whose rows these are, given in any order. nullopt when the rows are empty, a
// segment number is missing or repeated (they must be exactly 0..n-1), the columns other than
// SEGMENT/SERVICEDATA disagree, or STATUSCODE is not a usage status.
std::optional<UsageRecord> reassemble(std::vector<UsageRow> rows);

}  // namespace px

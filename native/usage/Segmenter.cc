#include "usage/Segmenter.h"

#include <algorithm>
#include <stdexcept>
#include <string_view>

#include "usage/UsageStatus.h"

namespace px {
namespace {

bool isContinuation(unsigned char c) {
  return (c & 0xC0) == 0x80;
}

// Length of the UTF-8 character starting at `pos`: the lead byte's announced length, cut short
// where continuation bytes stop (invalid UTF-8 is kept together only as far as it looks like a
// sequence, so a unit is at most 4 bytes).
size_t charLength(std::string_view s, size_t pos) {
  const auto lead = static_cast<unsigned char>(s[pos]);
  size_t expected = 1;
  if (lead >= 0xF0 && lead <= 0xF7) {
    expected = 4;
  } else if (lead >= 0xE0) {
    expected = lead <= 0xEF ? 3 : 1;
  } else if (lead >= 0xC0) {
    expected = 2;
  }
  size_t n = 1;
  while (n < expected && pos + n < s.size() &&
         isContinuation(static_cast<unsigned char>(s[pos + n]))) {
    ++n;
  }
  return n;
}

// Length of the smallest piece starting at `pos` that must stay whole: an escape pair ('\' and
// the character after it) or one character.
size_t unitLength(std::string_view s, size_t pos) {
  if (s[pos] == '\\' && pos + 1 < s.size()) return 1 + charLength(s, pos + 1);
  return charLength(s, pos);
}

UsageRow rowOf(const UsageRecord& record, int segmentNo, std::string serviceData) {
  UsageRow row;
  row.recordId = record.recordId;
  row.segment = segmentNo;
  row.globalId = record.globalId;
  row.service = record.service;
  row.host = record.host;
  row.eventType = record.eventType;
  row.recordTimeMs = record.recordTimeMs;
  row.statusCode = static_cast<int>(record.status);
  row.serviceData = std::move(serviceData);
  return row;
}

bool sameColumns(const UsageRow& a, const UsageRow& b) {
  return a.recordId == b.recordId && a.globalId == b.globalId && a.service == b.service &&
         a.host == b.host && a.eventType == b.eventType && a.recordTimeMs == b.recordTimeMs &&
         a.statusCode == b.statusCode;
}

void checkSegmentSize(size_t maxBytes) {
  if (maxBytes < kMinSegmentBytes) {
    throw std::invalid_argument("segment size " + std::to_string(maxBytes) + " below " +
                                std::to_string(kMinSegmentBytes));
  }
}

}  // namespace

std::vector<UsageRow> segment(const UsageRecord& record, size_t maxBytes) {
  checkSegmentSize(maxBytes);
  const std::string_view data = record.serviceData;
  std::vector<UsageRow> rows;
  // Nothing to cut when the whole text fits (the common case): no need to walk it.
  if (data.size() <= maxBytes) {
    rows.push_back(rowOf(record, 0, record.serviceData));
    return rows;
  }
  size_t start = 0;
  do {
    size_t end = start;
    while (end < data.size()) {
      const size_t next = end + unitLength(data, end);
      if (next - start > maxBytes) break;
      end = next;
    }
    rows.push_back(
        rowOf(record, static_cast<int>(rows.size()), std::string(data.substr(start, end - start))));
    start = end;
  } while (start < data.size());
  return rows;
}

std::vector<UsageRow> segment(UsageRecord&& record, size_t maxBytes) {
  checkSegmentSize(maxBytes);
  if (record.serviceData.size() > maxBytes) {
    return segment(static_cast<const UsageRecord&>(record), maxBytes);
  }
  std::vector<UsageRow> rows(1);
  UsageRow& row = rows.front();
  row.recordId = std::move(record.recordId);
  row.segment = 0;
  row.globalId = std::move(record.globalId);
  row.service = std::move(record.service);
  row.host = std::move(record.host);
  row.eventType = std::move(record.eventType);
  row.recordTimeMs = record.recordTimeMs;
  row.statusCode = static_cast<int>(record.status);
  row.serviceData = std::move(record.serviceData);
  return rows;
}

std::optional<UsageRecord> reassemble(std::vector<UsageRow> rows) {
  if (rows.empty()) return std::nullopt;
  std::sort(rows.begin(), rows.end(),
            [](const UsageRow& a, const UsageRow& b) { return a.segment < b.segment; });
  size_t total = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].segment != static_cast<int>(i) || !sameColumns(rows[i], rows[0])) {
      return std::nullopt;
    }
    total += rows[i].serviceData.size();
  }
  const auto status = usageStatusFromInt(rows[0].statusCode);
  if (!status) return std::nullopt;
  UsageRecord record;
  record.recordId = std::move(rows[0].recordId);
  record.globalId = std::move(rows[0].globalId);
  record.service = std::move(rows[0].service);
  record.host = std::move(rows[0].host);
  record.eventType = std::move(rows[0].eventType);
  record.recordTimeMs = rows[0].recordTimeMs;
  record.status = *status;
  record.serviceData.reserve(total);
  for (const auto& row : rows) record.serviceData += row.serviceData;
  return record;
}

}  // namespace px

// Fuzz target: the splitting of a usage record's SERVICEDATA over rows (native/usage Segmenter),
// which runs on every record whose SERVICEDATA is longer than usage.maxServiceDataBytes. The first
// two input bytes choose the segment size (16..527), the rest is the SERVICEDATA. Properties from
// Segmenter.h: rows are numbered 0..n-1 and each holds at most maxBytes; their concatenation is
// the input; reassembling them in any order gives the record back; no cut falls between a '\' and
// the character it escapes, nor inside a well-formed UTF-8 sequence; a missing segment (other
// than the last, see below) is refused.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "FuzzCheck.h"
#include "usage/Segmenter.h"

namespace {

// Bytes a well-formed UTF-8 lead byte announces (RFC 3629), 0 when it is not one.
size_t utf8Length(unsigned char lead) {
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

bool isContinuation(unsigned char c) {
  return (c & 0xC0) == 0x80;
}

// True when a cut before s[p] splits a lead byte from its continuation bytes.
bool cutsUtf8(std::string_view s, size_t p) {
  if (!isContinuation(static_cast<unsigned char>(s[p]))) return false;
  for (size_t back = 1; back <= 3 && back <= p; ++back) {
    const auto c = static_cast<unsigned char>(s[p - back]);
    if (isContinuation(c)) continue;
    return utf8Length(c) > back;  // the sequence started at p - back and goes past p
  }
  return false;
}

// True when a cut before s[p] separates a '\' from the character it escapes (read from the
// start: every '\' escapes the byte after it).
bool cutsEscape(std::string_view s, size_t p) {
  size_t i = 0;
  while (i < p) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      if (i + 1 == p) return true;
      i += 2;
    } else {
      ++i;
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t maxBytes = px::kMinSegmentBytes + ((size_t{data[0]} << 8 | data[1]) % 512);
  px::UsageRecord record;
  record.recordId = "r1";
  record.globalId = "g1";
  record.service = "PX_TS_SIP";
  record.host = "gw";
  record.eventType = "getStatus";
  record.recordTimeMs = 1700000000000;
  record.status = px::UsageStatus::kFailedOther;
  record.serviceData.assign(reinterpret_cast<const char*>(data) + 2, size - 2);
  const std::string_view s = record.serviceData;

  std::vector<px::UsageRow> rows = px::segment(record, maxBytes);
  PX_FUZZ_CHECK(!rows.empty());
  std::string joined;
  size_t cut = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    PX_FUZZ_CHECK(rows[i].segment == static_cast<int>(i));
    PX_FUZZ_CHECK(rows[i].serviceData.size() <= maxBytes);
    PX_FUZZ_CHECK(!rows[i].serviceData.empty() || rows.size() == 1);
    if (i > 0) {
      PX_FUZZ_CHECK(!cutsEscape(s, cut));
      PX_FUZZ_CHECK(!cutsUtf8(s, cut));
    }
    joined += rows[i].serviceData;
    cut += rows[i].serviceData.size();
  }
  PX_FUZZ_CHECK(joined == s);

  // Any order: reversed, then rotated by one.
  std::reverse(rows.begin(), rows.end());
  std::rotate(rows.begin(), rows.begin() + 1, rows.end());
  const std::optional<px::UsageRecord> back = px::reassemble(rows);
  PX_FUZZ_CHECK(back.has_value());
  PX_FUZZ_CHECK(back->serviceData == record.serviceData);
  PX_FUZZ_CHECK(back->recordId == record.recordId && back->status == record.status);
  PX_FUZZ_CHECK(back->recordTimeMs == record.recordTimeMs);

  // Without segment 0 the rows are refused. (Without the last one they would look complete:
  // rows carry no segment count, a limit of the SEGMENT column design.)
  if (rows.size() > 1) {
    rows.erase(std::find_if(rows.begin(), rows.end(),
                            [](const px::UsageRow& r) { return r.segment == 0; }));
    PX_FUZZ_CHECK(!px::reassemble(rows).has_value());
  }
  return 0;
}

#include "store/RecordTime.h"

#include <stdexcept>

namespace px {
namespace {

constexpr int64_t kMsPerDay = 86400000;

// Civil date <-> days since 1970-01-01 (H. Hinnant's algorithms, proleptic Gregorian); avoids
// gmtime/timegm, which depend on the C library and the process time zone.
struct Civil {
  int64_t year;
  int month;  // 1..12
  int day;    // 1..31
};

Civil civilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const int64_t month = mp < 10 ? mp + 3 : mp - 9;
  return {yoe + era * 400 + (month <= 2 ? 1 : 0), static_cast<int>(month), static_cast<int>(day)};
}

int64_t daysFromCivil(int64_t year, int month, int day) {
  year -= month <= 2 ? 1 : 0;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const int64_t yoe = year - era * 400;
  const int64_t doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void putDigits(std::string& out, size_t pos, int64_t value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    out[pos + static_cast<size_t>(i)] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
}

// Reads `width` ASCII digits at pos; -1 when any is not a digit.
int64_t getDigits(std::string_view text, size_t pos, int width) {
  int64_t value = 0;
  for (int i = 0; i < width; ++i) {
    const char c = text[pos + static_cast<size_t>(i)];
    if (c < '0' || c > '9') return -1;
    value = value * 10 + (c - '0');
  }
  return value;
}

}  // namespace

std::string formatRecordTime(int64_t ms) {
  if (ms < kMinRecordTimeMs || ms > kMaxRecordTimeMs) {
    throw std::out_of_range("record time " + std::to_string(ms) + " ms is outside 1970..9999");
  }
  const Civil c = civilFromDays(ms / kMsPerDay);
  const int64_t msOfDay = ms % kMsPerDay;
  std::string out = "0000-00-00T00:00:00.000Z";
  putDigits(out, 0, c.year, 4);
  putDigits(out, 5, c.month, 2);
  putDigits(out, 8, c.day, 2);
  putDigits(out, 11, msOfDay / 3600000, 2);
  putDigits(out, 14, msOfDay / 60000 % 60, 2);
  putDigits(out, 17, msOfDay / 1000 % 60, 2);
  putDigits(out, 20, msOfDay % 1000, 3);
  return out;
}

std::optional<int64_t> parseRecordTime(std::string_view text) {
  constexpr std::string_view kShape = "0000-00-00T00:00:00.000Z";
  if (text.size() != kShape.size()) return std::nullopt;
  for (size_t i = 0; i < kShape.size(); ++i) {
    if (kShape[i] != '0' && text[i] != kShape[i]) return std::nullopt;
  }
  const int64_t year = getDigits(text, 0, 4);
  const int64_t month = getDigits(text, 5, 2);
  const int64_t day = getDigits(text, 8, 2);
  const int64_t hour = getDigits(text, 11, 2);
  const int64_t minute = getDigits(text, 14, 2);
  const int64_t second = getDigits(text, 17, 2);
  const int64_t milli = getDigits(text, 20, 3);
  if (year < 1970 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 ||
      minute < 0 || minute > 59 || second < 0 || second > 59 || milli < 0) {
    return std::nullopt;
  }
  const int64_t days = daysFromCivil(year, static_cast<int>(month), static_cast<int>(day));
  // Rejects 31 April, 29 February of common years and the like: the date must round-trip.
  const Civil back = civilFromDays(days);
  if (back.month != month || back.day != day) return std::nullopt;
  return days * kMsPerDay + ((hour * 60 + minute) * 60 + second) * 1000 + milli;
}

}  // namespace px

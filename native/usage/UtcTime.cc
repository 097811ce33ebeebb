#include "usage/UtcTime.h"

#include <stdexcept>

namespace px {
namespace {

constexpr int64_t kMsPerDay = 86400000;

// Writes the `width` low decimal digits of value (>= 0), zero-padded; returns the end.
char* putDigits(char* out, int64_t value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  return out + width;
}

// Civil date <-> days since 1970-01-01 (H. Hinnant's algorithms, proleptic Gregorian): no
// gmtime/timegm, which depend on the C library and the process time zone.
// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian).
int64_t daysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void civilFromDays(int64_t days, int64_t& y, int64_t& m, int64_t& d) {
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = yoe + era * 400 + (m <= 2 ? 1 : 0);
}

int64_t daysInMonth(int64_t y, int64_t m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

}  // namespace

void formatUtcTime(int64_t msSinceEpoch, char* out) {
  // Floor division so that times before 1970 format correctly too.
  int64_t days = msSinceEpoch / kMsPerDay;
  int64_t msOfDay = msSinceEpoch % kMsPerDay;
  if (msOfDay < 0) {
    msOfDay += kMsPerDay;
    --days;
  }
  int64_t y = 0, m = 0, d = 0;
  civilFromDays(days, y, m, d);
  if (y < 0 || y > 9999) throw std::out_of_range("time outside the years 0000..9999");
  out = putDigits(out, y, 4);
  *out++ = '-';
  out = putDigits(out, m, 2);
  *out++ = '-';
  out = putDigits(out, d, 2);
  *out++ = 'T';
  out = putDigits(out, msOfDay / 3600000, 2);
  *out++ = ':';
  out = putDigits(out, msOfDay / 60000 % 60, 2);
  *out++ = ':';
  out = putDigits(out, msOfDay / 1000 % 60, 2);
  *out++ = '.';
  out = putDigits(out, msOfDay % 1000, 3);
  *out = 'Z';
}

std::string formatUtcTime(int64_t msSinceEpoch) {
  char text[kUtcTimeLength];
  formatUtcTime(msSinceEpoch, text);
  return std::string(text, kUtcTimeLength);
}

std::optional<int64_t> parseUtcTime(std::string_view text) {
  // "YYYY-MM-DDTHH:MM:SS.mmmZ"
  static constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (text.size() != kShape.size()) return std::nullopt;
  for (size_t i = 0; i < kShape.size(); ++i) {
    const bool digit = text[i] >= '0' && text[i] <= '9';
    if (kShape[i] == 'd' ? !digit : text[i] != kShape[i]) return std::nullopt;
  }
  auto num = [text](size_t pos, size_t len) {
    int64_t v = 0;
    for (size_t i = pos; i < pos + len; ++i) v = v * 10 + (text[i] - '0');
    return v;
  };
  const int64_t y = num(0, 4), mo = num(5, 2), d = num(8, 2);
  const int64_t h = num(11, 2), mi = num(14, 2), s = num(17, 2), ms = num(20, 3);
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 59) {
    return std::nullopt;
  }
  return daysFromCivil(y, mo, d) * kMsPerDay + ((h * 60 + mi) * 60 + s) * 1000 + ms;
}

}  // namespace px

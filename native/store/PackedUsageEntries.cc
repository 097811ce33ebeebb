#include "store/PackedUsageEntries.h"

#include <cstdint>
#include <limits>
#include <stdexcept>

namespace px {
namespace {

void appendUtf8(std::string& out, std::u16string_view text) {
  out.reserve(out.size() + text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    uint32_t c = text[i];
    if (c >= 0xD800 && c <= 0xDFFF) {
      const bool pair =
          c <= 0xDBFF && i + 1 < text.size() && text[i + 1] >= 0xDC00 && text[i + 1] <= 0xDFFF;
      if (pair) {
        c = 0x10000 + ((c - 0xD800) << 10) + (text[++i] - 0xDC00);
      } else {
        c = 0xFFFD;  // an unpaired surrogate
      }
    }
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (c >> 12)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (c >> 18)));
      out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
}

class Reader {
 public:
  explicit Reader(std::u16string_view packed) : packed_(packed) {}

  bool atEnd() const { return pos_ == packed_.size(); }

  // The next field's text, as UTF-16.
  std::u16string_view field(size_t entry, const char* what) {
    uint64_t length = 0;
    size_t digits = 0;
    while (pos_ < packed_.size() && packed_[pos_] >= u'0' && packed_[pos_] <= u'9') {
      if (++digits > 15) fail(entry, what, "length too long");
      length = length * 10 + static_cast<uint64_t>(packed_[pos_++] - u'0');
    }
    if (digits == 0 || pos_ >= packed_.size() || packed_[pos_] != u':') {
      fail(entry, what, "expected <length>:");
    }
    ++pos_;
    if (length > packed_.size() - pos_) fail(entry, what, "field runs past the end");
    const std::u16string_view text = packed_.substr(pos_, static_cast<size_t>(length));
    pos_ += static_cast<size_t>(length);
    return text;
  }

  std::string text(size_t entry, const char* what) {
    std::string out;
    appendUtf8(out, field(entry, what));
    return out;
  }

  int64_t integer(size_t entry, const char* what) {
    const std::u16string_view digits = field(entry, what);
    size_t i = 0;
    const bool negative = !digits.empty() && digits[0] == u'-';
    if (negative) ++i;
    if (i == digits.size() || digits.size() - i > 18) fail(entry, what, "not an integer");
    int64_t value = 0;
    for (; i < digits.size(); ++i) {
      if (digits[i] < u'0' || digits[i] > u'9') fail(entry, what, "not an integer");
      value = value * 10 + (digits[i] - u'0');
    }
    return negative ? -value : value;
  }

  [[noreturn]] static void fail(size_t entry, const char* what, const char* problem) {
    throw std::invalid_argument("usage entry " + std::to_string(entry) + ": " + what + ": " +
                                problem);
  }

 private:
  std::u16string_view packed_;
  size_t pos_ = 0;
};

}  // namespace

std::vector<UsageEntry> unpackUsageEntries(std::u16string_view packed) {
  std::vector<UsageEntry> entries;
  Reader in(packed);
  while (!in.atEnd()) {
    const size_t n = entries.size();
    UsageEntry& entry = entries.emplace_back();
    entry.globalId = in.text(n, "globalId");
    entry.eventType = in.text(n, "eventType");
    const int64_t status = in.integer(n, "statusCode");
    if (status < std::numeric_limits<int>::min() || status > std::numeric_limits<int>::max()) {
      Reader::fail(n, "statusCode", "out of range");
    }
    entry.statusCode = static_cast<int>(status);
    entry.recordTimeMs = in.integer(n, "recordTimeMs");
    const int64_t count = in.integer(n, "attribute count");
    if (count < 0 || static_cast<uint64_t>(count) > packed.size()) {
      Reader::fail(n, "attribute count", "out of range");
    }
    entry.attributes.reserve(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) {
      std::string name = in.text(n, "attribute name");
      entry.attributes.emplace_back(std::move(name), in.text(n, "attribute value"));
    }
  }
  return entries;
}

}  // namespace px

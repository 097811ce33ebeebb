#include "usage/RecordId.h"

#include <array>
#include <chrono>
#include <stdexcept>

namespace px {
namespace {

constexpr std::string_view kAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr int64_t kMaxMs = (int64_t{1} << 48) - 1;

std::mt19937_64 seededFromDevice() {
  std::random_device device;
  std::array<std::random_device::result_type, 8> words{};
  for (auto& w : words) w = device();
  std::seed_seq seq(words.begin(), words.end());
  return std::mt19937_64(seq);
}

int alphabetIndex(char c) {
  const auto pos = kAlphabet.find(c);
  return pos == std::string_view::npos ? -1 : static_cast<int>(pos);
}

}  // namespace

RecordIdGenerator::RecordIdGenerator() : rng_(seededFromDevice()) {}

RecordIdGenerator::RecordIdGenerator(uint64_t seed) : rng_(seed) {}

std::string RecordIdGenerator::newRecordId() {
  const auto now =
      std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  return newRecordId(static_cast<int64_t>(now.time_since_epoch().count()));
}

std::string RecordIdGenerator::newRecordId(int64_t nowMs) {
  if (nowMs < 0 || nowMs > kMaxMs) throw std::out_of_range("record id time outside 48 bits");
  uint64_t hi = 0;  // bits 127..64: time (48) + random high (16)
  uint64_t lo = 0;  // bits 63..0: random low
  {
    std::lock_guard<std::mutex> lock(mutex_);
    bool fresh = nowMs > lastMs_;
    if (!fresh) {
      // Same millisecond or clock stepped back: keep the last time and count up.
      if (++randomLow_ == 0 && ++randomHigh_ == 0) {
        if (lastMs_ == kMaxMs) throw std::out_of_range("record id space exhausted");
        ++lastMs_;  // 2^80 ids in one millisecond: move to the next one
        fresh = true;
        nowMs = lastMs_;
      }
    }
    if (fresh) {
      lastMs_ = nowMs;
      randomHigh_ = static_cast<uint16_t>(rng_() >> 48);
      randomLow_ = rng_();
    }
    hi = (static_cast<uint64_t>(lastMs_) << 16) | randomHigh_;
    lo = randomLow_;
  }
  // 26 characters of 5 bits cover bits 129..0; bits 129 and 128 are zero.
  std::string id(kLength, '0');
  for (size_t i = 0; i < kLength; ++i) {
    const unsigned shift = static_cast<unsigned>(5 * (kLength - 1 - i));  // of the low bit
    uint64_t v = 0;
    if (shift >= 64) {
      v = hi >> (shift - 64);
    } else if (shift + 5 <= 64) {
      v = lo >> shift;
    } else {
      v = (lo >> shift) | (hi << (64 - shift));
    }
    id[i] = kAlphabet[v & 31];
  }
  return id;
}

std::optional<int64_t> RecordIdGenerator::timestampMs(std::string_view id) {
  if (id.size() != kLength || id[0] > '7') return std::nullopt;
  int64_t ms = 0;
  for (size_t i = 0; i < kLength; ++i) {
    const int v = alphabetIndex(id[i]);
    if (v < 0) return std::nullopt;
    if (i < 10) ms = ms * 32 + v;  // the first 10 characters hold bits 129..80: the time
  }
  return ms;
}

}  // namespace px

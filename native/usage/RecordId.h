// RECORDID values: 26-character Crockford base32 strings (the ULID layout): a 48-bit UTC
// millisecond timestamp then 80 random bits, so ids sort by creation time as text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>

namespace px {

class RecordIdGenerator {
 public:
  static constexpr size_t kLength = 26;

  RecordIdGenerator();                        // seeded from std::random_device
  explicit RecordIdGenerator(uint64_t seed);  // deterministic, for tests

  RecordIdGenerator(const RecordIdGenerator&) = delete;
  RecordIdGenerator& operator=(const RecordIdGenerator&) = delete;

  // Thread-safe. Ids from one generator strictly increase: within one millisecond (or if the
  // clock steps back) the random part of the previous id is incremented instead of redrawn.
  std::string newRecordId();               // now, from std::chrono::system_clock
  std::string newRecordId(int64_t nowMs);  // nowMs in 0 .. 2^48-1, else std::out_of_range

  // The timestamp of a well-formed id (26 characters of the alphabet, first one '0'..'7',
  // upper case), nullopt otherwise.
  static std::optional<int64_t> timestampMs(std::string_view id);

 private:
  std::mutex mutex_;
  std::mt19937_64 rng_;
  int64_t lastMs_ = -1;
  uint16_t randomHigh_ = 0;  // the 80 random bits of the last id: 16 + 64
  uint64_t randomLow_ = 0;
};

}  // namespace px

// Identifiers the presence roles put into requests (Call-IDs, tags): random per role and process,
// so a restarted gateway never matches a dialog of its previous run.
#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace px {

inline std::string hex16(uint64_t value) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, value >>= 4) out[static_cast<size_t>(i)] = kDigits[value & 15];
  return out;
}

inline uint64_t randomPrefix() {
  std::random_device entropy;
  return (static_cast<uint64_t>(entropy()) << 32) ^ entropy();
}

}  // namespace px

#include "store/NotificationRows.h"

#include <array>
#include <optional>
#include <string_view>
#include <utility>

#include "store/Sqlite.h"

namespace px::store {
namespace {

constexpr std::array<TerminalStatus, 3> kStatuses = {
    TerminalStatus::kReachable, TerminalStatus::kUnreachable, TerminalStatus::kBusy};

std::optional<TerminalStatus> parseStatus(std::string_view name) {
  for (TerminalStatus s : kStatuses) {
    if (toString(s) == name) return s;
  }
  return std::nullopt;
}

std::vector<TerminalStatus> decodeCriteria(std::string_view text) {
  std::vector<TerminalStatus> criteria;
  if (text.empty()) return criteria;
  for (std::string_view name : splitStored(text, ',')) {
    const std::optional<TerminalStatus> s = parseStatus(name);
    if (!s) throw DecodeError{"criteria holds an unknown status '" + std::string(name) + "'"};
    criteria.push_back(*s);
  }
  return criteria;
}

std::vector<WatchedAddress> decodeAddresses(std::string_view text) {
  std::vector<WatchedAddress> addresses;
  if (text.empty()) return addresses;
  size_t line = 0;
  for (std::string_view entry : splitStored(text, '\n')) {
    ++line;
    const std::vector<std::string_view> fields = splitStored(entry, '\t');
    if (fields.size() != 3) {
      throw DecodeError{"addresses line " + std::to_string(line) + " has " +
                        std::to_string(fields.size()) + " fields instead of 3"};
    }
    WatchedAddress a;
    a.address = std::string(fields[0]);
    a.key = std::string(fields[1]);
    if (!fields[2].empty()) {
      a.lastSeen = parseStatus(fields[2]);
      if (!a.lastSeen) {
        throw DecodeError{"addresses line " + std::to_string(line) + " has an unknown status '" +
                          std::string(fields[2]) + "'"};
      }
    }
    addresses.push_back(std::move(a));
  }
  return addresses;
}

constexpr int64_t kMaxUint32 = std::numeric_limits<uint32_t>::max();

}  // namespace

std::string encodeCriteria(const std::vector<TerminalStatus>& criteria) {
  std::string text;
  for (TerminalStatus s : criteria) {
    if (!text.empty()) text += ',';
    text += toString(s);
  }
  return text;
}

std::string encodeAddresses(const std::vector<WatchedAddress>& addresses) {
  std::string text;
  for (size_t i = 0; i < addresses.size(); ++i) {
    const WatchedAddress& a = addresses[i];
    if (i > 0) text += '\n';
    text += a.address;
    text += '\t';
    text += a.key;
    text += '\t';
    if (a.lastSeen) text += toString(*a.lastSeen);
  }
  return text;
}

bool holdsSeparator(const std::string& text) {
  return text.find_first_of("\t\n") != std::string::npos;
}

bool SqliteRow::isNull(int col) const {
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}

std::string SqliteRow::text(int col) const {
  if (sqlite3_column_type(stmt_, col) != SQLITE_TEXT) {
    throw DecodeError{std::string(sqlite3_column_name(stmt_, col)) + " is not text"};
  }
  return sqlite::columnText(stmt_, col);
}

int64_t SqliteRow::integer(int col, int64_t min, int64_t max) const {
  if (sqlite3_column_type(stmt_, col) != SQLITE_INTEGER) {
    throw DecodeError{std::string(sqlite3_column_name(stmt_, col)) + " is not an integer"};
  }
  const int64_t value = sqlite3_column_int64(stmt_, col);
  if (value < min || value > max) {
    throw DecodeError{std::string(sqlite3_column_name(stmt_, col)) + " is out of range (" +
                      std::to_string(value) + ")"};
  }
  return value;
}

// Booleans are stored as 0 or 1 in SQLite.
bool SqliteRow::flag(int col) const {
  return integer(col, 0, 1) != 0;
}

std::string SqliteRow::lenientText(int col) const {
  return sqlite::columnText(stmt_, col);
}

NotificationState decodeRow(const StoredRow& row) {
  NotificationState state;
  NotificationSpec& spec = state.spec;
  spec.id = NotificationKey{row.text(0), row.text(1)};
  spec.endpoint = row.text(2);
  spec.interfaceName = row.text(3);
  spec.globalId = row.text(4);
  spec.criteria = decodeCriteria(row.text(5));
  spec.checkImmediate = row.flag(6);
  spec.frequencyMs = row.integer(7, 0);
  spec.createdAtMs = row.integer(8);
  spec.expiresAtMs = row.integer(9);
  if (!row.isNull(10)) spec.countLimit = static_cast<uint32_t>(row.integer(10, 0, kMaxUint32));
  state.progress.sent = static_cast<uint32_t>(row.integer(11, 0, kMaxUint32));
  state.progress.lastSentAtMs = row.integer(12);
  // Stored as the int64 with the same bits: round-trips the whole uint64 range.
  state.progress.nextSequence = static_cast<uint64_t>(row.integer(13));
  spec.addresses = decodeAddresses(row.text(14));
  spec.api = row.text(15);
  spec.extension = row.text(16);
  return state;
}

std::vector<std::string_view> splitStored(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  for (;;) {
    const size_t at = text.find(separator);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return parts;
    text.remove_prefix(at + 1);
  }
}

}  // namespace px::store

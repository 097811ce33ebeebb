// A NotificationState as a row of the notification store's notifications table: the column list
// and the text encodings of criteria and addresses, and the strict decoding of a stored row
// (DecodeError naming the field, so that a bad row can be quarantined and told about), shared by
// the SQLite store and the PostgreSQL one (PgRegistrations) through StoredRow.
//   addresses: one line per address, "address\tkey\tlastSeen" (lastSeen: a status name or "").
//   criteria: status names joined by ','.
//   api, extension: NotificationSpec's, as they are ('' = Parlay X).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "notify/NotificationEngine.h"

namespace px::store {

// The columns of notifications in table order (select and insert lists); the key comes first.
inline constexpr const char* kNotificationColumns =
    "requester, correlator, endpoint, interface_name, global_id, criteria, check_immediate, "
    "frequency_ms, created_at_ms, expires_at_ms, count_limit, sent, last_sent_at_ms, "
    "next_sequence, addresses, api, extension";

std::string encodeCriteria(const std::vector<TerminalStatus>& criteria);
std::string encodeAddresses(const std::vector<WatchedAddress>& addresses);
// True when text holds a tab or line break, which the addresses encoding cannot hold.
bool holdsSeparator(const std::string& text);
// The parts of a stored list between separators (one empty part for empty text); views into it.
std::vector<std::string_view> splitStored(std::string_view text, char separator);

// A row that does not decode: the message names the field; the caller adds file and key.
struct DecodeError {
  std::string what;
};

// One stored row as the decoders read it, whatever the database: the decoding of every field
// is written once (here, CallRegistrationRows.h, DeliveryRows.h) for SQLite and PostgreSQL.
// Column numbers are those of the select list.
class StoredRow {
 public:
  virtual ~StoredRow() = default;
  virtual bool isNull(int col) const = 0;
  // Strict reads: DecodeError naming the column when the stored value is not text, not an
  // integer in [min, max], or not a boolean (SQLite: 0 or 1).
  virtual std::string text(int col) const = 0;
  virtual int64_t integer(int col, int64_t min = std::numeric_limits<int64_t>::min(),
                          int64_t max = std::numeric_limits<int64_t>::max()) const = 0;
  virtual bool flag(int col) const = 0;
  // Whatever text the value converts to ("" for NULL): names a row that did not decode.
  virtual std::string lenientText(int col) const = 0;
};

// A row of a SQLite statement (its current step).
class SqliteRow : public StoredRow {
 public:
  explicit SqliteRow(sqlite3_stmt* stmt) : stmt_(stmt) {}
  bool isNull(int col) const override;
  std::string text(int col) const override;
  int64_t integer(int col, int64_t min = std::numeric_limits<int64_t>::min(),
                  int64_t max = std::numeric_limits<int64_t>::max()) const override;
  bool flag(int col) const override;
  std::string lenientText(int col) const override;

 private:
  sqlite3_stmt* stmt_;
};

// A row selected with kNotificationColumns, key included; DecodeError for anything that does
// not decode.
NotificationState decodeRow(const StoredRow& row);

}  // namespace px::store

// A NotificationState as a row of the notification store's notifications table: the column list
// and the text encodings of criteria and addresses, and the strict decoding of a stored row
// (DecodeError naming the field, so that a bad row can be quarantined and told about).
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

// Strict column reads: DecodeError when the stored type or range is not the expected one.
std::string textColumn(sqlite3_stmt* stmt, int col);
int64_t intColumn(sqlite3_stmt* stmt, int col, int64_t min = std::numeric_limits<int64_t>::min(),
                  int64_t max = std::numeric_limits<int64_t>::max());

// Every column but the key (columns 0 and 1, read by the caller) of a row selected with
// kNotificationColumns; DecodeError for anything that does not decode.
NotificationState decodeRow(sqlite3_stmt* stmt);

}  // namespace px::store

// A call::CallRegistration as a row of the notification store's call_registrations table (schema
// version 3): its DDL, column list and text encodings, and the strict decoding of a stored row
// (DecodeError naming the field, so that a bad row is quarantined, never a crash).
//   addresses: one canonical address (exact or "...*") per line.
//   criteria: CallEvents names joined by ',' (never empty: [] in a request means every event).
#pragma once

#include <sqlite3.h>

#include <array>
#include <string>

#include "call/CallMatcher.h"
#include "store/NotificationRows.h"
#include "store/Sqlite.h"

namespace px::store {

// PRIMARY KEY (kind, correlator): a correlator is unique per kind (SVC0005). IF NOT EXISTS: a
// version 3 file stamped back to 2 by hand already holds it (the migration then checks it).
inline constexpr const char* kCreateCallRegistrations =
    "CREATE TABLE IF NOT EXISTS call_registrations ("
    " kind TEXT NOT NULL,"
    " correlator TEXT NOT NULL,"
    " requester TEXT NOT NULL,"
    " addresses TEXT NOT NULL,"
    " criteria TEXT NOT NULL,"
    " endpoint TEXT NOT NULL,"
    " interface_name TEXT NOT NULL,"
    " ns TEXT NOT NULL,"
    " created_at_ms INTEGER NOT NULL,"
    " start_order INTEGER NOT NULL,"
    " PRIMARY KEY (kind, correlator)) WITHOUT ROWID";

inline constexpr std::array<sqlite::ColumnSpec, 10> kExpectedCallColumns = {{
    {"kind", "TEXT", true, 1},
    {"correlator", "TEXT", true, 2},
    {"requester", "TEXT", true, 0},
    {"addresses", "TEXT", true, 0},
    {"criteria", "TEXT", true, 0},
    {"endpoint", "TEXT", true, 0},
    {"interface_name", "TEXT", true, 0},
    {"ns", "TEXT", true, 0},
    {"created_at_ms", "INTEGER", true, 0},
    {"start_order", "INTEGER", true, 0},
}};

// In table order (select and insert lists).
inline constexpr const char* kCallRegistrationColumns =
    "kind, correlator, requester, addresses, criteria, endpoint, interface_name, ns, "
    "created_at_ms, start_order";

std::string encodeCallAddresses(const std::vector<std::string>& addresses);
std::string encodeCallCriteria(call::CallEventSet criteria);
// "" when the registration fits the encoding, else why not (an address with a line break).
std::string callRegistrationUnstorable(const call::CallRegistration& registration);

// A row selected with kCallRegistrationColumns (SQLite or PostgreSQL); DecodeError
// (NotificationRows.h) otherwise.
call::CallRegistration decodeCallRegistrationRow(const StoredRow& row);

}  // namespace px::store

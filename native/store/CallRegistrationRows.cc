// The row encoding of call registrations, and NotificationStore's loading of them at start-up
// (undecodable rows go to quarantined_call_registrations, like notifications).
#include "store/CallRegistrationRows.h"

#include <stdexcept>
#include <string_view>
#include <utility>

#include "store/NotificationRows.h"
#include "store/NotificationStore.h"

namespace px::store {
namespace {

call::RegistrationKind decodeKind(const std::string& text) {
  if (text == call::toString(call::RegistrationKind::kNotification)) {
    return call::RegistrationKind::kNotification;
  }
  if (text == call::toString(call::RegistrationKind::kDirection)) {
    return call::RegistrationKind::kDirection;
  }
  throw DecodeError{"kind '" + text + "' is neither notification nor direction"};
}

call::CallEventSet decodeCriteria(std::string_view text) {
  call::CallEventSet set;
  for (std::string_view name : splitStored(text, ',')) {
    const std::optional<call::CallEvent> e = call::callEventFromString(name);
    if (!e) throw DecodeError{"criteria holds an unknown event '" + std::string(name) + "'"};
    set = set.with(*e);
  }
  return set;
}

std::vector<std::string> decodeAddresses(std::string_view text) {
  std::vector<std::string> addresses;
  for (std::string_view a : splitStored(text, '\n')) {
    if (a.empty()) throw DecodeError{"addresses holds an empty address"};
    addresses.emplace_back(a);
  }
  return addresses;
}

}  // namespace

std::string encodeCallAddresses(const std::vector<std::string>& addresses) {
  std::string text;
  for (const std::string& a : addresses) {
    if (!text.empty()) text += '\n';
    text += a;
  }
  return text;
}

std::string encodeCallCriteria(call::CallEventSet criteria) {
  std::string text;
  for (size_t i = 0; i < call::kCallEventCount; ++i) {
    const auto e = static_cast<call::CallEvent>(i);
    if (!criteria.has(e)) continue;
    if (!text.empty()) text += ',';
    text += call::toString(e);
  }
  return text;
}

std::string callRegistrationUnstorable(const call::CallRegistration& registration) {
  if (registration.addresses.empty()) return "a call registration needs an address";
  if (registration.criteria.empty()) return "a call registration needs a criterion";
  for (const std::string& a : registration.addresses) {
    if (a.empty() || a.find('\n') != std::string::npos) {
      return "address '" + a + "' is empty or holds a line break";
    }
  }
  return "";
}

call::CallRegistration decodeCallRegistrationRow(const StoredRow& row) {
  call::CallRegistration r;
  r.kind = decodeKind(row.text(0));
  r.correlator = row.text(1);
  r.requester = row.text(2);
  r.addresses = decodeAddresses(row.text(3));
  r.criteria = decodeCriteria(row.text(4));
  r.endpoint = row.text(5);
  r.interfaceName = row.text(6);
  r.ns = row.text(7);
  r.createdMs = static_cast<uint64_t>(row.integer(8, 0));
  r.order = static_cast<uint64_t>(row.integer(9, 1));
  return r;
}

}  // namespace px::store

namespace px {

std::vector<call::CallRegistration> NotificationStore::loadCallRegistrations() {
  const auto connection = writer_->useConnection();
  if (!db_) throw std::logic_error("notification store '" + path_ + "' is closed");
  sqlite3* db = db_.get();
  quarantinedCalls_.clear();
  std::vector<call::CallRegistration> loaded;
  std::vector<std::pair<sqlite::Value, sqlite::Value>> badKeys;
  {
    sqlite::Stmt select;
    try {
      select = sqlite::prepare(db,
                               std::string("SELECT ") + store::kCallRegistrationColumns +
                                   " FROM call_registrations ORDER BY start_order",
                               false);
    } catch (const sqlite::Error& e) {
      throw std::runtime_error("notification store '" + path_ + "': " + e.what());
    }
    int rc;
    while ((rc = sqlite3_step(select.get())) == SQLITE_ROW) {
      sqlite3_stmt* row = select.get();
      try {
        loaded.push_back(store::decodeCallRegistrationRow(store::SqliteRow(row)));
      } catch (const store::DecodeError& e) {
        // The key as stored, to move this very row, before the lenient reads convert it.
        badKeys.emplace_back(sqlite::Value(sqlite3_value_dup(sqlite3_column_value(row, 0))),
                             sqlite::Value(sqlite3_value_dup(sqlite3_column_value(row, 1))));
        QuarantinedCallRegistration q;
        q.kind = sqlite::columnText(row, 0);
        q.correlator = sqlite::columnText(row, 1);
        q.requester = sqlite::columnText(row, 2);
        q.reason = "notification store '" + path_ + "': call registration (" + q.kind +
                   ", correlator '" + q.correlator + "') cannot be decoded: " + e.what;
        quarantinedCalls_.push_back(std::move(q));
      }
    }
    if (rc != SQLITE_DONE) {
      throw std::runtime_error("notification store '" + path_ +
                               "': loading call registrations: " + sqlite3_errmsg(db));
    }
  }
  if (badKeys.empty()) return loaded;
  // Moved in one transaction; when that fails the rows stay (quarantined again next start).
  try {
    sqlite::exec(db,
                 "CREATE TABLE IF NOT EXISTS quarantined_call_registrations (kind, correlator, "
                 "requester, addresses, criteria, endpoint, interface_name, ns, created_at_ms, "
                 "start_order, reason, quarantined_at_ms)");
    sqlite::Stmt copy = sqlite::prepare(
        db,
        std::string("INSERT INTO quarantined_call_registrations SELECT ") +
            store::kCallRegistrationColumns +
            ", ?3, CAST(strftime('%s','now') AS INTEGER) * 1000 FROM call_registrations "
            "WHERE kind = ?1 AND correlator = ?2",
        false);
    sqlite::Stmt erase = sqlite::prepare(
        db, "DELETE FROM call_registrations WHERE kind = ?1 AND correlator = ?2", false);
    sqlite::inTransaction(db, [&] {
      for (size_t i = 0; i < badKeys.size(); ++i) {
        for (sqlite3_stmt* stmt : {copy.get(), erase.get()}) {
          sqlite3_reset(stmt);
          sqlite3_bind_value(stmt, 1, badKeys[i].first.get());
          sqlite3_bind_value(stmt, 2, badKeys[i].second.get());
          if (stmt == copy.get()) {
            sqlite3_bind_text(stmt, 3, quarantinedCalls_[i].reason.c_str(), -1, SQLITE_TRANSIENT);
          }
          if (sqlite3_step(stmt) != SQLITE_DONE) {
            throw sqlite::Error("quarantining a call registration", sqlite3_extended_errcode(db),
                                sqlite3_errmsg(db));
          }
        }
      }
    });
    for (QuarantinedCallRegistration& q : quarantinedCalls_) q.moved = true;
  } catch (const std::exception& e) {
    for (QuarantinedCallRegistration& q : quarantinedCalls_) {
      q.reason += "; moving it to quarantined_call_registrations failed: ";
      q.reason += e.what();
    }
  }
  return loaded;
}

}  // namespace px

// NotificationStore at start-up: loading the notifications and the outbox, and moving rows that
// do not decode to quarantined_notifications.
#include <stdexcept>
#include <utility>

#include "store/DeliveryRows.h"
#include "store/NotificationRows.h"
#include "store/NotificationStore.h"

namespace px {

using store::DecodeError;
using store::decodeRow;
using store::SqliteRow;

std::vector<NotificationState> NotificationStore::loadAll() {
  const auto connection = writer_->useConnection();
  if (!db_) throw std::logic_error("notification store '" + path_ + "' is closed");
  sqlite3* db = db_.get();
  sqlite::Stmt select;
  try {
    select = sqlite::prepare(db,
                             std::string("SELECT ") + store::kNotificationColumns +
                                 " FROM notifications ORDER BY requester, correlator",
                             false);
  } catch (const sqlite::Error& e) {
    throw std::runtime_error("notification store '" + path_ + "': " + e.what());
  }
  std::vector<NotificationState> states;
  quarantined_.clear();
  std::vector<std::pair<sqlite::Value, sqlite::Value>> badKeys;
  int rc;
  while ((rc = sqlite3_step(select.get())) == SQLITE_ROW) {
    try {
      states.push_back(decodeRow(SqliteRow(select.get())));
    } catch (const DecodeError& e) {
      // The key exactly as stored (whatever its type), to move this very row; taken before the
      // lenient text reads below, which convert the statement's values in place.
      badKeys.emplace_back(sqlite::Value(sqlite3_value_dup(sqlite3_column_value(select.get(), 0))),
                           sqlite::Value(sqlite3_value_dup(sqlite3_column_value(select.get(), 1))));
      // Read leniently so that even a row with a bad key can be named and told about.
      QuarantinedNotification q;
      q.requester = sqlite::columnText(select.get(), 0);
      q.correlator = sqlite::columnText(select.get(), 1);
      q.endpoint = sqlite::columnText(select.get(), 2);
      q.globalId = sqlite::columnText(select.get(), 4);
      q.reason = "notification store '" + path_ + "': notification (requester '" + q.requester +
                 "', correlator '" + q.correlator + "') cannot be decoded: " + e.what;
      quarantined_.push_back(std::move(q));
    }
  }
  if (rc != SQLITE_DONE) {
    throw std::runtime_error("notification store '" + path_ + "': loading: " + sqlite3_errmsg(db));
  }
  select.reset();
  if (!badKeys.empty()) quarantine(badKeys);
  loadOutbox(db);
  return states;
}

// Reads the outbox; a row that does not decode is left where it is (nothing is deleted that an
// operator may want to read) and named in quarantined() at every start; its notification, if
// still active, goes on.
void NotificationStore::loadOutbox(sqlite3* db) {
  pending_.clear();
  sqlite::Stmt select = sqlite::prepare(db,
                                        std::string("SELECT ") + store::kDeliveryColumns +
                                            " FROM pending_deliveries ORDER BY requester, "
                                            "correlator, sequence",
                                        false);
  int rc;
  while ((rc = sqlite3_step(select.get())) == SQLITE_ROW) {
    sqlite3_stmt* row = select.get();
    Delivery d;
    std::string problem;
    if (store::decodeDeliveryRow(SqliteRow(row), &d, &problem)) {
      pending_.push_back(std::move(d));
      continue;
    }
    QuarantinedNotification q;
    q.pendingDelivery = true;
    q.requester = sqlite::columnText(row, 0);
    q.correlator = sqlite::columnText(row, 1);
    q.endpoint = sqlite::columnText(row, 4);
    q.globalId = sqlite::columnText(row, 5);
    q.reason = "notification store '" + path_ + "': a pending delivery of (requester '" +
               q.requester + "', correlator '" + q.correlator + "') cannot be decoded: " + problem;
    q.moved = false;
    quarantined_.push_back(std::move(q));
  }
  if (rc != SQLITE_DONE) {
    throw std::runtime_error("notification store '" + path_ +
                             "': loading pending deliveries: " + sqlite3_errmsg(db));
  }
}

// Moves undecodable rows to quarantined_notifications in one transaction (no type constraints
// there, so any row fits). When that fails the rows stay where they are (quarantined again at the
// next start) and each entry says so; loading goes on either way.
void NotificationStore::quarantine(
    const std::vector<std::pair<sqlite::Value, sqlite::Value>>& keys) {
  sqlite3* db = db_.get();
  try {
    sqlite::exec(db,
                 "CREATE TABLE IF NOT EXISTS quarantined_notifications (requester, correlator, "
                 "endpoint, interface_name, global_id, criteria, check_immediate, frequency_ms, "
                 "created_at_ms, expires_at_ms, count_limit, sent, last_sent_at_ms, next_sequence, "
                 "addresses, reason, quarantined_at_ms, api, extension)");
    sqlite::Stmt copy = sqlite::prepare(
        db,
        std::string("INSERT INTO quarantined_notifications (") + store::kNotificationColumns +
            ", reason, quarantined_at_ms) SELECT " + store::kNotificationColumns +
            ", ?3, CAST(strftime('%s','now') AS INTEGER) * 1000 FROM notifications "
            "WHERE requester = ?1 AND correlator = ?2",
        false);
    sqlite::Stmt erase = sqlite::prepare(
        db, "DELETE FROM notifications WHERE requester = ?1 AND correlator = ?2", false);
    sqlite::inTransaction(db, [&] {
      for (size_t i = 0; i < keys.size(); ++i) {
        for (sqlite3_stmt* stmt : {copy.get(), erase.get()}) {
          sqlite3_reset(stmt);
          sqlite3_bind_value(stmt, 1, keys[i].first.get());
          sqlite3_bind_value(stmt, 2, keys[i].second.get());
          if (stmt == copy.get()) {
            sqlite3_bind_text(stmt, 3, quarantined_[i].reason.c_str(), -1, SQLITE_TRANSIENT);
          }
          if (sqlite3_step(stmt) != SQLITE_DONE) {
            throw sqlite::Error("quarantining a notification", sqlite3_extended_errcode(db),
                                sqlite3_errmsg(db));
          }
        }
      }
    });
    for (QuarantinedNotification& q : quarantined_) q.moved = true;
  } catch (const std::exception& e) {
    for (QuarantinedNotification& q : quarantined_) {
      q.reason += "; moving it to quarantined_notifications failed: ";
      q.reason += e.what();
    }
  }
}

}  // namespace px

// NotificationStore: its schema, its statements, and the writes it queues on the shared writer.
// Loading at start-up is in NotificationLoad.cc, the row encoding in NotificationRows.cc.
#include "store/NotificationStore.h"

#include <array>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "store/CallRegistrationRows.h"
#include "store/DeliveryRows.h"
#include "store/NotificationRows.h"

namespace px {
namespace {

// Schema version 4 (PRAGMA user_version): version 1 plus pending_deliveries (2) plus
// call_registrations (3) plus the API marker and extension of notifications and deliveries and
// the decision time of deliveries (4: CAMARA subscriptions). application_id marks
// the file as ours, so that a foreign SQLite file with a matching user_version is still refused.
constexpr int64_t kSchemaVersion = 4;
constexpr int64_t kApplicationId = 0x50584e53;  // "PXNS"
constexpr uint32_t kBusyTimeoutMs = 5000;

// addresses and criteria: NotificationRows.h. The table is ordered by its key (BINARY collation,
// the same order as NotificationKey::operator<), so loadAll needs no sort.
constexpr const char* kCreateTable =
    "CREATE TABLE notifications ("
    " requester TEXT NOT NULL,"
    " correlator TEXT NOT NULL,"
    " endpoint TEXT NOT NULL,"
    " interface_name TEXT NOT NULL,"
    " global_id TEXT NOT NULL,"
    " criteria TEXT NOT NULL,"
    " check_immediate INTEGER NOT NULL,"
    " frequency_ms INTEGER NOT NULL,"
    " created_at_ms INTEGER NOT NULL,"
    " expires_at_ms INTEGER NOT NULL,"
    " count_limit INTEGER,"
    " sent INTEGER NOT NULL,"
    " last_sent_at_ms INTEGER NOT NULL,"
    " next_sequence INTEGER NOT NULL,"
    " addresses TEXT NOT NULL,"
    " api TEXT NOT NULL DEFAULT '',"
    " extension TEXT NOT NULL DEFAULT '',"
    " PRIMARY KEY (requester, correlator)) WITHOUT ROWID";

// The outbox: one row per delivery decided and not yet settled. payload: DeliveryRows.h.
constexpr const char* kCreateOutbox =
    "CREATE TABLE pending_deliveries ("
    " requester TEXT NOT NULL,"
    " correlator TEXT NOT NULL,"
    " sequence INTEGER NOT NULL,"
    " kind TEXT NOT NULL,"
    " endpoint TEXT NOT NULL,"
    " global_id TEXT NOT NULL,"
    " payload TEXT NOT NULL,"
    " api TEXT NOT NULL DEFAULT '',"
    " extension TEXT NOT NULL DEFAULT '',"
    " decided_at_ms INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (requester, correlator, sequence)) WITHOUT ROWID";

// Version 3 -> 4: the columns every row of an older version gets ('' = Parlay X, 0 = unknown):
// table, column, its declaration.
constexpr std::array<std::array<const char*, 3>, 5> kColumnsOf4 = {{
    {"notifications", "api", "TEXT NOT NULL DEFAULT ''"},
    {"notifications", "extension", "TEXT NOT NULL DEFAULT ''"},
    {"pending_deliveries", "api", "TEXT NOT NULL DEFAULT ''"},
    {"pending_deliveries", "extension", "TEXT NOT NULL DEFAULT ''"},
    {"pending_deliveries", "decided_at_ms", "INTEGER NOT NULL DEFAULT 0"},
}};

constexpr std::array<sqlite::ColumnSpec, 10> kExpectedOutboxColumns = {{
    {"requester", "TEXT", true, 1},
    {"correlator", "TEXT", true, 2},
    {"sequence", "INTEGER", true, 3},
    {"kind", "TEXT", true, 0},
    {"endpoint", "TEXT", true, 0},
    {"global_id", "TEXT", true, 0},
    {"payload", "TEXT", true, 0},
    {"api", "TEXT", true, 0},
    {"extension", "TEXT", true, 0},
    {"decided_at_ms", "INTEGER", true, 0},
}};

constexpr std::array<sqlite::ColumnSpec, 17> kExpectedColumns = {{
    {"requester", "TEXT", true, 1},
    {"correlator", "TEXT", true, 2},
    {"endpoint", "TEXT", true, 0},
    {"interface_name", "TEXT", true, 0},
    {"global_id", "TEXT", true, 0},
    {"criteria", "TEXT", true, 0},
    {"check_immediate", "INTEGER", true, 0},
    {"frequency_ms", "INTEGER", true, 0},
    {"created_at_ms", "INTEGER", true, 0},
    {"expires_at_ms", "INTEGER", true, 0},
    {"count_limit", "INTEGER", false, 0},
    {"sent", "INTEGER", true, 0},
    {"last_sent_at_ms", "INTEGER", true, 0},
    {"next_sequence", "INTEGER", true, 0},
    {"addresses", "TEXT", true, 0},
    {"api", "TEXT", true, 0},
    {"extension", "TEXT", true, 0},
}};

bool hasTable(sqlite3* db, const std::string& table) {
  sqlite::Stmt stmt =
      sqlite::prepare(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", false);
  sqlite::bindText(stmt.get(), 1, table);
  return sqlite3_step(stmt.get()) == SQLITE_ROW;
}

bool hasColumn(sqlite3* db, const std::string& table, const std::string& column) {
  sqlite::Stmt stmt =
      sqlite::prepare(db, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2", false);
  sqlite::bindText(stmt.get(), 1, table);
  sqlite::bindText(stmt.get(), 2, column);
  return sqlite3_step(stmt.get()) == SQLITE_ROW;
}

// The columns version 4 added (those still missing: a step may be run on a file that already has
// some), also to the quarantine table when there is one (its columns have no types).
void addColumnsOf4(sqlite3* db) {
  for (const auto& [table, column, declaration] : kColumnsOf4) {
    if (!hasColumn(db, table, column)) {
      sqlite::exec(
          db, (std::string("ALTER TABLE ") + table + " ADD COLUMN " + column + " " + declaration)
                  .c_str());
    }
  }
  if (hasTable(db, "quarantined_notifications")) {
    for (const char* column : {"api", "extension"}) {
      if (!hasColumn(db, "quarantined_notifications", column)) {
        sqlite::exec(
            db,
            (std::string("ALTER TABLE quarantined_notifications ADD COLUMN ") + column).c_str());
      }
    }
  }
}

// A new file gets every table; older versions are migrated one step per version (the base has
// checked identity and refused newer versions), then checked like a current file.
void prepareNotificationSchema(sqlite3* db, const sqlite::FileState& found) {
  if (found.fresh()) {
    sqlite::exec(db, kCreateTable);
    sqlite::exec(db, kCreateOutbox);
    sqlite::exec(db, store::kCreateCallRegistrations);
    return;
  }
  if (found.version < 1 || found.version > kSchemaVersion) {
    throw sqlite::SchemaError("unknown notification schema version " +
                              std::to_string(found.version) + " (this build reads version " +
                              std::to_string(kSchemaVersion) + ")");
  }
  if (found.version == 1) {
    // Version 1 had no outbox and no call registrations; its notifications are read as they are
    // (with the columns of version 4 added below). The outbox of version 2 is created so that
    // the step to 4 can add to it.
    sqlite::exec(db,
                 "CREATE TABLE IF NOT EXISTS pending_deliveries (requester TEXT NOT NULL, "
                 "correlator TEXT NOT "
                 "NULL, sequence INTEGER NOT NULL, kind TEXT NOT NULL, endpoint TEXT NOT NULL, "
                 "global_id TEXT NOT NULL, payload TEXT NOT NULL, PRIMARY KEY (requester, "
                 "correlator, sequence)) WITHOUT ROWID");
  }
  if (found.version <= 2) {
    // Versions 1 and 2 predate Call Notification.
    sqlite::exec(db, store::kCreateCallRegistrations);
  }
  if (found.version <= 3) addColumnsOf4(db);
  if (const auto columns = sqlite::columnMismatch(db, "notifications", kExpectedColumns.data(),
                                                  kExpectedColumns.size())) {
    throw sqlite::SchemaError("table notifications has unexpected columns (" + *columns + ")");
  }
  if (const auto outbox = sqlite::columnMismatch(
          db, "pending_deliveries", kExpectedOutboxColumns.data(), kExpectedOutboxColumns.size())) {
    throw sqlite::SchemaError("table pending_deliveries has unexpected columns (" + *outbox + ")");
  }
  if (const auto calls =
          sqlite::columnMismatch(db, "call_registrations", store::kExpectedCallColumns.data(),
                                 store::kExpectedCallColumns.size())) {
    throw sqlite::SchemaError("table call_registrations has unexpected columns (" + *calls + ")");
  }
}

// Checks the path and creates its directory before anything touches the file.
sqlite::OpenOptions openOptions(const std::string& path) {
  if (path.empty() || path == ":memory:") {
    throw std::runtime_error("notification store: path must name a file, got '" + path + "'");
  }
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) {
      throw std::runtime_error("notification store '" + path + "': cannot create directory '" +
                               parent.string() + "': " + ec.message());
    }
  }
  sqlite::OpenOptions open;
  open.label = "notification store";
  open.path = path;
  open.busyTimeoutMs = kBusyTimeoutMs;
  open.synchronousFull = true;  // a committed notification survives power loss
  return open;
}

sqlite::Schema notificationSchema() {
  sqlite::Schema schema;
  schema.version = kSchemaVersion;
  schema.applicationId = kApplicationId;
  schema.kind = "notification database";
  schema.prepare = &prepareNotificationSchema;
  return schema;
}

}  // namespace

NotificationStore::NotificationStore(const std::string& path)
    : path_(path), db_(openOptions(path), notificationSchema()) {
  try {
    prepareStatements();
  } catch (const sqlite::Error& e) {
    throw std::runtime_error("notification store '" + path_ + "': " + e.what());
  }
  Writer::Hooks hooks;
  hooks.write = [this](Batch& batch) { return writeBatch(batch); };
  hooks.finished = [this](Batch& batch, const sqlite::WriteStatus& outcome) {
    finishBatch(batch, outcome);
  };
  Writer::Options options;
  options.threadName = "px-notify-store";
  writer_ = std::make_unique<Writer>(db_.get(), options, std::move(hooks));
}

NotificationStore::~NotificationStore() {
  try {
    close();
  } catch (...) {  // close() from a Committed callback: nothing sensible left to do here
  }
}

void NotificationStore::prepareStatements() {
  sqlite3* db = db_.get();
  upsert_ = sqlite::prepare(db, std::string("INSERT OR REPLACE INTO notifications (") +
                                    store::kNotificationColumns +
                                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
                                    "?12, ?13, ?14, ?15, ?16, ?17)");
  delete_ =
      sqlite::prepare(db, "DELETE FROM notifications WHERE requester = ?1 AND correlator = ?2");
  keepDelivery_ = sqlite::prepare(
      db,
      "INSERT OR REPLACE INTO pending_deliveries (requester, correlator, sequence, kind, endpoint, "
      "global_id, payload, api, extension, decided_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
      "?9, ?10)");
  settleDelivery_ = sqlite::prepare(
      db,
      "DELETE FROM pending_deliveries WHERE requester = ?1 AND correlator = ?2 AND sequence = ?3");
  saveCall_ = sqlite::prepare(db, std::string("INSERT OR REPLACE INTO call_registrations (") +
                                      store::kCallRegistrationColumns +
                                      ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
  removeCall_ =
      sqlite::prepare(db, "DELETE FROM call_registrations WHERE kind = ?1 AND correlator = ?2");
}

void NotificationStore::saveCallRegistration(const call::CallRegistration& registration,
                                             Committed committed) {
  const std::string problem = store::callRegistrationUnstorable(registration);
  if (!problem.empty()) {
    if (committed) committed(false, "notification store '" + path_ + "': " + problem);
    return;
  }
  submitCall(registration.kind, registration.correlator, registration, std::move(committed));
}

void NotificationStore::removeCallRegistration(call::RegistrationKind kind,
                                               const std::string& correlator, Committed committed) {
  submitCall(kind, correlator, std::nullopt, std::move(committed));
}

void NotificationStore::submitCall(call::RegistrationKind kind, const std::string& correlator,
                                   std::optional<call::CallRegistration> registration,
                                   Committed committed) {
  const bool open = writer_->submit([&](Batch& queue) {
    queue.calls.insert_or_assign(std::make_pair(kind, correlator), std::move(registration));
    if (committed) queue.callbacks.push_back(std::move(committed));
    return true;
  });
  if (!open && committed) committed(false, "store is closed");
}

void NotificationStore::save(const NotificationState& state, Committed committed) {
  NotificationWrites writes;
  writes.saves.push_back(state);
  write(std::move(writes), std::move(committed));
}

void NotificationStore::remove(const NotificationKey& id, Committed committed) {
  NotificationWrites writes;
  writes.removes.push_back(id);
  write(std::move(writes), std::move(committed));
}

void NotificationStore::write(NotificationWrites writes, Committed committed) {
  for (const NotificationState& state : writes.saves) {
    for (const WatchedAddress& a : state.spec.addresses) {
      if (store::holdsSeparator(a.address) || store::holdsSeparator(a.key)) {
        if (committed) {
          committed(false, "notification store '" + path_ + "': address '" + a.address +
                               "' (key '" + a.key + "') holds a tab or line break");
        }
        return;
      }
    }
  }
  // One submission for all of it: the writer takes the queue whole, so these land in one
  // transaction.
  const bool open = writer_->submit([&](Batch& queue) {
    for (NotificationState& state : writes.saves) {
      const NotificationKey id = state.spec.id;
      queue.writes.insert_or_assign(id, Write(std::move(state)));
    }
    for (const NotificationKey& id : writes.removes) queue.writes.insert_or_assign(id, Write());
    for (Delivery& d : writes.deliveries) {
      OutboxChange change{d.id, d.sequence, std::nullopt};
      change.keep = std::move(d);
      queue.outbox.push_back(std::move(change));
    }
    if (committed) queue.callbacks.push_back(std::move(committed));
    return true;
  });
  if (!open && committed) committed(false, "store is closed");
}

void NotificationStore::deliveryDone(const NotificationKey& id, uint64_t sequence) {
  // Refused once closing: it stays in the outbox and is sent again after the restart
  // (at-least-once).
  writer_->submit([&](Batch& queue) {
    queue.outbox.push_back(OutboxChange{id, sequence, std::nullopt});
    return true;
  });
}

void NotificationStore::flush() {
  if (writer_->onWriterThread()) {
    throw std::logic_error("notification store: flush() called from a Committed callback");
  }
  writer_->flush();
}

void NotificationStore::close() {
  if (writer_->onWriterThread()) {
    throw std::logic_error("notification store: close() called from a Committed callback");
  }
  // The writer drains the queue before it stops; then the connection closes.
  writer_->close([this] {
    upsert_.reset();
    delete_.reset();
    keepDelivery_.reset();
    settleDelivery_.reset();
    saveCall_.reset();
    removeCall_.reset();
    db_.close();  // a failed checkpoint loses nothing: the WAL is replayed at the next open
  });
}

void NotificationStore::finishBatch(Batch& batch, const sqlite::WriteStatus& outcome) {
  const std::string error =
      outcome.ok() ? std::string()
                   : "notification store '" + path_ + "': " + outcome.step + ": " + outcome.message;
  for (Committed& committed : batch.callbacks) {
    try {
      committed(outcome.ok(), error);
    } catch (...) {  // one throwing callback must not stop the writer or starve the others
    }
  }
}

sqlite::WriteStatus NotificationStore::writeBatch(const Batch& batch) {
  sqlite3* db = db_.get();
  // Captures SQLite's message before the reset replaces it; the writer rolls back.
  auto fail = [&](int code, const char* what, sqlite3_stmt* failed) {
    sqlite::WriteStatus status{code, sqlite3_errmsg(db), what};
    sqlite3_reset(failed);
    return status;
  };
  for (const auto& [id, write] : batch.writes) {
    int rc;
    if (write) {
      const NotificationSpec& spec = write->spec;
      const NotificationProgress& progress = write->progress;
      const std::string criteria = store::encodeCriteria(spec.criteria);
      const std::string addresses = store::encodeAddresses(spec.addresses);
      sqlite3_stmt* stmt = upsert_.get();
      const sqlite::ResetGuard reset(stmt);
      rc = sqlite::bindText(stmt, 1, id.requester);
      if (rc == SQLITE_OK) rc = sqlite::bindText(stmt, 2, id.correlator);
      if (rc == SQLITE_OK) rc = sqlite::bindText(stmt, 3, spec.endpoint);
      if (rc == SQLITE_OK) rc = sqlite::bindText(stmt, 4, spec.interfaceName);
      if (rc == SQLITE_OK) rc = sqlite::bindText(stmt, 5, spec.globalId);
      if (rc == SQLITE_OK) rc = sqlite::bindText(stmt, 6, criteria);
      if (rc == SQLITE_OK) rc = sqlite3_bind_int(stmt, 7, spec.checkImmediate ? 1 : 0);
      if (rc == SQLITE_OK) rc = sqlite3_bind_int64(stmt, 8, spec.frequencyMs);
      if (rc == SQLITE_OK) rc = sqlite3_bind_int64(stmt, 9, spec.createdAtMs);
      if (rc == SQLITE_OK) rc = sqlite3_bind_int64(stmt, 10, spec.expiresAtMs);
      if (rc == SQLITE_OK) {
        rc = spec.countLimit ? sqlite3_bind_int64(stmt, 11, *spec.countLimit)
                             : sqlite3_bind_null(stmt, 11);
      }
      if (rc == SQLITE_OK) rc = sqlite3_bind_int64(stmt, 12, progress.sent);
      if (rc == SQLITE_OK) rc = sqlite3_bind_int64(stmt, 13, progress.lastSentAtMs);
      if (rc == SQLITE_OK) {
        rc = sqlite3_bind_int64(stmt, 14, static_cast<int64_t>(progress.nextSequence));
      }
      if (rc == SQLITE_OK) rc = sqlite::bindText(stmt, 15, addresses);
      if (rc == SQLITE_OK) rc = sqlite::bindText(stmt, 16, spec.api);
      if (rc == SQLITE_OK) rc = sqlite::bindText(stmt, 17, spec.extension);
      if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
      if (rc != SQLITE_DONE) return fail(rc, "saving", stmt);
    } else {
      sqlite3_stmt* stmt = delete_.get();
      const sqlite::ResetGuard reset(stmt);
      rc = sqlite::bindText(stmt, 1, id.requester);
      if (rc == SQLITE_OK) rc = sqlite::bindText(stmt, 2, id.correlator);
      if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
      if (rc != SQLITE_DONE) return fail(rc, "removing", stmt);
    }
  }
  for (const OutboxChange& change : batch.outbox) {
    sqlite3_stmt* stmt = change.keep ? keepDelivery_.get() : settleDelivery_.get();
    const sqlite::ResetGuard reset(stmt);
    // Bound without copying: these live until the statement has run.
    const std::string kind = change.keep ? store::deliveryKindName(change.keep->kind) : "";
    const std::string payload = change.keep ? store::encodeDeliveryPayload(*change.keep) : "";
    int rc = sqlite::bindText(stmt, 1, change.id.requester);
    if (rc == SQLITE_OK) rc = sqlite::bindText(stmt, 2, change.id.correlator);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(stmt, 3, static_cast<int64_t>(change.sequence));
    if (change.keep) {
      if (rc == SQLITE_OK) rc = sqlite::bindText(stmt, 4, kind);
      if (rc == SQLITE_OK) rc = sqlite::bindText(stmt, 5, change.keep->endpoint);
      if (rc == SQLITE_OK) rc = sqlite::bindText(stmt, 6, change.keep->globalId);
      if (rc == SQLITE_OK) rc = sqlite::bindText(stmt, 7, payload);
      if (rc == SQLITE_OK) rc = sqlite::bindText(stmt, 8, change.keep->api);
      if (rc == SQLITE_OK) rc = sqlite::bindText(stmt, 9, change.keep->extension);
      if (rc == SQLITE_OK) rc = sqlite3_bind_int64(stmt, 10, change.keep->atMs);
    }
    if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE) {
      return fail(rc, change.keep ? "keeping a delivery" : "settling a delivery", stmt);
    }
  }
  return writeCalls(batch);
}

sqlite::WriteStatus NotificationStore::writeCalls(const Batch& batch) {
  sqlite3* db = db_.get();
  for (const auto& [key, registration] : batch.calls) {
    const std::string kind = call::toString(key.first);
    sqlite3_stmt* stmt = registration ? saveCall_.get() : removeCall_.get();
    const sqlite::ResetGuard reset(stmt);
    int rc = sqlite::bindText(stmt, 1, kind);
    if (rc == SQLITE_OK) rc = sqlite::bindText(stmt, 2, key.second);
    // Bound without copying: these live until the statement has run.
    const std::string addresses =
        registration ? store::encodeCallAddresses(registration->addresses) : "";
    const std::string criteria =
        registration ? store::encodeCallCriteria(registration->criteria) : "";
    if (registration) {
      if (rc == SQLITE_OK) rc = sqlite::bindText(stmt, 3, registration->requester);
      if (rc == SQLITE_OK) rc = sqlite::bindText(stmt, 4, addresses);
      if (rc == SQLITE_OK) rc = sqlite::bindText(stmt, 5, criteria);
      if (rc == SQLITE_OK) rc = sqlite::bindText(stmt, 6, registration->endpoint);
      if (rc == SQLITE_OK) rc = sqlite::bindText(stmt, 7, registration->interfaceName);
      if (rc == SQLITE_OK) rc = sqlite::bindText(stmt, 8, registration->ns);
      if (rc == SQLITE_OK) {
        rc = sqlite3_bind_int64(stmt, 9, static_cast<int64_t>(registration->createdMs));
      }
      if (rc == SQLITE_OK) {
        rc = sqlite3_bind_int64(stmt, 10, static_cast<int64_t>(registration->order));
      }
    }
    if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE) {
      sqlite::WriteStatus status{
          rc, sqlite3_errmsg(db),
          registration ? "saving a call registration" : "removing a call registration"};
      return status;
    }
  }
  return {};
}

}  // namespace px

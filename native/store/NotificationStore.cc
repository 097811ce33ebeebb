#include "store/NotificationStore.h"

#include "common/Ascii.h"
#include "store/DeliveryRows.h"

#include <array>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <utility>

namespace px {
namespace {

// Schema version 2 (PRAGMA user_version): version 1 plus pending_deliveries. application_id marks
// the file as ours, so that a foreign SQLite file with a matching user_version is still refused.
constexpr int64_t kSchemaVersion = 2;
constexpr int64_t kApplicationId = 0x50584e53;  // "PXNS"
constexpr int kBusyTimeoutMs = 5000;

// addresses: one line per address, "address\tkey\tlastSeen" (lastSeen: a status name or "").
// criteria: status names joined by ','. The table is ordered by its key (BINARY collation, the
// same order as NotificationKey::operator<), so loadAll needs no sort.
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
    " PRIMARY KEY (requester, correlator, sequence)) WITHOUT ROWID";

constexpr std::array<sqlite::ColumnSpec, 7> kExpectedOutboxColumns = {{
    {"requester", "TEXT", true, 1},
    {"correlator", "TEXT", true, 2},
    {"sequence", "INTEGER", true, 3},
    {"kind", "TEXT", true, 0},
    {"endpoint", "TEXT", true, 0},
    {"global_id", "TEXT", true, 0},
    {"payload", "TEXT", true, 0},
}};

constexpr const char* kColumns =
    "requester, correlator, endpoint, interface_name, global_id, criteria, check_immediate, "
    "frequency_ms, created_at_ms, expires_at_ms, count_limit, sent, last_sent_at_ms, "
    "next_sequence, addresses";

constexpr std::array<sqlite::ColumnSpec, 15> kExpectedColumns = {{
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
}};

constexpr std::array<TerminalStatus, 3> kStatuses = {
    TerminalStatus::kReachable, TerminalStatus::kUnreachable, TerminalStatus::kBusy};

std::optional<TerminalStatus> parseStatus(std::string_view name) {
  for (TerminalStatus s : kStatuses) {
    if (toString(s) == name) return s;
  }
  return std::nullopt;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  for (;;) {
    const size_t at = text.find(separator);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return parts;
    text.remove_prefix(at + 1);
  }
}

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

// A row that does not decode: the message names the field; the caller adds file and key.
struct DecodeError {
  std::string what;
};

std::vector<TerminalStatus> decodeCriteria(std::string_view text) {
  std::vector<TerminalStatus> criteria;
  if (text.empty()) return criteria;
  for (std::string_view name : split(text, ',')) {
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
  for (std::string_view entry : split(text, '\n')) {
    ++line;
    const std::vector<std::string_view> fields = split(entry, '\t');
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

std::string textColumn(sqlite3_stmt* stmt, int col) {
  if (sqlite3_column_type(stmt, col) != SQLITE_TEXT) {
    throw DecodeError{std::string(sqlite3_column_name(stmt, col)) + " is not text"};
  }
  return sqlite::columnText(stmt, col);
}

int64_t intColumn(sqlite3_stmt* stmt, int col, int64_t min = std::numeric_limits<int64_t>::min(),
                  int64_t max = std::numeric_limits<int64_t>::max()) {
  if (sqlite3_column_type(stmt, col) != SQLITE_INTEGER) {
    throw DecodeError{std::string(sqlite3_column_name(stmt, col)) + " is not an integer"};
  }
  const int64_t value = sqlite3_column_int64(stmt, col);
  if (value < min || value > max) {
    throw DecodeError{std::string(sqlite3_column_name(stmt, col)) + " is out of range (" +
                      std::to_string(value) + ")"};
  }
  return value;
}

constexpr int64_t kMaxUint32 = std::numeric_limits<uint32_t>::max();

// Decodes the key columns first so a bad row can be named; DecodeError for anything else.
NotificationState decodeRow(sqlite3_stmt* stmt) {
  NotificationState state;
  NotificationSpec& spec = state.spec;
  spec.endpoint = textColumn(stmt, 2);
  spec.interfaceName = textColumn(stmt, 3);
  spec.globalId = textColumn(stmt, 4);
  spec.criteria = decodeCriteria(textColumn(stmt, 5));
  spec.checkImmediate = intColumn(stmt, 6, 0, 1) != 0;
  spec.frequencyMs = intColumn(stmt, 7, 0);
  spec.createdAtMs = intColumn(stmt, 8);
  spec.expiresAtMs = intColumn(stmt, 9);
  if (sqlite3_column_type(stmt, 10) != SQLITE_NULL) {
    spec.countLimit = static_cast<uint32_t>(intColumn(stmt, 10, 0, kMaxUint32));
  }
  state.progress.sent = static_cast<uint32_t>(intColumn(stmt, 11, 0, kMaxUint32));
  state.progress.lastSentAtMs = intColumn(stmt, 12);
  // Stored as the int64 with the same bits: round-trips the whole uint64 range.
  state.progress.nextSequence = static_cast<uint64_t>(intColumn(stmt, 13));
  spec.addresses = decodeAddresses(textColumn(stmt, 14));
  return state;
}

}  // namespace

NotificationStore::NotificationStore(const std::string& path) : path_(path) {
  if (path_.empty() || path_ == ":memory:") {
    throw std::runtime_error("notification store: path must name a file, got '" + path_ + "'");
  }
  const std::filesystem::path parent = std::filesystem::path(path_).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) {
      throw std::runtime_error("notification store '" + path_ + "': cannot create directory '" +
                               parent.string() + "': " + ec.message());
    }
  }
  try {
    open();
  } catch (const sqlite::Error& e) {
    throw std::runtime_error("notification store '" + path_ + "': " + e.what());
  }
  writer_ = std::thread(&NotificationStore::writerLoop, this);
  writerId_ = writer_.get_id();
}

NotificationStore::~NotificationStore() {
  try {
    close();
  } catch (...) {  // close() from a Committed callback: nothing sensible left to do here
  }
}

void NotificationStore::open() {
  db_ = sqlite::open(path_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX);
  sqlite3* db = db_.get();
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  // The first statement reads the header: a file that is not a database fails here.
  const std::string mode = sqlite::queryText(db, "PRAGMA journal_mode=WAL");
  if (!ascii::equalsNoCase(mode, "wal")) {
    throw std::runtime_error("notification store '" + path_ +
                             "': cannot switch to WAL journal mode (got '" + mode + "')");
  }
  auto refuse = [&](const std::string& why) {
    return std::runtime_error("notification store '" + path_ + "': " + why);
  };
  sqlite::exec(db, "BEGIN IMMEDIATE");
  try {
    const int64_t version = sqlite::queryInt(db, "PRAGMA user_version");
    const int64_t appId = sqlite::queryInt(db, "PRAGMA application_id");
    const int64_t objects = sqlite::queryInt(db, "SELECT count(*) FROM sqlite_master");
    if (version == 0 && appId == 0 && objects == 0) {
      sqlite::exec(db, kCreateTable);
      sqlite::exec(db, kCreateOutbox);
      sqlite::exec(db, ("PRAGMA application_id = " + std::to_string(kApplicationId)).c_str());
      sqlite::exec(db, ("PRAGMA user_version = " + std::to_string(kSchemaVersion)).c_str());
    } else if (appId != kApplicationId) {
      throw refuse("not a notification database (application_id " + std::to_string(appId) +
                   ", user_version " + std::to_string(version) + ", " + std::to_string(objects) +
                   " schema objects)");
    } else if (version == 1) {
      // Version 1 had no outbox; its notifications are read as they are.
      sqlite::exec(db, kCreateOutbox);
      sqlite::exec(db, ("PRAGMA user_version = " + std::to_string(kSchemaVersion)).c_str());
    } else if (version != kSchemaVersion) {
      // Migrations from older versions go here, one step per version.
      throw refuse("unknown notification schema version " + std::to_string(version) +
                   " (this build reads version " + std::to_string(kSchemaVersion) + ")");
    } else if (const auto found = sqlite::columnMismatch(
                   db, "notifications", kExpectedColumns.data(), kExpectedColumns.size())) {
      throw refuse("table notifications has unexpected columns (" + *found + ")");
    } else if (const auto outbox =
                   sqlite::columnMismatch(db, "pending_deliveries", kExpectedOutboxColumns.data(),
                                          kExpectedOutboxColumns.size())) {
      throw refuse("table pending_deliveries has unexpected columns (" + *outbox + ")");
    }
    sqlite::exec(db, "COMMIT");
  } catch (...) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  sqlite::exec(db, "PRAGMA synchronous=FULL");
  upsert_ = sqlite::prepare(db, std::string("INSERT OR REPLACE INTO notifications (") + kColumns +
                                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
                                    "?12, ?13, ?14, ?15)");
  delete_ =
      sqlite::prepare(db, "DELETE FROM notifications WHERE requester = ?1 AND correlator = ?2");
  keepDelivery_ = sqlite::prepare(
      db,
      "INSERT OR REPLACE INTO pending_deliveries (requester, correlator, sequence, kind, endpoint, "
      "global_id, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  settleDelivery_ = sqlite::prepare(
      db,
      "DELETE FROM pending_deliveries WHERE requester = ?1 AND correlator = ?2 AND sequence = ?3");
  begin_ = sqlite::prepare(db, "BEGIN IMMEDIATE");
  commit_ = sqlite::prepare(db, "COMMIT");
  rollback_ = sqlite::prepare(db, "ROLLBACK");
}

std::vector<NotificationState> NotificationStore::loadAll() {
  std::lock_guard<std::mutex> lock(dbMutex_);
  if (!db_) throw std::logic_error("notification store '" + path_ + "' is closed");
  sqlite3* db = db_.get();
  sqlite::Stmt select;
  try {
    select = sqlite::prepare(
        db,
        std::string("SELECT ") + kColumns + " FROM notifications ORDER BY requester, correlator",
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
      NotificationState state = decodeRow(select.get());
      state.spec.id = NotificationKey{textColumn(select.get(), 0), textColumn(select.get(), 1)};
      states.push_back(std::move(state));
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
  sqlite::Stmt select = sqlite::prepare(
      db,
      "SELECT requester, correlator, sequence, kind, endpoint, global_id, payload FROM "
      "pending_deliveries ORDER BY requester, correlator, sequence",
      false);
  int rc;
  while ((rc = sqlite3_step(select.get())) == SQLITE_ROW) {
    sqlite3_stmt* row = select.get();
    Delivery d;
    std::string problem;
    try {
      d.id = NotificationKey{textColumn(row, 0), textColumn(row, 1)};
      d.sequence = static_cast<uint64_t>(intColumn(row, 2));
      if (!store::parseDeliveryKind(textColumn(row, 3), &d.kind)) problem = "unknown kind";
      d.endpoint = textColumn(row, 4);
      d.globalId = textColumn(row, 5);
      if (problem.empty()) store::decodeDeliveryPayload(textColumn(row, 6), d, &problem);
    } catch (const DecodeError& e) {
      problem = e.what;
    }
    if (problem.empty()) {
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
                 "addresses, reason, quarantined_at_ms)");
    sqlite::Stmt copy =
        sqlite::prepare(db,
                        std::string("INSERT INTO quarantined_notifications SELECT ") + kColumns +
                            ", ?3, CAST(strftime('%s','now') AS INTEGER) * 1000 FROM notifications "
                            "WHERE requester = ?1 AND correlator = ?2",
                        false);
    sqlite::Stmt erase = sqlite::prepare(
        db, "DELETE FROM notifications WHERE requester = ?1 AND correlator = ?2", false);
    sqlite::exec(db, "BEGIN IMMEDIATE");
    try {
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
      sqlite::exec(db, "COMMIT");
    } catch (...) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
    for (QuarantinedNotification& q : quarantined_) q.moved = true;
  } catch (const std::exception& e) {
    for (QuarantinedNotification& q : quarantined_) {
      q.reason += "; moving it to quarantined_notifications failed: ";
      q.reason += e.what();
    }
  }
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
      if (holdsSeparator(a.address) || holdsSeparator(a.key)) {
        if (committed) {
          committed(false, "notification store '" + path_ + "': address '" + a.address +
                               "' (key '" + a.key + "') holds a tab or line break");
        }
        return;
      }
    }
  }
  {
    // One lock for all of it: the writer takes the queue whole, so these land in one transaction.
    std::lock_guard<std::mutex> lock(mutex_);
    if (!stopping_) {
      for (NotificationState& state : writes.saves) {
        const NotificationKey id = state.spec.id;
        queue_.insert_or_assign(id, Write(std::move(state)));
      }
      for (const NotificationKey& id : writes.removes) queue_.insert_or_assign(id, Write());
      for (Delivery& d : writes.deliveries) {
        OutboxChange change{d.id, d.sequence, std::nullopt};
        change.keep = std::move(d);
        outbox_.push_back(std::move(change));
      }
      if (committed) callbacks_.push_back(std::move(committed));
      ++enqueued_;
      committed = nullptr;
    }
  }
  if (committed) {  // still ours: the store is closed
    committed(false, "store is closed");
    return;
  }
  workCv_.notify_one();
}

void NotificationStore::deliveryDone(const NotificationKey& id, uint64_t sequence) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return;  // stays in the outbox: sent again after the restart (at-least-once)
    outbox_.push_back(OutboxChange{id, sequence, std::nullopt});
    ++enqueued_;
  }
  workCv_.notify_one();
}

void NotificationStore::flush() {
  if (std::this_thread::get_id() == writerId_) {
    throw std::logic_error("notification store: flush() called from a Committed callback");
  }
  std::unique_lock<std::mutex> lock(mutex_);
  const uint64_t target = enqueued_;
  doneCv_.wait(lock, [&] { return finished_ >= target; });
}

void NotificationStore::close() {
  std::lock_guard<std::mutex> closeLock(closeMutex_);
  if (closed_) return;
  if (std::this_thread::get_id() == writerId_) {
    throw std::logic_error("notification store: close() called from a Committed callback");
  }
  closed_ = true;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  workCv_.notify_all();
  if (writer_.joinable()) writer_.join();  // the writer drains the queue before it stops
  std::lock_guard<std::mutex> lock(dbMutex_);
  upsert_.reset();
  delete_.reset();
  begin_.reset();
  commit_.reset();
  rollback_.reset();
  if (db_) {
    // Fold the WAL into the database so the file is complete on its own; a failure loses
    // nothing (the WAL is replayed at the next open).
    sqlite3_exec(db_.get(), "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
    db_.reset();
  }
}

void NotificationStore::writerLoop() {
  for (;;) {
    std::map<NotificationKey, Write> batch;
    std::vector<OutboxChange> outbox;
    std::vector<Committed> callbacks;
    uint64_t through;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      workCv_.wait(lock, [&] { return stopping_ || !queue_.empty() || !outbox_.empty(); });
      if (queue_.empty() && outbox_.empty()) return;  // stopping, and everything written
      batch.swap(queue_);
      outbox.swap(outbox_);
      callbacks.swap(callbacks_);
      through = enqueued_;
    }
    std::string error;
    {
      std::lock_guard<std::mutex> lock(dbMutex_);
      error = writeBatch(batch, outbox);
    }
    for (Committed& committed : callbacks) {
      try {
        committed(error.empty(), error);
      } catch (...) {  // one throwing callback must not stop the writer or starve the others
      }
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      finished_ = through;
    }
    doneCv_.notify_all();
  }
}

std::string NotificationStore::writeBatch(const std::map<NotificationKey, Write>& batch,
                                          const std::vector<OutboxChange>& outbox) {
  sqlite3* db = db_.get();
  // Captures SQLite's message before the reset and rollback replace it.
  auto fail = [&](const char* what, sqlite3_stmt* failed = nullptr) {
    std::string message = "notification store '" + path_ + "': " + what + ": " + sqlite3_errmsg(db);
    if (failed != nullptr) sqlite3_reset(failed);
    // Some errors (e.g. SQLITE_FULL) already rolled the transaction back.
    if (!sqlite3_get_autocommit(db)) sqlite::runReset(rollback_.get());
    return message;
  };
  if (sqlite::runReset(begin_.get()) != SQLITE_DONE) return fail("begin");
  for (const auto& [id, write] : batch) {
    int rc;
    if (write) {
      const NotificationSpec& spec = write->spec;
      const NotificationProgress& progress = write->progress;
      const std::string criteria = encodeCriteria(spec.criteria);
      const std::string addresses = encodeAddresses(spec.addresses);
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
      if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
      if (rc != SQLITE_DONE) return fail("saving", stmt);
    } else {
      sqlite3_stmt* stmt = delete_.get();
      const sqlite::ResetGuard reset(stmt);
      rc = sqlite::bindText(stmt, 1, id.requester);
      if (rc == SQLITE_OK) rc = sqlite::bindText(stmt, 2, id.correlator);
      if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
      if (rc != SQLITE_DONE) return fail("removing", stmt);
    }
  }
  for (const OutboxChange& change : outbox) {
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
    }
    if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE)
      return fail(change.keep ? "keeping a delivery" : "settling a delivery", stmt);
  }
  if (sqlite::runReset(commit_.get()) != SQLITE_DONE) return fail("commit");
  return {};
}

}  // namespace px

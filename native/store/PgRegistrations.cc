// PgRegistrations: the clustered registrations in PostgreSQL (PgRegistrations.h). The row
// encodings and their strict decoding are the SQLite store's (NotificationRows.h,
// CallRegistrationRows.h, DeliveryRows.h), read through PgRow; batches travel as one array
// parameter per column (unnest), so that a write of any size is a handful of statements.
#include "store/PgRegistrations.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <utility>

#include "store/CallRegistrationRows.h"
#include "store/DeliveryRows.h"
#include "store/NotificationRows.h"
#include "store/Pg.h"

namespace px::store {
namespace {

// Migration n (1-based) takes the registrations schema from version n-1 to n. Append only: a
// released migration is never edited. Keys are COLLATE "C" (byte order, as std::string); ms and
// counters bigint (uint64 values stored as the int64 with the same bits, like SQLite).
const char* const kMigrations[] = {
    // 1: instances, notifications with their owner, the outbox, call registrations.
    R"SQL(
CREATE TABLE px_instance (
  id         text COLLATE "C" PRIMARY KEY,
  name       text NOT NULL,
  started_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL);
CREATE TABLE notification (
  requester       text COLLATE "C" NOT NULL,
  correlator      text COLLATE "C" NOT NULL,
  endpoint        text NOT NULL,
  interface_name  text NOT NULL,
  global_id       text NOT NULL,
  criteria        text NOT NULL,
  check_immediate boolean NOT NULL,
  frequency_ms    bigint NOT NULL,
  created_at_ms   bigint NOT NULL,
  expires_at_ms   bigint NOT NULL,
  count_limit     bigint,
  sent            bigint NOT NULL,
  last_sent_at_ms bigint NOT NULL,
  next_sequence   bigint NOT NULL,
  addresses       text NOT NULL,
  api             text NOT NULL DEFAULT '',
  extension       text NOT NULL DEFAULT '',
  owner           text COLLATE "C",
  quarantined     text,
  PRIMARY KEY (requester, correlator));
CREATE INDEX notification_owner ON notification (owner);
CREATE TABLE pending_delivery (
  requester     text COLLATE "C" NOT NULL,
  correlator    text COLLATE "C" NOT NULL,
  sequence      bigint NOT NULL,
  kind          text NOT NULL,
  endpoint      text NOT NULL,
  global_id     text NOT NULL,
  payload       text NOT NULL,
  api           text NOT NULL DEFAULT '',
  extension     text NOT NULL DEFAULT '',
  decided_at_ms bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (requester, correlator, sequence));
CREATE TABLE call_registration (
  kind           text COLLATE "C" NOT NULL,
  correlator     text COLLATE "C" NOT NULL,
  requester      text NOT NULL,
  addresses      text NOT NULL,
  criteria       text NOT NULL,
  endpoint       text NOT NULL,
  interface_name text NOT NULL,
  ns             text NOT NULL,
  created_at_ms  bigint NOT NULL,
  start_order    bigint NOT NULL,
  quarantined    text,
  PRIMARY KEY (kind, correlator));
)SQL",
};
constexpr int kVersion = static_cast<int>(sizeof kMigrations / sizeof kMigrations[0]);

// The usage schema's lock (PgUsageStore.cc): one lock for every migration of the database.
constexpr const char* kMigrationLock = "SELECT pg_advisory_xact_lock(7201701701)";

// The columns of a notification row, as arrays (unnest) in kNotificationColumns order.
constexpr const char* kNotificationArrays =
    "unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], "
    "$7::boolean[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], "
    "$13::bigint[], $14::bigint[], $15::text[], $16::text[], $17::text[])";

// `columns` ("a, b, c") with every name prefixed ("t.a, t.b, t.c").
std::string prefixed(const char* prefix, const std::string& columns) {
  std::string out;
  for (std::string_view name : splitStored(columns, ',')) {
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    if (!out.empty()) out += ", ";
    out += prefix;
    out += name;
  }
  return out;
}

// A statement's name and text; prepared once per connection by prepare().
struct Statement {
  const char* name;
  std::string sql;
};

enum Sql : size_t {
  kRegister,
  kRenew,
  kLeave,
  kForget,
  kCounts,
  kClaim,
  kQuarantine,
  kOutboxOf,
  kRelease,
  kInsertCreated,
  kUpdateSaves,
  kDeleteRemoves,
  kInsertDeliveries,
  kDeliveryDone,
  kTakeForEnd,
  kNotify,
  kFind,
  kList,
  kLoadCalls,
  kQuarantineCall,
  kSaveCall,
  kRemoveCall,
  kStatementCount
};

const std::vector<Statement>& statements() {
  static const std::vector<Statement> all = [] {
    const std::string columns = kNotificationColumns;
    const std::string deliveryColumns = kDeliveryColumns;
    const std::string callColumns = kCallRegistrationColumns;
    // A live instance: its lease has not lapsed by the transaction's clock.
    const std::string lapsedOwner =
        "(n.owner IS NULL OR NOT EXISTS (SELECT 1 FROM px_instance i WHERE i.id = n.owner AND "
        "i.expires_at > now()))";
    std::vector<Statement> s(kStatementCount);
    s[kRegister] = {
        "px_reg_register",
        "INSERT INTO px_instance (id, name, started_at, expires_at) VALUES ($1, $2, "
        "clock_timestamp(), clock_timestamp() + $3::bigint * interval '1 millisecond')"};
    s[kRenew] = {"px_reg_renew",
                 "UPDATE px_instance SET expires_at = clock_timestamp() + $2::bigint * interval '1 "
                 "millisecond' WHERE id = $1 AND expires_at > clock_timestamp()"};
    s[kLeave] = {"px_reg_leave",
                 "WITH freed AS (UPDATE notification SET owner = NULL WHERE owner = $1), gone AS "
                 "(DELETE FROM px_instance WHERE id = $1) SELECT pg_notify($2, $3)"};
    s[kForget] = {"px_reg_forget",
                  "DELETE FROM px_instance WHERE expires_at < now() - $1::bigint * interval '1 "
                  "millisecond'"};
    s[kCounts] = {"px_reg_counts",
                  "SELECT (SELECT count(*) FROM px_instance WHERE expires_at > now()), "
                  "count(*) FILTER (WHERE n.quarantined IS NULL), "
                  "count(*) FILTER (WHERE n.quarantined IS NULL AND n.owner = $1), "
                  "count(*) FILTER (WHERE n.quarantined IS NULL AND " +
                      lapsedOwner +
                      "), count(*) FILTER (WHERE n.quarantined IS NOT NULL) FROM notification n"};
    // FOR UPDATE SKIP LOCKED: instances claiming together lock disjoint rows; a row another
    // claimer took meanwhile is re-checked against its new owner and skipped.
    s[kClaim] = {"px_reg_claim",
                 "WITH picked AS (SELECT n.requester, n.correlator FROM notification n WHERE "
                 "n.quarantined IS NULL AND " +
                     lapsedOwner +
                     " AND EXISTS (SELECT 1 FROM px_instance me WHERE me.id = $1::text AND "
                     "me.expires_at > now()) ORDER BY n.created_at_ms, n.requester, n.correlator "
                     "LIMIT $2::bigint FOR UPDATE OF n SKIP LOCKED) UPDATE notification t SET "
                     "owner = $1::text FROM picked p WHERE t.requester = p.requester AND "
                     "t.correlator = p.correlator RETURNING " +
                     prefixed("t.", columns)};
    s[kQuarantine] = {"px_reg_quarantine",
                      "UPDATE notification n SET owner = NULL, quarantined = u.reason FROM "
                      "unnest($1::text[], $2::text[], $3::text[]) AS u(requester, correlator, "
                      "reason) WHERE n.requester = u.requester AND n.correlator = u.correlator"};
    s[kOutboxOf] = {"px_reg_outbox_of",
                    "SELECT " + prefixed("p.", deliveryColumns) +
                        " FROM pending_delivery p JOIN unnest($1::text[], $2::text[]) AS "
                        "k(requester, correlator) ON p.requester = k.requester AND p.correlator = "
                        "k.correlator ORDER BY p.requester, p.correlator, p.sequence"};
    s[kRelease] = {"px_reg_release",
                   "WITH freed AS (UPDATE notification n SET owner = NULL FROM unnest($2::text[], "
                   "$3::text[]) AS k(requester, correlator) WHERE n.requester = k.requester AND "
                   "n.correlator = k.correlator AND n.owner = $1 RETURNING 1) SELECT pg_notify($4, "
                   "$5) WHERE EXISTS (SELECT 1 FROM freed)"};
    s[kInsertCreated] = {"px_reg_insert_created",
                         "INSERT INTO notification (" + columns +
                             ", owner) SELECT u.*, $18::text "
                             "FROM " +
                             kNotificationArrays +
                             " AS u ON CONFLICT (requester, correlator) DO NOTHING RETURNING "
                             "requester, correlator"};
    std::string assignments;
    for (std::string_view name : splitStored(columns, ',')) {
      while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
      if (name == "requester" || name == "correlator") continue;
      if (!assignments.empty()) assignments += ", ";
      assignments += std::string(name) + " = u." + std::string(name);
    }
    s[kUpdateSaves] = {"px_reg_update_saves",
                       "UPDATE notification n SET " + assignments + " FROM " + kNotificationArrays +
                           " AS u(" + columns +
                           ") WHERE n.requester = u.requester AND n.correlator = u.correlator AND "
                           "n.owner = $18::text RETURNING n.requester, n.correlator"};
    s[kDeleteRemoves] = {
        "px_reg_delete_removes",
        "WITH gone AS (DELETE FROM notification n USING unnest($1::text[], $2::text[]) AS "
        "k(requester, correlator) WHERE n.requester = k.requester AND n.correlator = k.correlator "
        "AND n.owner = $3::text RETURNING n.requester, n.correlator), outbox AS (DELETE FROM "
        "pending_delivery p USING gone g WHERE p.requester = g.requester AND p.correlator = "
        "g.correlator) SELECT requester, correlator FROM gone"};
    s[kInsertDeliveries] = {
        "px_reg_insert_deliveries",
        "INSERT INTO pending_delivery (" + deliveryColumns + ") SELECT " +
            prefixed("u.", deliveryColumns) +
            " FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], "
            "$6::text[], $7::text[], $8::text[], $9::text[], $10::bigint[], $11::boolean[]) AS u(" +
            deliveryColumns +
            ", written) WHERE u.written OR EXISTS (SELECT 1 FROM notification n WHERE n.requester "
            "= u.requester AND n.correlator = u.correlator AND n.owner = $12::text) ON CONFLICT "
            "(requester, correlator, sequence) DO NOTHING"};
    s[kDeliveryDone] = {"px_reg_delivery_done",
                        "DELETE FROM pending_delivery WHERE requester = $1 AND correlator = $2 AND "
                        "sequence = $3::bigint"};
    s[kTakeForEnd] = {"px_reg_take_for_end",
                      "WITH gone AS (DELETE FROM notification WHERE requester = $1 AND correlator "
                      "= $2 AND api = $3 AND quarantined IS NULL RETURNING " +
                          columns +
                          ", owner), outbox AS (DELETE FROM pending_delivery p USING gone g WHERE "
                          "p.requester = g.requester AND p.correlator = g.correlator) SELECT " +
                          columns + ", owner FROM gone"};
    s[kNotify] = {"px_reg_notify", "SELECT pg_notify($1, $2)"};
    s[kFind] = {"px_reg_find", "SELECT " + columns +
                                   " FROM notification WHERE requester = $1 AND correlator = $2 "
                                   "AND quarantined IS NULL"};
    s[kList] = {"px_reg_list", "SELECT " + columns +
                                   " FROM notification WHERE quarantined IS NULL ORDER BY "
                                   "requester, correlator"};
    // xmin: the row version that did not decode, so that flagging it never hits a newer one.
    s[kLoadCalls] = {"px_reg_load_calls",
                     "SELECT " + callColumns +
                         ", xmin::text FROM call_registration WHERE quarantined IS NULL ORDER BY "
                         "start_order, kind, correlator"};
    s[kQuarantineCall] = {"px_reg_quarantine_call",
                          "UPDATE call_registration SET quarantined = $4 WHERE kind = $1 AND "
                          "correlator = $2 AND xmin::text = $3"};
    s[kSaveCall] = {"px_reg_save_call",
                    "WITH up AS (INSERT INTO call_registration (" + callColumns +
                        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::bigint, $10::bigint) ON "
                        "CONFLICT (kind, correlator) DO UPDATE SET requester = EXCLUDED.requester, "
                        "addresses = EXCLUDED.addresses, criteria = EXCLUDED.criteria, endpoint = "
                        "EXCLUDED.endpoint, interface_name = EXCLUDED.interface_name, ns = "
                        "EXCLUDED.ns, created_at_ms = EXCLUDED.created_at_ms, start_order = "
                        "EXCLUDED.start_order, quarantined = NULL) SELECT pg_notify($11, $12)"};
    s[kRemoveCall] = {"px_reg_remove_call",
                      "WITH gone AS (DELETE FROM call_registration WHERE kind = $1 AND correlator "
                      "= $2 RETURNING 1) SELECT pg_notify($3, $4) WHERE EXISTS (SELECT 1 FROM "
                      "gone)"};
    return s;
  }();
  return all;
}

const char* name(Sql stmt) {
  return statements()[stmt].name;
}

// A row of a result, read by the shared decoders. libpq gives every value as text: integers
// are parsed strictly, booleans are 't' or 'f', NULL is no text.
class PgRow : public StoredRow {
 public:
  PgRow(const PGresult* result, int row) : result_(result), row_(row) {}

  bool isNull(int col) const override { return PQgetisnull(result_, row_, col) != 0; }

  std::string text(int col) const override {
    if (isNull(col)) throw DecodeError{columnName(col) + " is not text (NULL)"};
    return value(col);
  }

  int64_t integer(int col, int64_t min = std::numeric_limits<int64_t>::min(),
                  int64_t max = std::numeric_limits<int64_t>::max()) const override {
    if (isNull(col)) throw DecodeError{columnName(col) + " is not an integer (NULL)"};
    const std::string v = value(col);
    int64_t parsed = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), parsed);
    if (ec != std::errc() || end != v.data() + v.size()) {
      throw DecodeError{columnName(col) + " is not an integer ('" + v + "')"};
    }
    if (parsed < min || parsed > max) {
      throw DecodeError{columnName(col) + " is out of range (" + v + ")"};
    }
    return parsed;
  }

  bool flag(int col) const override {
    const std::string v = isNull(col) ? std::string() : value(col);
    if (v == "t") return true;
    if (v == "f") return false;
    throw DecodeError{columnName(col) + " is not a boolean"};
  }

  std::string lenientText(int col) const override { return isNull(col) ? "" : value(col); }

 private:
  std::string value(int col) const {
    return std::string(PQgetvalue(result_, row_, col),
                       static_cast<size_t>(PQgetlength(result_, row_, col)));
  }
  std::string columnName(int col) const {
    const char* n = PQfname(result_, col);
    return n != nullptr ? n : "column " + std::to_string(col);
  }

  const PGresult* result_;
  int row_;
};

// One array parameter (a PostgreSQL array literal), built element by element.
class ArrayParam {
 public:
  void text(const std::string& value) {
    next();
    pg::appendArrayElement(literal_, value.data(), value.size());
  }
  void integer(int64_t value) {
    next();
    literal_ += std::to_string(value);
  }
  void flag(bool value) {
    next();
    literal_ += value ? "t" : "f";
  }
  void null() {
    next();
    literal_ += "NULL";
  }
  std::string done() const { return literal_ + "}"; }

 private:
  void next() {
    if (literal_.size() > 1) literal_ += ',';
  }
  std::string literal_ = "{";
};

// Parameters kept alive for one call; nullopt = NULL.
class Params {
 public:
  Params& add(std::string value) {
    values_.emplace_back(std::move(value));
    return *this;
  }
  Params& add(int64_t value) { return add(std::to_string(value)); }
  Params& add(const ArrayParam& array) { return add(array.done()); }
  std::vector<const char*> pointers() const {
    std::vector<const char*> out;
    out.reserve(values_.size());
    for (const std::string& v : values_) out.push_back(v.c_str());
    return out;
  }

 private:
  std::vector<std::string> values_;
};

pg::Result run(PGconn* conn, Sql stmt, const Params& params, const char* what) {
  return pg::execPrepared(conn, name(stmt), params.pointers(), what);
}

// BEGIN ... COMMIT; rolled back when the scope ends without commit() (an exception).
class Transaction {
 public:
  // first: statements without parameters sent with BEGIN, in the same round trip.
  explicit Transaction(PGconn* conn, const char* first = nullptr) : conn_(conn) {
    pg::exec(conn_, first != nullptr ? std::string("BEGIN; ") + first : std::string("BEGIN"),
             "begin");
  }
  ~Transaction() {
    if (!done_) pg::Result ignored(PQexec(conn_, "ROLLBACK"));  // a lost connection: no matter
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit() {
    done_ = true;  // a failed COMMIT has ended the transaction too
    pg::exec(conn_, "COMMIT", "commit");
  }

 private:
  PGconn* conn_;
  bool done_ = false;
};

NotificationKey keyOf(const PGresult* result, int row) {
  const PgRow r(result, row);
  return NotificationKey{r.lenientText(0), r.lenientText(1)};
}

std::set<NotificationKey> keysOf(const pg::Result& result) {
  std::set<NotificationKey> keys;
  for (int i = 0; i < PQntuples(result.get()); ++i) keys.insert(keyOf(result.get(), i));
  return keys;
}

// The 17 column arrays of these notifications, then `owner`.
Params notificationParams(const std::vector<const NotificationState*>& states,
                          const std::string& owner) {
  std::vector<ArrayParam> a(17);
  for (const NotificationState* s : states) {
    const NotificationSpec& spec = s->spec;
    a[0].text(spec.id.requester);
    a[1].text(spec.id.correlator);
    a[2].text(spec.endpoint);
    a[3].text(spec.interfaceName);
    a[4].text(spec.globalId);
    a[5].text(encodeCriteria(spec.criteria));
    a[6].flag(spec.checkImmediate);
    a[7].integer(spec.frequencyMs);
    a[8].integer(spec.createdAtMs);
    a[9].integer(spec.expiresAtMs);
    if (spec.countLimit) {
      a[10].integer(*spec.countLimit);
    } else {
      a[10].null();
    }
    a[11].integer(s->progress.sent);
    a[12].integer(s->progress.lastSentAtMs);
    a[13].integer(static_cast<int64_t>(s->progress.nextSequence));
    a[14].text(encodeAddresses(spec.addresses));
    a[15].text(spec.api);
    a[16].text(spec.extension);
  }
  Params params;
  for (const ArrayParam& column : a) params.add(column);
  params.add(owner);
  return params;
}

Params keyParams(const std::vector<NotificationKey>& keys) {
  ArrayParam requesters, correlators;
  for (const NotificationKey& k : keys) {
    requesters.text(k.requester);
    correlators.text(k.correlator);
  }
  Params params;
  params.add(requesters).add(correlators);
  return params;
}

std::string describe(const NotificationKey& key) {
  return "(requester '" + key.requester + "', correlator '" + key.correlator + "')";
}

}  // namespace

// --- cluster messages -------------------------------------------------------------------------

std::string encodeClusterMessage(const ClusterMessage& message) {
  std::string out;
  switch (message.kind) {
    case ClusterMessage::Kind::kEnded:
      appendLengthPrefixed(out, "ended");
      appendLengthPrefixed(out, message.owner);
      appendLengthPrefixed(out, message.key.requester);
      appendLengthPrefixed(out, message.key.correlator);
      break;
    case ClusterMessage::Kind::kReleased:
      appendLengthPrefixed(out, "released");
      break;
    case ClusterMessage::Kind::kCalls:
      appendLengthPrefixed(out, "calls");
      break;
    case ClusterMessage::Kind::kUnknown:
      appendLengthPrefixed(out, "unknown");
      break;
  }
  return out;
}

ClusterMessage parseClusterMessage(const std::string& payload) {
  ClusterMessage message;
  const std::optional<std::vector<std::string>> parts = splitLengthPrefixed(payload);
  if (!parts || parts->empty()) return message;
  const std::vector<std::string>& p = *parts;
  if (p[0] == "ended" && p.size() == 4) {
    message.kind = ClusterMessage::Kind::kEnded;
    message.owner = p[1];
    message.key = NotificationKey{p[2], p[3]};
  } else if (p[0] == "released" && p.size() == 1) {
    message.kind = ClusterMessage::Kind::kReleased;
  } else if (p[0] == "calls" && p.size() == 1) {
    message.kind = ClusterMessage::Kind::kCalls;
  }
  return message;
}

namespace {

std::string payload(ClusterMessage::Kind kind) {
  ClusterMessage message;
  message.kind = kind;
  return encodeClusterMessage(message);
}

}  // namespace

// --- schema -----------------------------------------------------------------------------------

int PgRegistrations::schemaVersion() {
  return kVersion;
}

void PgRegistrations::migrate() {
  Transaction tx(conn_, kMigrationLock);
  pg::exec(conn_,
           "CREATE TABLE IF NOT EXISTS schema_version (component text PRIMARY KEY, version "
           "integer NOT NULL, migrated_at timestamptz NOT NULL DEFAULT now())",
           "schema_version");
  pg::Result found =
      pg::execParams(conn_, "SELECT version FROM schema_version WHERE component = 'registrations'",
                     {}, "schema version");
  int version = PQntuples(found.get()) > 0 ? std::atoi(PQgetvalue(found.get(), 0, 0)) : 0;
  if (version > kVersion) {
    throw pg::Error("registrations schema version " + std::to_string(version) +
                        " is newer than this gateway's (" + std::to_string(kVersion) + ")",
                    false);
  }
  for (; version < kVersion; ++version) {
    pg::exec(conn_, kMigrations[version], "migration");
    const std::string next = std::to_string(version + 1);
    pg::execParams(conn_,
                   "INSERT INTO schema_version (component, version) VALUES ('registrations', $1) "
                   "ON CONFLICT (component) DO UPDATE SET version = EXCLUDED.version, "
                   "migrated_at = now()",
                   {next.c_str()}, "schema version");
  }
  tx.commit();
}

void PgRegistrations::prepare() {
  for (const Statement& s : statements()) {
    pg::check(conn_, pg::Result(PQprepare(conn_, s.name, s.sql.c_str(), 0, nullptr)), s.name);
  }
}

// --- leases -----------------------------------------------------------------------------------

void PgRegistrations::registerInstance(const std::string& id, const std::string& name,
                                       int64_t leaseMs) {
  run(conn_, kRegister, Params().add(id).add(name).add(leaseMs), "register instance");
}

bool PgRegistrations::renew(const std::string& id, int64_t leaseMs) {
  const pg::Result r = run(conn_, kRenew, Params().add(id).add(leaseMs), "renew lease");
  return std::string(PQcmdTuples(r.get())) == "1";
}

void PgRegistrations::leave(const std::string& id) {
  // One statement: one implicit transaction.
  run(conn_, kLeave,
      Params().add(id).add(kClusterChannel).add(payload(ClusterMessage::Kind::kReleased)), "leave");
}

int64_t PgRegistrations::forgetLapsed(int64_t graceMs) {
  const pg::Result r = run(conn_, kForget, Params().add(graceMs), "forget lapsed instances");
  return std::atoll(PQcmdTuples(r.get()));
}

ClusterCounts PgRegistrations::counts(const std::string& id) {
  const pg::Result r = run(conn_, kCounts, Params().add(id), "counts");
  const PgRow row(r.get(), 0);
  ClusterCounts c;
  c.live = row.integer(0);
  c.total = row.integer(1);
  c.mine = row.integer(2);
  c.orphans = row.integer(3);
  c.quarantined = row.integer(4);
  return c;
}

// --- ownership --------------------------------------------------------------------------------

ClaimedNotifications PgRegistrations::claim(const std::string& id, int64_t quota) {
  ClaimedNotifications out;
  if (quota <= 0) return out;
  // First the rows of lapsed instances, FOR SHARE: a renewal of one of them waits for this
  // transaction and then finds its lease lapsed (clock_timestamp()), so that an instance is
  // never told it still holds a lease whose notifications were just claimed. Sent with BEGIN;
  // the claim runs after it on a fresh snapshot.
  Transaction tx(conn_, "SELECT 1 FROM px_instance WHERE expires_at <= now() FOR SHARE");
  const pg::Result claimed = run(conn_, kClaim, Params().add(id).add(quota), "claim");
  ArrayParam badRequesters, badCorrelators, badReasons;
  std::vector<NotificationKey> good;
  for (int i = 0; i < PQntuples(claimed.get()); ++i) {
    const PgRow row(claimed.get(), i);
    try {
      out.states.push_back(decodeRow(row));
      good.push_back(out.states.back().spec.id);
    } catch (const DecodeError& e) {
      QuarantinedNotification q;
      q.requester = row.lenientText(0);
      q.correlator = row.lenientText(1);
      q.endpoint = row.lenientText(2);
      q.globalId = row.lenientText(4);
      q.reason = "PostgreSQL: notification " + describe({q.requester, q.correlator}) +
                 " cannot be decoded: " + e.what;
      badRequesters.text(q.requester);
      badCorrelators.text(q.correlator);
      badReasons.text(q.reason);
      out.quarantined.push_back(std::move(q));
    }
  }
  if (!out.quarantined.empty()) {
    run(conn_, kQuarantine, Params().add(badRequesters).add(badCorrelators).add(badReasons),
        "quarantine");
  }
  std::vector<QuarantinedNotification> badDeliveries;
  if (!good.empty()) {
    const pg::Result outbox = run(conn_, kOutboxOf, keyParams(good), "claim outbox");
    for (int i = 0; i < PQntuples(outbox.get()); ++i) {
      const PgRow row(outbox.get(), i);
      Delivery d;
      std::string problem;
      if (decodeDeliveryRow(row, &d, &problem)) {
        out.outbox.push_back(std::move(d));
        continue;
      }
      // Left in place, as in SQLite; told again only when its notification is claimed again.
      QuarantinedNotification q;
      q.pendingDelivery = true;
      q.requester = row.lenientText(0);
      q.correlator = row.lenientText(1);
      q.endpoint = row.lenientText(4);
      q.globalId = row.lenientText(5);
      q.reason = "PostgreSQL: a pending delivery of " + describe({q.requester, q.correlator}) +
                 " cannot be decoded: " + problem;
      badDeliveries.push_back(std::move(q));
    }
  }
  tx.commit();
  for (QuarantinedNotification& q : out.quarantined) q.moved = true;  // flagged, committed
  for (QuarantinedNotification& q : badDeliveries) out.quarantined.push_back(std::move(q));
  auto byKey = [](const NotificationState& a, const NotificationState& b) {
    return a.spec.id < b.spec.id;
  };
  std::sort(out.states.begin(), out.states.end(), byKey);
  // By the uint64 sequence (stored with int64 bits: SQL's order would differ past INT64_MAX).
  std::stable_sort(out.outbox.begin(), out.outbox.end(), [](const Delivery& a, const Delivery& b) {
    if (!(a.id == b.id)) return a.id < b.id;
    return a.sequence < b.sequence;
  });
  return out;
}

void PgRegistrations::release(const std::string& id, const std::vector<NotificationKey>& keys) {
  if (keys.empty()) return;
  Params params;
  params.add(id);
  ArrayParam requesters, correlators;
  for (const NotificationKey& k : keys) {
    requesters.text(k.requester);
    correlators.text(k.correlator);
  }
  params.add(requesters).add(correlators).add(kClusterChannel);
  params.add(payload(ClusterMessage::Kind::kReleased));
  run(conn_, kRelease, params, "release");
}

// --- writes -----------------------------------------------------------------------------------

FencedWriteResult PgRegistrations::write(const std::string& id, const NotificationWrites& writes) {
  FencedWriteResult result;
  if (writes.saves.empty() && writes.removes.empty() && writes.deliveries.empty()) return result;
  // The last save of each key counts; created ones are inserted, the others updated.
  std::map<NotificationKey, const NotificationState*> latest;
  for (const NotificationState& s : writes.saves) {
    for (const WatchedAddress& a : s.spec.addresses) {
      if (holdsSeparator(a.address) || holdsSeparator(a.key)) {
        throw pg::Error("PostgreSQL registrations: address '" + a.address + "' (key '" + a.key +
                            "') holds a tab or line break",
                        false);
      }
    }
    latest[s.spec.id] = &s;
  }
  const std::set<NotificationKey> created(writes.created.begin(), writes.created.end());
  std::vector<const NotificationState*> inserts, updates;
  for (const auto& [key, state] : latest) (created.count(key) ? inserts : updates).push_back(state);

  std::set<NotificationKey> written;  // stored or deleted by this write
  std::set<NotificationKey> refused;  // lost or duplicate: nothing of them is written
  Transaction tx(conn_);
  if (!inserts.empty()) {
    const std::set<NotificationKey> stored =
        keysOf(run(conn_, kInsertCreated, notificationParams(inserts, id), "insert created"));
    for (const NotificationState* s : inserts) {
      if (stored.count(s->spec.id)) {
        written.insert(s->spec.id);
      } else {
        result.duplicates.push_back(s->spec.id);
        refused.insert(s->spec.id);
      }
    }
  }
  if (!updates.empty()) {
    const std::set<NotificationKey> stored =
        keysOf(run(conn_, kUpdateSaves, notificationParams(updates, id), "update saves"));
    for (const NotificationState* s : updates) {
      if (stored.count(s->spec.id)) {
        written.insert(s->spec.id);
      } else {
        result.lost.push_back(s->spec.id);
        refused.insert(s->spec.id);
      }
    }
  }
  std::vector<NotificationKey> removes;
  for (const NotificationKey& k :
       std::set<NotificationKey>(writes.removes.begin(), writes.removes.end())) {
    if (!refused.count(k)) removes.push_back(k);
  }
  if (!removes.empty()) {
    Params params = keyParams(removes);
    params.add(id);
    const std::set<NotificationKey> deleted =
        keysOf(run(conn_, kDeleteRemoves, params, "delete removes"));
    for (const NotificationKey& k : removes) {
      if (deleted.count(k)) {
        written.insert(k);
      } else {
        result.lost.push_back(k);
        refused.insert(k);
      }
    }
  }
  std::vector<ArrayParam> a(11);
  bool anyDelivery = false;
  for (const Delivery& d : writes.deliveries) {
    if (refused.count(d.id)) continue;
    anyDelivery = true;
    a[0].text(d.id.requester);
    a[1].text(d.id.correlator);
    a[2].integer(static_cast<int64_t>(d.sequence));
    a[3].text(deliveryKindName(d.kind));
    a[4].text(d.endpoint);
    a[5].text(d.globalId);
    a[6].text(encodeDeliveryPayload(d));
    a[7].text(d.api);
    a[8].text(d.extension);
    a[9].integer(d.atMs);
    a[10].flag(written.count(d.id) > 0);
  }
  if (anyDelivery) {
    Params params;
    for (const ArrayParam& column : a) params.add(column);
    params.add(id);
    run(conn_, kInsertDeliveries, params, "insert deliveries");
  }
  tx.commit();
  std::sort(result.lost.begin(), result.lost.end());
  return result;
}

void PgRegistrations::deliveryDone(const NotificationKey& key, uint64_t sequence) {
  run(conn_, kDeliveryDone,
      Params().add(key.requester).add(key.correlator).add(static_cast<int64_t>(sequence)),
      "delivery done");
}

std::optional<EndedElsewhere> PgRegistrations::takeForEnd(const NotificationKey& key,
                                                          const std::string& api) {
  Transaction tx(conn_);
  const pg::Result r = run(
      conn_, kTakeForEnd, Params().add(key.requester).add(key.correlator).add(api), "take for end");
  if (PQntuples(r.get()) == 0) return std::nullopt;  // rolled back: nothing was deleted
  const PgRow row(r.get(), 0);
  EndedElsewhere ended;
  try {
    ended.state = decodeRow(row);
  } catch (const DecodeError&) {
    return std::nullopt;  // rolled back: left for claim() to flag
  }
  constexpr int kOwnerColumn = 17;  // after kNotificationColumns
  if (!row.isNull(kOwnerColumn)) {
    ended.owner = row.lenientText(kOwnerColumn);
    ClusterMessage message;
    message.kind = ClusterMessage::Kind::kEnded;
    message.owner = ended.owner;
    message.key = key;
    run(conn_, kNotify, Params().add(kClusterChannel).add(encodeClusterMessage(message)),
        "notify ended");
  }
  tx.commit();
  return ended;
}

std::optional<NotificationState> PgRegistrations::find(const NotificationKey& key) {
  const pg::Result r =
      run(conn_, kFind, Params().add(key.requester).add(key.correlator), "find notification");
  if (PQntuples(r.get()) == 0) return std::nullopt;
  try {
    return decodeRow(PgRow(r.get(), 0));
  } catch (const DecodeError&) {
    return std::nullopt;
  }
}

std::vector<NotificationState> PgRegistrations::list() {
  const pg::Result r = run(conn_, kList, Params(), "list notifications");
  std::vector<NotificationState> states;
  states.reserve(static_cast<size_t>(PQntuples(r.get())));
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    try {
      states.push_back(decodeRow(PgRow(r.get(), i)));
    } catch (const DecodeError&) {  // left out: claim() flags it
    }
  }
  return states;
}

// --- call registrations -----------------------------------------------------------------------

std::vector<call::CallRegistration> PgRegistrations::loadCalls(
    std::vector<QuarantinedCallRegistration>* quarantined) {
  const pg::Result r = run(conn_, kLoadCalls, Params(), "load call registrations");
  std::vector<call::CallRegistration> loaded;
  constexpr int kXminColumn = 10;  // after kCallRegistrationColumns
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    const PgRow row(r.get(), i);
    try {
      loaded.push_back(decodeCallRegistrationRow(row));
      continue;
    } catch (const DecodeError& e) {
      QuarantinedCallRegistration q;
      q.kind = row.lenientText(0);
      q.correlator = row.lenientText(1);
      q.requester = row.lenientText(2);
      q.reason = "PostgreSQL: call registration (" + q.kind + ", correlator '" + q.correlator +
                 "') cannot be decoded: " + e.what;
      try {
        run(conn_, kQuarantineCall,
            Params().add(q.kind).add(q.correlator).add(row.lenientText(kXminColumn)).add(q.reason),
            "quarantine call registration");
        q.moved = true;
      } catch (const pg::Error& error) {
        if (error.connectionLost()) throw;
        q.reason += "; flagging it failed: ";
        q.reason += error.what();
      }
      if (quarantined != nullptr) quarantined->push_back(std::move(q));
    }
  }
  return loaded;
}

void PgRegistrations::saveCall(const call::CallRegistration& registration) {
  const std::string problem = callRegistrationUnstorable(registration);
  if (!problem.empty()) throw pg::Error("PostgreSQL registrations: " + problem, false);
  Params params;
  params.add(call::toString(registration.kind))
      .add(registration.correlator)
      .add(registration.requester)
      .add(encodeCallAddresses(registration.addresses))
      .add(encodeCallCriteria(registration.criteria))
      .add(registration.endpoint)
      .add(registration.interfaceName)
      .add(registration.ns)
      .add(static_cast<int64_t>(registration.createdMs))
      .add(static_cast<int64_t>(registration.order))
      .add(kClusterChannel)
      .add(payload(ClusterMessage::Kind::kCalls));
  run(conn_, kSaveCall, params, "save call registration");
}

void PgRegistrations::removeCall(call::RegistrationKind kind, const std::string& correlator) {
  run(conn_, kRemoveCall,
      Params()
          .add(call::toString(kind))
          .add(correlator)
          .add(kClusterChannel)
          .add(payload(ClusterMessage::Kind::kCalls)),
      "remove call registration");
}

}  // namespace px::store

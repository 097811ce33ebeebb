#include "store/PgRegistrationsSql.h"

#include <string_view>

#include "store/CallRegistrationRows.h"
#include "store/DeliveryRows.h"
#include "store/NotificationRows.h"
#include "store/PgRegistrations.h"

namespace px::store::registrations_sql {

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
const int kVersion = static_cast<int>(sizeof kMigrations / sizeof kMigrations[0]);

namespace {

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

}  // namespace

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
                        "DELETE FROM pending_delivery p USING unnest($1::text[], $2::text[], "
                        "$3::bigint[]) AS d(requester, correlator, sequence) WHERE p.requester = "
                        "d.requester AND p.correlator = d.correlator AND p.sequence = d.sequence"};
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

}  // namespace px::store::registrations_sql

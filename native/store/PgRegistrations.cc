// PgRegistrations: the clustered registrations in PostgreSQL (PgRegistrations.h). The row
// encodings and their strict decoding are the SQLite store's (NotificationRows.h,
// CallRegistrationRows.h, DeliveryRows.h), read through PgRow; batches travel as one array
// parameter per column (unnest), so that a write of any size is a handful of statements.
#include "store/PgRegistrations.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <stdexcept>
#include <utility>

#include "store/CallRegistrationRows.h"
#include "store/DeliveryRows.h"
#include "store/NotificationRows.h"
#include "store/Pg.h"
#include "store/PgRegistrationsSql.h"
#include "store/PgValues.h"

namespace px::store {
namespace {

using namespace registrations_sql;

pg::Result run(PGconn* conn, Sql stmt, const Params& params, const char* what) {
  return pg::execPrepared(conn, name(stmt), params.pointers(), what);
}

NotificationKey keyOf(const PGresult* result, int row) {
  const PgRow r(result, row);
  return NotificationKey{r.lenientText(0), r.lenientText(1)};
}

std::set<NotificationKey> keysOf(const pg::Result& result) {
  std::set<NotificationKey> keys;
  for (int i = 0; i < pq::PQntuples(result.get()); ++i) keys.insert(keyOf(result.get(), i));
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
  pg::migrateComponent(conn_, "registrations", kMigrations, kVersion);
}

void PgRegistrations::prepare() {
  for (const Statement& s : statements()) {
    pg::check(conn_, pg::Result(pq::PQprepare(conn_, s.name, s.sql.c_str(), 0, nullptr)), s.name);
  }
}

// --- leases -----------------------------------------------------------------------------------

void PgRegistrations::registerInstance(const std::string& id, const std::string& name,
                                       int64_t leaseMs) {
  run(conn_, kRegister, Params().add(id).add(name).add(leaseMs), "register instance");
}

bool PgRegistrations::renew(const std::string& id, int64_t leaseMs) {
  const pg::Result r = run(conn_, kRenew, Params().add(id).add(leaseMs), "renew lease");
  return std::string(pq::PQcmdTuples(r.get())) == "1";
}

void PgRegistrations::leave(const std::string& id) {
  // One statement: one implicit transaction.
  run(conn_, kLeave,
      Params().add(id).add(kClusterChannel).add(payload(ClusterMessage::Kind::kReleased)), "leave");
}

int64_t PgRegistrations::forgetLapsed(int64_t graceMs) {
  const pg::Result r = run(conn_, kForget, Params().add(graceMs), "forget lapsed instances");
  return std::atoll(pq::PQcmdTuples(r.get()));
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
  pg::Transaction tx(conn_, "SELECT 1 FROM px_instance WHERE expires_at <= now() FOR SHARE");
  const pg::Result claimed = run(conn_, kClaim, Params().add(id).add(quota), "claim");
  ArrayParam badRequesters, badCorrelators, badReasons;
  std::vector<NotificationKey> good;
  for (int i = 0; i < pq::PQntuples(claimed.get()); ++i) {
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
    for (int i = 0; i < pq::PQntuples(outbox.get()); ++i) {
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
  pg::Transaction tx(conn_);
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
  deliveryDone({{key, sequence}});
}

void PgRegistrations::deliveryDone(
    const std::vector<std::pair<NotificationKey, uint64_t>>& settled) {
  if (settled.empty()) return;
  ArrayParam requesters, correlators, sequences;
  for (const auto& [key, sequence] : settled) {
    requesters.text(key.requester);
    correlators.text(key.correlator);
    sequences.integer(static_cast<int64_t>(sequence));
  }
  run(conn_, kDeliveryDone, Params().add(requesters).add(correlators).add(sequences),
      "delivery done");
}

std::optional<EndedElsewhere> PgRegistrations::takeForEnd(const NotificationKey& key,
                                                          const std::string& api) {
  pg::Transaction tx(conn_);
  const pg::Result r = run(
      conn_, kTakeForEnd, Params().add(key.requester).add(key.correlator).add(api), "take for end");
  if (pq::PQntuples(r.get()) == 0) return std::nullopt;  // rolled back: nothing was deleted
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
  if (pq::PQntuples(r.get()) == 0) return std::nullopt;
  try {
    return decodeRow(PgRow(r.get(), 0));
  } catch (const DecodeError&) {
    return std::nullopt;
  }
}

std::vector<NotificationState> PgRegistrations::list() {
  const pg::Result r = run(conn_, kList, Params(), "list notifications");
  std::vector<NotificationState> states;
  states.reserve(static_cast<size_t>(pq::PQntuples(r.get())));
  for (int i = 0; i < pq::PQntuples(r.get()); ++i) {
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
  for (int i = 0; i < pq::PQntuples(r.get()); ++i) {
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

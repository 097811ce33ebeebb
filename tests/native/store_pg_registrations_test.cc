// The clustered registrations store (native/store/PgRegistrations): the NOTIFY payload codec on
// its own, and, when PX_TEST_PG_URL names a PostgreSQL database, everything else against it
// (those tests are registered only then: nothing is skipped silently; scripts/test-native.sh
// starts a throwaway server for them). Each real-PostgreSQL test works in a schema of its own,
// so that ctest may run them in parallel against one database; NOTIFY channels are shared by
// the whole database, so listeners look only for the instance ids of their own test.
#include "store/PgRegistrations.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "store/Pg.h"
#include "support/NotificationStateAssertions.h"

namespace px::store {
namespace {

using namespace std::chrono_literals;

// ---- Payloads (no database) ---------------------------------------------------------------------

TEST(ClusterMessage, EndedRoundTripsAnyBytes) {
  ClusterMessage m;
  m.kind = ClusterMessage::Kind::kEnded;
  m.owner = "gw-1:4711:abc";
  m.key = NotificationKey{"app:one\nline two", "12:34:corr\n\t\"x\"\\"};
  const std::string text = encodeClusterMessage(m);
  EXPECT_EQ(text.rfind("5:ended", 0), 0u) << text;
  const ClusterMessage back = parseClusterMessage(text);
  EXPECT_EQ(back.kind, ClusterMessage::Kind::kEnded);
  EXPECT_EQ(back.owner, m.owner);
  EXPECT_EQ(back.key, m.key);

  m.owner.clear();
  m.key = NotificationKey{"", ""};
  const ClusterMessage empty = parseClusterMessage(encodeClusterMessage(m));
  EXPECT_EQ(empty.kind, ClusterMessage::Kind::kEnded);
  EXPECT_EQ(empty.owner, "");
  EXPECT_EQ(empty.key, m.key);
}

TEST(ClusterMessage, ReleasedAndCalls) {
  for (ClusterMessage::Kind kind :
       {ClusterMessage::Kind::kReleased, ClusterMessage::Kind::kCalls}) {
    ClusterMessage m;
    m.kind = kind;
    EXPECT_EQ(parseClusterMessage(encodeClusterMessage(m)).kind, kind);
  }
  EXPECT_EQ(encodeClusterMessage(ClusterMessage{ClusterMessage::Kind::kCalls, "", {}}), "5:calls");
  EXPECT_EQ(parseClusterMessage("8:released").kind, ClusterMessage::Kind::kReleased);
}

TEST(ClusterMessage, AnythingElseIsUnknown) {
  for (const std::string& text :
       {std::string(), std::string("ended"), std::string("5:ended"), std::string("5:ended1:a"),
        std::string("5:ended1:a1:b1:c1:d"), std::string("5:calls1:x"), std::string("9:released"),
        std::string("7:unknown"), std::string("4:nope"), std::string("x:calls"),
        std::string("99:calls"), std::string("5:calls\n")}) {
    EXPECT_EQ(parseClusterMessage(text).kind, ClusterMessage::Kind::kUnknown) << text;
  }
  EXPECT_EQ(parseClusterMessage(encodeClusterMessage(ClusterMessage{})).kind,
            ClusterMessage::Kind::kUnknown);
}

// ---- Against a real PostgreSQL: registered only when PX_TEST_PG_URL is set ----------------------

constexpr uint64_t kBigSequence = std::numeric_limits<uint64_t>::max() - 3;  // past INT64_MAX

NotificationState makeState(const std::string& correlator, int64_t createdAtMs) {
  NotificationState s;
  s.spec.id = {"app\"{1}\\", correlator};
  s.spec.endpoint = "http://app.example.com/ts/" + correlator;
  s.spec.interfaceName = "TerminalStatusNotification";
  s.spec.globalId = "gid-" + correlator;
  s.spec.addresses = {
      {"tel:+15551230001", "sip:+15551230001@ims.example.com;user=phone", TerminalStatus::kBusy},
      {"sip:alice@example.com", "sip:alice@example.com", std::nullopt},
  };
  s.spec.criteria = {TerminalStatus::kBusy, TerminalStatus::kReachable};
  s.spec.checkImmediate = true;
  s.spec.frequencyMs = 30000;
  s.spec.createdAtMs = createdAtMs;
  s.spec.expiresAtMs = createdAtMs + 3600000;
  s.spec.countLimit = std::numeric_limits<uint32_t>::max();
  s.progress.sent = 7;
  s.progress.lastSentAtMs = createdAtMs + 5;
  s.progress.nextSequence = kBigSequence;
  s.spec.api = "camara-device-reachability-status-subscriptions-v0.7";
  s.spec.extension = "{\"types\":[\"t\"],\"note\":\"tab\there \\\"q\\\" {braces}, commas\"}";
  return s;
}

NotificationState sparseState(const std::string& correlator, int64_t createdAtMs) {
  NotificationState s;
  s.spec.id = {"", correlator};
  s.spec.endpoint = "http://other.example.com/n";
  s.spec.addresses = {{"sip:dave@example.com", "sip:dave@example.com", std::nullopt}};
  s.spec.createdAtMs = createdAtMs;
  return s;
}

using px::testing::expectSame;

void expectSame(const Delivery& w, const Delivery& g) {
  EXPECT_EQ(w.kind, g.kind);
  EXPECT_EQ(w.endReason, g.endReason);
  EXPECT_EQ(w.atMs, g.atMs);
  EXPECT_EQ(w.api, g.api);
  EXPECT_EQ(w.extension, g.extension);
  EXPECT_EQ(w.id, g.id);
  EXPECT_EQ(w.endpoint, g.endpoint);
  EXPECT_EQ(w.globalId, g.globalId);
  EXPECT_EQ(w.sequence, g.sequence);
  EXPECT_EQ(w.statuses, g.statuses);
  EXPECT_EQ(w.address, g.address);
  EXPECT_EQ(w.messageId, g.messageId);
  EXPECT_EQ(w.text, g.text);
  EXPECT_EQ(w.variables, g.variables);
}

Delivery delivery(const NotificationState& s, Delivery::Kind kind, uint64_t sequence) {
  Delivery d;
  d.kind = kind;
  d.id = s.spec.id;
  d.endpoint = s.spec.endpoint;
  d.globalId = s.spec.globalId;
  d.api = s.spec.api;
  d.extension = s.spec.extension;
  d.sequence = sequence;
  d.atMs = 1795536062345 + static_cast<int64_t>(sequence % 1000);
  return d;
}

// Every kind and every field: statuses, errors with variables, each end reason, none.
std::vector<Delivery> everyDelivery(const NotificationState& s) {
  std::vector<Delivery> all;
  Delivery n = delivery(s, Delivery::Kind::kStatusNotification, 1);
  n.statuses = {{"tel:+15551230001", TerminalStatus::kBusy},
                {"sip:a:b@c\nd", TerminalStatus::kUnreachable},
                {"sip:e@f", TerminalStatus::kReachable}};
  all.push_back(n);
  Delivery e = delivery(s, Delivery::Kind::kStatusError, 2);
  e.address = "sip:alice@example.com";
  e.messageId = "SVC0001";
  e.text = "A service error occurred. Error code is %1: %2";
  e.variables = {"503", "12:34\nx", ""};
  all.push_back(e);
  uint64_t sequence = 3;
  for (Delivery::EndReason reason :
       {Delivery::EndReason::kNone, Delivery::EndReason::kExpired,
        Delivery::EndReason::kCountReached, Delivery::EndReason::kDeleted,
        Delivery::EndReason::kTerminated}) {
    Delivery end = delivery(s, Delivery::Kind::kStatusEnd, sequence++);
    end.endReason = reason;
    if (reason != Delivery::EndReason::kNone) end.text = "detail " + std::to_string(sequence);
    all.push_back(end);
  }
  all.push_back(delivery(s, Delivery::Kind::kStatusEnd, kBigSequence));  // sorts last
  all.back().atMs = 0;
  return all;
}

NotificationWrites creates(const std::vector<NotificationState>& states) {
  NotificationWrites w;
  for (const NotificationState& s : states) {
    w.saves.push_back(s);
    w.created.push_back(s.spec.id);
  }
  return w;
}

struct NotifyFree {
  void operator()(PGnotify* n) const noexcept { pq::PQfreemem(n); }
};

// The test's own schema, dropped at the end; connections see only it.
class PgRegistrationsTest : public ::testing::Test {
 public:
  explicit PgRegistrationsTest(std::string url) : url_(std::move(url)) {}

  void SetUp() override {
    static std::atomic<int> counter{0};
    schema_ = "px_reg_t" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    admin_ = pg::connect(url_, 5);
    pg::exec(admin_.get(), "DROP SCHEMA IF EXISTS " + schema_ + " CASCADE", "drop");
    pg::exec(admin_.get(), "CREATE SCHEMA " + schema_, "create schema");
    pg::exec(admin_.get(), "SET search_path TO " + schema_, "search_path");
  }
  void TearDown() override {
    if (admin_) pg::exec(admin_.get(), "DROP SCHEMA IF EXISTS " + schema_ + " CASCADE", "drop");
  }

  // A connection in the test's schema.
  pg::Conn connect() {
    pg::Conn conn = pg::connect(url_, 5);
    pg::exec(conn.get(), "SET search_path TO " + schema_, "search_path");
    return conn;
  }
  // A migrated, prepared store on a new connection (kept alive by the test).
  PgRegistrations& store() {
    conns_.push_back(connect());
    stores_.push_back(std::make_unique<PgRegistrations>(conns_.back().get()));
    stores_.back()->migrate();
    stores_.back()->prepare();
    return *stores_.back();
  }
  // An instance id unique to this test (NOTIFY channels are shared by parallel tests).
  std::string instance(const std::string& name) const { return schema_ + "-" + name; }

  std::string sql(const std::string& text) {
    pg::Result r = pg::execParams(admin_.get(), text, {}, "test sql");
    return pq::PQntuples(r.get()) > 0 ? pq::PQgetvalue(r.get(), 0, 0) : "";
  }
  void lapse(const std::string& id) {
    sql("UPDATE px_instance SET expires_at = now() - interval '1 second' WHERE id = '" + id + "'");
  }

  // LISTENs on px_cluster on its own connection.
  pg::Conn listener() {
    pg::Conn conn = connect();
    pg::exec(conn.get(), std::string("LISTEN ") + kClusterChannel, "listen");
    return conn;
  }
  // Waits up to `timeout` for a message on conn that `wanted` accepts; nullopt at the end.
  static std::optional<ClusterMessage> await(
      PGconn* conn, const std::function<bool(const ClusterMessage&)>& wanted,
      std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (pq::PQconsumeInput(conn) == 0) return std::nullopt;
      for (std::unique_ptr<PGnotify, NotifyFree> n(pq::PQnotifies(conn)); n;
           n.reset(pq::PQnotifies(conn))) {
        EXPECT_EQ(std::string(n->relname), kClusterChannel);
        const ClusterMessage m = parseClusterMessage(n->extra);
        if (wanted(m)) return m;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd fd{pq::PQsocket(conn), POLLIN, 0};
      ::poll(&fd, 1, static_cast<int>(left.count()));
    }
  }

  std::string url_;
  std::string schema_;
  pg::Conn admin_;
  std::vector<pg::Conn> conns_;
  std::vector<std::unique_ptr<PgRegistrations>> stores_;
};

std::set<NotificationKey> keysOf(const ClaimedNotifications& c) {
  std::set<NotificationKey> keys;
  for (const NotificationState& s : c.states) keys.insert(s.spec.id);
  return keys;
}

using Body = void (*)(PgRegistrationsTest&);

void migrateTwiceAndRefuseNewer(PgRegistrationsTest& t) {
  PgRegistrations& s = t.store();
  const std::string version = std::to_string(PgRegistrations::schemaVersion());
  EXPECT_EQ(t.sql("SELECT version FROM schema_version WHERE component = 'registrations'"), version);
  const std::string stamped =
      t.sql("SELECT migrated_at::text FROM schema_version WHERE component = 'registrations'");
  s.migrate();                         // a no-op
  PgRegistrations& other = t.store();  // another instance starting: migrates (nothing) and prepares
  (void)other;
  EXPECT_EQ(t.sql("SELECT migrated_at::text FROM schema_version WHERE component = 'registrations'"),
            stamped);
  EXPECT_EQ(t.sql("SELECT count(*) FROM schema_version"), "1");
  t.sql("UPDATE schema_version SET version = version + 1 WHERE component = 'registrations'");
  try {
    s.migrate();
    ADD_FAILURE() << "a newer schema was not refused";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("newer"), std::string::npos) << e.what();
  }
  // Refused in its transaction: nothing changed.
  EXPECT_EQ(t.sql("SELECT version FROM schema_version WHERE component = 'registrations'"),
            std::to_string(PgRegistrations::schemaVersion() + 1));
}

void leasesRegisterRenewLapseLeave(PgRegistrationsTest& t) {
  PgRegistrations& s = t.store();
  const std::string a = t.instance("a"), b = t.instance("b");
  s.registerInstance(a, "gw-a", 60000);
  EXPECT_THROW(s.registerInstance(a, "gw-a", 60000), pg::Error);  // ids are never reused
  s.registerInstance(b, "gw-b", 200);
  EXPECT_TRUE(s.renew(a, 60000));
  EXPECT_EQ(s.counts(a).live, 2);
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(s.renew(b, 60000));  // lapsed: refused, and stays lapsed
  EXPECT_FALSE(s.renew(b, 60000));
  EXPECT_EQ(s.counts(a).live, 1);
  EXPECT_TRUE(s.renew(a, 60000));
  t.lapse(a);
  EXPECT_FALSE(s.renew(a, 60000));
  EXPECT_EQ(s.counts(a).live, 0);
  EXPECT_FALSE(s.renew(t.instance("never"), 60000));  // the row is gone: lost as well
  EXPECT_EQ(s.forgetLapsed(60000), 0);                // lapsed less than a minute ago
  EXPECT_EQ(s.forgetLapsed(0), 2);
  EXPECT_EQ(t.sql("SELECT count(*) FROM px_instance"), "0");

  // leave(): everything of the instance becomes unowned, its row goes, "released" is told.
  const std::string c = t.instance("c");
  s.registerInstance(c, "gw-c", 60000);
  NotificationState one = makeState("leave-1", 1), two = makeState("leave-2", 2);
  EXPECT_TRUE(s.write(c, creates({one, two})).duplicates.empty());
  pg::Conn listen = t.listener();
  s.leave(c);
  EXPECT_TRUE(PgRegistrationsTest::await(listen.get(), [](const ClusterMessage& m) {
    return m.kind == ClusterMessage::Kind::kReleased;
  }));
  EXPECT_EQ(t.sql("SELECT count(*) FROM px_instance"), "0");
  EXPECT_EQ(t.sql("SELECT count(*) FROM notification WHERE owner IS NULL"), "2");
}

void claimTakesOrphansUpToQuota(PgRegistrationsTest& t) {
  PgRegistrations& s = t.store();
  const std::string live = t.instance("live"), gone = t.instance("gone"), me = t.instance("me");
  s.registerInstance(live, "live", 60000);
  s.registerInstance(gone, "gone", 60000);
  s.registerInstance(me, "me", 60000);
  // Created times interleave owners, so that the order of the claim is visible.
  ASSERT_TRUE(s.write(live, creates({makeState("l1", 10), makeState("l2", 1)})).duplicates.empty());
  ASSERT_TRUE(
      s.write(gone, creates({makeState("g1", 30), makeState("g2", 20)})).duplicates.empty());
  ASSERT_TRUE(
      s.write(gone, creates({sparseState("u1", 25), sparseState("u2", 40)})).duplicates.empty());
  s.release(gone, {{"", "u1"}, {"", "u2"}});
  t.lapse(gone);
  ClusterCounts c = s.counts(me);
  EXPECT_EQ(c.live, 2);
  EXPECT_EQ(c.total, 6);
  EXPECT_EQ(c.mine, 0);
  EXPECT_EQ(c.orphans, 4);

  ClaimedNotifications first = s.claim(me, 3);  // oldest created first: g2 (20), u1 (25), g1 (30)
  ASSERT_EQ(first.states.size(), 3u);
  EXPECT_TRUE(first.quarantined.empty());
  EXPECT_EQ(keysOf(first),
            (std::set<NotificationKey>{{"app\"{1}\\", "g1"}, {"app\"{1}\\", "g2"}, {"", "u1"}}));
  EXPECT_TRUE(std::is_sorted(first.states.begin(), first.states.end(),
                             [](const NotificationState& x, const NotificationState& y) {
                               return x.spec.id < y.spec.id;
                             }));
  for (const NotificationState& got : first.states) {
    if (got.spec.id.correlator == "g1") expectSame(makeState("g1", 30), got);
    if (got.spec.id.correlator == "u1") expectSame(sparseState("u1", 25), got);
  }
  ClaimedNotifications second = s.claim(me, 10);
  EXPECT_EQ(keysOf(second), (std::set<NotificationKey>{{"", "u2"}}));  // never live's
  EXPECT_TRUE(s.claim(me, 10).states.empty());
  c = s.counts(me);
  EXPECT_EQ(c.mine, 4);
  EXPECT_EQ(c.orphans, 0);
  EXPECT_EQ(t.sql("SELECT count(*) FROM notification WHERE owner = '" + live + "'"), "2");

  // A lapsed claimer takes nothing; a zero quota nothing either.
  s.release(me, {{"", "u2"}});
  EXPECT_TRUE(s.claim(me, 0).states.empty());
  t.lapse(me);
  EXPECT_TRUE(s.claim(me, 10).states.empty());
  EXPECT_EQ(t.sql("SELECT count(*) FROM notification WHERE owner IS NULL"), "1");
}

void concurrentClaimsAreDisjoint(PgRegistrationsTest& t) {
  PgRegistrations& setup = t.store();
  const std::string old = t.instance("old");
  setup.registerInstance(old, "old", 60000);
  std::vector<NotificationState> all;
  for (int i = 0; i < 400; ++i) all.push_back(sparseState("c" + std::to_string(i), i % 37));
  ASSERT_TRUE(setup.write(old, creates(all)).duplicates.empty());
  t.lapse(old);
  const std::string ids[2] = {t.instance("x"), t.instance("y")};
  PgRegistrations* stores[2] = {&t.store(), &t.store()};
  for (int i = 0; i < 2; ++i) stores[i]->registerInstance(ids[i], ids[i], 60000);
  std::vector<NotificationKey> got[2];
  std::string errors[2];
  std::thread threads[2];
  for (int i = 0; i < 2; ++i) {
    threads[i] = std::thread([&, i] {
      try {
        for (;;) {
          ClaimedNotifications c = stores[i]->claim(ids[i], 7);
          if (c.states.empty()) break;
          for (const NotificationState& st : c.states) got[i].push_back(st.spec.id);
        }
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(errors[0], "");
  EXPECT_EQ(errors[1], "");
  std::set<NotificationKey> union_;
  for (const auto& list : got) union_.insert(list.begin(), list.end());
  EXPECT_EQ(union_.size(), got[0].size() + got[1].size()) << "a row was claimed twice";
  EXPECT_EQ(union_.size(), all.size());
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(setup.counts(ids[i]).mine, static_cast<int64_t>(got[i].size()));
  }
}

void writesAreFenced(PgRegistrationsTest& t) {
  PgRegistrations& a = t.store();
  PgRegistrations& b = t.store();
  const std::string ia = t.instance("a"), ib = t.instance("b");
  a.registerInstance(ia, "a", 60000);
  b.registerInstance(ib, "b", 60000);
  NotificationState n1 = makeState("n1", 1), n2 = makeState("n2", 2), n3 = makeState("n3", 3);
  FencedWriteResult r = a.write(ia, creates({n1, n2, n3}));
  EXPECT_TRUE(r.lost.empty());
  EXPECT_TRUE(r.duplicates.empty());

  // An owner's save, with its delivery, is stored.
  NotificationWrites w;
  n3.progress.sent = 8;
  w.saves.push_back(n3);
  w.deliveries.push_back(delivery(n3, Delivery::Kind::kStatusNotification, 11));
  w.deliveries.back().statuses = {{"sip:alice@example.com", TerminalStatus::kReachable}};
  r = a.write(ia, w);
  EXPECT_TRUE(r.lost.empty());
  EXPECT_EQ(a.find(n3.spec.id)->progress.sent, 8u);
  EXPECT_EQ(t.sql("SELECT count(*) FROM pending_delivery"), "1");

  // a lapses, b takes n1 and n2 (and n3).
  t.lapse(ia);
  EXPECT_EQ(b.claim(ib, 10).states.size(), 3u);
  NotificationState changed = n1;
  changed.progress.sent = 99;
  NotificationWrites late;
  late.saves.push_back(changed);
  late.removes.push_back(n2.spec.id);
  late.deliveries.push_back(delivery(n1, Delivery::Kind::kStatusNotification, 12));
  late.deliveries.back().statuses = {{"sip:alice@example.com", TerminalStatus::kBusy}};
  late.deliveries.push_back(delivery(n2, Delivery::Kind::kStatusEnd, 13));
  r = a.write(ia, late);
  EXPECT_EQ(r.lost, (std::vector<NotificationKey>{n1.spec.id, n2.spec.id}));
  EXPECT_TRUE(r.duplicates.empty());
  EXPECT_EQ(a.find(n1.spec.id)->progress.sent, 7u);                // not written
  EXPECT_TRUE(a.find(n2.spec.id).has_value());                     // not removed
  EXPECT_EQ(t.sql("SELECT count(*) FROM pending_delivery"), "1");  // no delivery of a's stored
  // A delivery of a key a neither saved nor removed is fenced too.
  NotificationWrites stray;
  stray.deliveries.push_back(delivery(n3, Delivery::Kind::kStatusEnd, 14));
  EXPECT_TRUE(a.write(ia, stray).lost.empty());
  EXPECT_EQ(t.sql("SELECT count(*) FROM pending_delivery"), "1");
  EXPECT_TRUE(b.write(ib, stray).lost.empty());  // the owner's is stored
  EXPECT_EQ(t.sql("SELECT count(*) FROM pending_delivery"), "2");

  // Creating a key that exists (whoever owns it) is a duplicate: not written.
  NotificationState again = makeState("n1", 77);
  NotificationState fresh = makeState("n4", 4);
  NotificationWrites dup = creates({again, fresh});
  dup.deliveries.push_back(delivery(again, Delivery::Kind::kStatusEnd, 1));
  dup.deliveries.push_back(delivery(fresh, Delivery::Kind::kStatusEnd, 1));
  r = b.write(ib, dup);
  EXPECT_EQ(r.duplicates, (std::vector<NotificationKey>{again.spec.id}));
  EXPECT_TRUE(r.lost.empty());
  EXPECT_EQ(b.find(n1.spec.id)->spec.createdAtMs, 1);
  EXPECT_TRUE(b.find(fresh.spec.id).has_value());
  EXPECT_EQ(t.sql("SELECT count(*) FROM pending_delivery WHERE correlator = 'n1'"), "0");
  EXPECT_EQ(t.sql("SELECT count(*) FROM pending_delivery WHERE correlator = 'n4'"), "1");

  // The owner's remove deletes the row and its older outbox rows, then stores this write's.
  NotificationWrites end;
  end.removes.push_back(n3.spec.id);
  end.deliveries.push_back(delivery(n3, Delivery::Kind::kStatusEnd, 20));
  r = b.write(ib, end);
  EXPECT_TRUE(r.lost.empty());
  EXPECT_FALSE(b.find(n3.spec.id).has_value());
  EXPECT_EQ(t.sql("SELECT string_agg(sequence::text, ',') FROM pending_delivery WHERE "
                  "correlator = 'n3'"),
            "20");
  // Several saves of one key in one write: the last counts.
  NotificationWrites twice;
  NotificationState v1 = n1, v2 = n1;
  v1.progress.sent = 1;
  v2.progress.sent = 2;
  twice.saves = {v1, v2};
  EXPECT_TRUE(b.write(ib, twice).lost.empty());
  EXPECT_EQ(b.find(n1.spec.id)->progress.sent, 2u);
  // An address the encoding cannot hold: refused before anything is written.
  NotificationWrites bad;
  NotificationState tab = n1;
  tab.spec.addresses[0].address = "sip:a\tb";
  bad.saves.push_back(tab);
  EXPECT_THROW(b.write(ib, bad), pg::Error);
  EXPECT_EQ(b.find(n1.spec.id)->spec.addresses[0].address, n1.spec.addresses[0].address);
}

void outboxRoundTripsThroughClaim(PgRegistrationsTest& t) {
  PgRegistrations& a = t.store();
  PgRegistrations& b = t.store();
  const std::string ia = t.instance("a"), ib = t.instance("b"), ic = t.instance("c");
  a.registerInstance(ia, "a", 60000);
  const NotificationState full = makeState("full", 1);
  const NotificationState sparse = sparseState("sparse", 2);
  NotificationWrites w = creates({full, sparse});
  w.deliveries = everyDelivery(full);
  Delivery plain = delivery(sparse, Delivery::Kind::kStatusNotification, 0);
  plain.statuses = {{"sip:dave@example.com", TerminalStatus::kReachable}};
  w.deliveries.push_back(plain);
  // Stored in reverse: the claim hands them over in (key, sequence) order all the same.
  std::reverse(w.deliveries.begin(), w.deliveries.end());
  ASSERT_TRUE(a.write(ia, w).duplicates.empty());

  t.lapse(ia);
  b.registerInstance(ib, "b", 60000);
  ClaimedNotifications got = b.claim(ib, 10);
  ASSERT_EQ(got.states.size(), 2u);
  EXPECT_TRUE(got.quarantined.empty());
  expectSame(sparse, got.states[0]);  // requester "" sorts first
  expectSame(full, got.states[1]);
  std::vector<Delivery> want = everyDelivery(full);
  want.insert(want.begin(), plain);  // requester "" first
  ASSERT_EQ(got.outbox.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(i);
    expectSame(want[i], got.outbox[i]);
  }

  // deliveryDone (any instance), then the next owner gets the rest.
  a.deliveryDone(full.spec.id, 2);
  a.deliveryDone(full.spec.id, kBigSequence);
  a.deliveryDone(full.spec.id, 999);  // unknown: nothing happens
  t.lapse(ib);
  b.registerInstance(ic, "c", 60000);
  got = b.claim(ic, 10);
  ASSERT_EQ(got.states.size(), 2u);
  ASSERT_EQ(got.outbox.size(), want.size() - 2);
  for (const Delivery& d : got.outbox) {
    EXPECT_NE(d.sequence, 2u);
    EXPECT_NE(d.sequence, kBigSequence);
  }
}

void takeForEndNotifiesTheOwner(PgRegistrationsTest& t) {
  PgRegistrations& owner = t.store();
  PgRegistrations& other = t.store();
  const std::string io = t.instance("owner"), ix = t.instance("other");
  owner.registerInstance(io, "owner", 60000);
  other.registerInstance(ix, "other", 60000);
  const NotificationState n = makeState("end-me", 1);
  NotificationWrites w = creates({n, sparseState("unowned", 2)});
  w.deliveries.push_back(delivery(n, Delivery::Kind::kStatusEnd, 5));
  ASSERT_TRUE(owner.write(io, w).duplicates.empty());
  owner.release(io, {{"", "unowned"}});
  pg::Conn listen = t.listener();

  EXPECT_FALSE(other.takeForEnd(n.spec.id, "another-api").has_value());
  EXPECT_FALSE(other.takeForEnd({"nobody", "nothing"}, n.spec.api).has_value());
  const std::optional<EndedElsewhere> ended = other.takeForEnd(n.spec.id, n.spec.api);
  ASSERT_TRUE(ended.has_value());
  EXPECT_EQ(ended->owner, io);
  expectSame(n, ended->state);
  EXPECT_FALSE(other.find(n.spec.id).has_value());
  EXPECT_EQ(t.sql("SELECT count(*) FROM pending_delivery"), "0");
  const std::optional<ClusterMessage> m =
      PgRegistrationsTest::await(listen.get(), [&](const ClusterMessage& x) {
        return x.kind == ClusterMessage::Kind::kEnded && x.owner == io;
      });
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->key, n.spec.id);
  // The owner's later save of it is lost.
  EXPECT_EQ(owner.write(io, NotificationWrites{{n}, {}, {}, {}}).lost,
            (std::vector<NotificationKey>{n.spec.id}));

  // Unowned: ended without a message ("ended" always names an owner).
  const std::optional<EndedElsewhere> unowned = other.takeForEnd({"", "unowned"}, "");
  ASSERT_TRUE(unowned.has_value());
  EXPECT_EQ(unowned->owner, "");
  EXPECT_FALSE(PgRegistrationsTest::await(
                   listen.get(),
                   [&](const ClusterMessage& x) {
                     return x.kind == ClusterMessage::Kind::kEnded &&
                            x.key.correlator == "unowned" && x.owner.rfind(t.schema_, 0) == 0;
                   },
                   300ms)
                   .has_value());
}

void callsSaveLoadRemoveAndNotify(PgRegistrationsTest& t) {
  PgRegistrations& s = t.store();
  pg::Conn listen = t.listener();
  auto calls = [](const ClusterMessage& m) { return m.kind == ClusterMessage::Kind::kCalls; };
  call::CallRegistration r1;
  r1.kind = call::RegistrationKind::kNotification;
  r1.requester = "app";
  r1.correlator = "c-1";
  r1.addresses = {"tel:+1555*", "sip:x@y"};
  r1.criteria = call::CallEventSet().with(call::CallEvent::kBusy).with(call::CallEvent::kAnswer);
  r1.endpoint = "http://app/calls";
  r1.interfaceName = "CallNotification";
  r1.ns = "http://www.csapi.org/schema/parlayx/call_notification/v3_3";
  r1.createdMs = 1795536062345;
  r1.order = 2;
  call::CallRegistration r2 = r1;
  r2.kind = call::RegistrationKind::kDirection;
  r2.order = 1;
  r2.criteria = call::CallEventSet::all();
  s.saveCall(r1);
  s.saveCall(r2);
  EXPECT_TRUE(PgRegistrationsTest::await(listen.get(), calls).has_value());
  std::vector<QuarantinedCallRegistration> quarantined;
  std::vector<call::CallRegistration> loaded = s.loadCalls(&quarantined);
  EXPECT_TRUE(quarantined.empty());
  ASSERT_EQ(loaded.size(), 2u);
  EXPECT_EQ(loaded[0].kind, call::RegistrationKind::kDirection);  // start order
  EXPECT_EQ(loaded[1].addresses, r1.addresses);
  EXPECT_EQ(loaded[1].criteria, r1.criteria);
  EXPECT_EQ(loaded[1].ns, r1.ns);
  EXPECT_EQ(loaded[1].createdMs, r1.createdMs);
  EXPECT_EQ(loaded[1].requester, r1.requester);
  EXPECT_EQ(loaded[1].endpoint, r1.endpoint);
  EXPECT_EQ(loaded[1].interfaceName, r1.interfaceName);
  r1.addresses = {"sip:z@y"};
  s.saveCall(r1);  // upsert
  loaded = s.loadCalls(nullptr);
  ASSERT_EQ(loaded.size(), 2u);
  EXPECT_EQ(loaded[1].addresses, r1.addresses);
  call::CallRegistration empty = r1;
  empty.addresses = {"sip:a\nb"};
  EXPECT_THROW(s.saveCall(empty), pg::Error);

  // A row that does not decode: flagged and told once, the others load.
  t.sql("UPDATE call_registration SET criteria = 'Busy,Bogus' WHERE kind = 'direction'");
  loaded = s.loadCalls(&quarantined);
  ASSERT_EQ(loaded.size(), 1u);
  ASSERT_EQ(quarantined.size(), 1u);
  EXPECT_TRUE(quarantined[0].moved);
  EXPECT_EQ(quarantined[0].correlator, "c-1");
  EXPECT_NE(quarantined[0].reason.find("Bogus"), std::string::npos) << quarantined[0].reason;
  quarantined.clear();
  EXPECT_EQ(s.loadCalls(&quarantined).size(), 1u);
  EXPECT_TRUE(quarantined.empty());
  s.saveCall(r2);  // saving it again makes it whole
  EXPECT_EQ(s.loadCalls(&quarantined).size(), 2u);

  while (PgRegistrationsTest::await(listen.get(), calls, 100ms)) {
  }
  s.removeCall(call::RegistrationKind::kNotification, "c-1");
  EXPECT_TRUE(PgRegistrationsTest::await(listen.get(), calls).has_value());
  loaded = s.loadCalls(nullptr);
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded[0].kind, call::RegistrationKind::kDirection);
  s.removeCall(call::RegistrationKind::kNotification, "c-1");  // gone already: no message
  EXPECT_FALSE(PgRegistrationsTest::await(listen.get(), calls, 300ms).has_value());
}

void undecodableRowsAreQuarantinedOnce(PgRegistrationsTest& t) {
  PgRegistrations& s = t.store();
  const std::string old = t.instance("old"), me = t.instance("me");
  s.registerInstance(old, "old", 60000);
  NotificationWrites w = creates({makeState("good-1", 1), makeState("bad", 2),
                                  makeState("good-2", 3), makeState("bad-count", 4)});
  w.deliveries.push_back(delivery(makeState("good-1", 1), Delivery::Kind::kStatusEnd, 1));
  w.deliveries.push_back(delivery(makeState("good-2", 3), Delivery::Kind::kStatusEnd, 1));
  ASSERT_TRUE(s.write(old, w).duplicates.empty());
  t.sql("UPDATE notification SET criteria = 'Busy,Garbage' WHERE correlator = 'bad'");
  t.sql("UPDATE notification SET count_limit = 4294967296 WHERE correlator = 'bad-count'");
  t.sql("UPDATE pending_delivery SET payload = 'x' WHERE correlator = 'good-2'");
  t.lapse(old);
  s.registerInstance(me, "me", 60000);
  // Oldest first with a quota that the bad rows would fill: they do not block the others.
  ClaimedNotifications c = s.claim(me, 2);
  ASSERT_EQ(c.states.size(), 1u);
  EXPECT_EQ(c.states[0].spec.id.correlator, "good-1");
  ASSERT_EQ(c.quarantined.size(), 1u);
  EXPECT_EQ(c.quarantined[0].correlator, "bad");
  EXPECT_NE(c.quarantined[0].reason.find("Garbage"), std::string::npos) << c.quarantined[0].reason;
  c = s.claim(me, 10);
  ASSERT_EQ(c.states.size(), 1u);
  EXPECT_EQ(c.states[0].spec.id.correlator, "good-2");
  ASSERT_EQ(c.quarantined.size(), 2u);  // bad-count, and good-2's pending delivery
  EXPECT_TRUE(c.quarantined[0].moved);
  EXPECT_EQ(c.quarantined[0].correlator, "bad-count");
  EXPECT_NE(c.quarantined[0].reason.find("count_limit"), std::string::npos);
  EXPECT_TRUE(c.quarantined[1].pendingDelivery);
  EXPECT_EQ(c.quarantined[1].correlator, "good-2");
  EXPECT_TRUE(c.outbox.empty());
  c = s.claim(me, 10);  // told once
  EXPECT_TRUE(c.states.empty());
  EXPECT_TRUE(c.quarantined.empty());
  EXPECT_EQ(t.sql("SELECT count(*) FROM notification WHERE quarantined IS NOT NULL AND owner IS "
                  "NULL"),
            "2");
  EXPECT_NE(t.sql("SELECT quarantined FROM notification WHERE correlator = 'bad'").find("Garbage"),
            std::string::npos);
  const ClusterCounts counts = s.counts(me);
  EXPECT_EQ(counts.total, 2);
  EXPECT_EQ(counts.mine, 2);
  EXPECT_EQ(counts.orphans, 0);
  EXPECT_EQ(counts.quarantined, 2);
  EXPECT_EQ(s.list().size(), 2u);
  EXPECT_FALSE(s.find({"app\"{1}\\", "bad"}).has_value());
  EXPECT_FALSE(s.takeForEnd({"app\"{1}\\", "bad"}, makeState("bad", 2).spec.api).has_value());
  // An operator's fix makes it claimable again.
  t.sql("UPDATE notification SET criteria = 'Busy', quarantined = NULL WHERE correlator = 'bad'");
  c = s.claim(me, 10);
  ASSERT_EQ(c.states.size(), 1u);
  EXPECT_EQ(c.states[0].spec.id.correlator, "bad");
}

void largeBatchesAreAHandfulOfStatements(PgRegistrationsTest& t) {
  PgRegistrations& s = t.store();
  const std::string old = t.instance("old"), me = t.instance("me");
  s.registerInstance(old, "old", 60000);
  std::vector<NotificationState> many;
  for (int i = 0; i < 10000; ++i) many.push_back(makeState("m" + std::to_string(i), i));
  NotificationWrites w = creates(many);
  for (const NotificationState& n : many) {
    w.deliveries.push_back(delivery(n, Delivery::Kind::kStatusEnd, 1));
  }
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(s.write(old, w).duplicates.empty());
  t.lapse(old);
  s.registerInstance(me, "me", 60000);
  ClaimedNotifications c = s.claim(me, 20000);
  EXPECT_EQ(c.states.size(), many.size());
  EXPECT_EQ(c.outbox.size(), many.size());
  NotificationWrites saves;
  for (NotificationState& n : c.states) {
    n.progress.sent += 1;
    saves.saves.push_back(n);
  }
  EXPECT_TRUE(s.write(me, saves).lost.empty());
  NotificationWrites removes;
  for (const NotificationState& n : c.states) removes.removes.push_back(n.spec.id);
  EXPECT_TRUE(s.write(me, removes).lost.empty());
  EXPECT_EQ(t.sql("SELECT count(*) FROM notification"), "0");
  EXPECT_EQ(t.sql("SELECT count(*) FROM pending_delivery"), "0");
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  EXPECT_LT(ms, 30000) << "10,000 notifications: create, claim, save, remove";
  std::printf("10,000 notifications created, claimed, saved and removed in %lld ms\n",
              static_cast<long long>(ms));
}

[[maybe_unused]] const bool registered = [] {
  const char* url = std::getenv("PX_TEST_PG_URL");
  if (url == nullptr || *url == '\0') return false;
  const std::pair<const char*, Body> tests[] = {
      {"MigrateTwiceIsANoOpAndANewerVersionIsRefused", &migrateTwiceAndRefuseNewer},
      {"LeasesRegisterRenewLapseAndLeave", &leasesRegisterRenewLapseLeave},
      {"ClaimTakesOrphansUpToQuotaNeverALiveInstancesRows", &claimTakesOrphansUpToQuota},
      {"ConcurrentClaimsNeverTakeTheSameRow", &concurrentClaimsAreDisjoint},
      {"WritesAreFencedByOwner", &writesAreFenced},
      {"OutboxRoundTripsEveryDeliveryThroughClaim", &outboxRoundTripsThroughClaim},
      {"TakeForEndNotifiesTheOwner", &takeForEndNotifiesTheOwner},
      {"CallsSaveLoadRemoveAndNotify", &callsSaveLoadRemoveAndNotify},
      {"UndecodableRowsAreQuarantinedOnceAndDoNotBlockOthers", &undecodableRowsAreQuarantinedOnce},
      {"TenThousandNotificationsInAHandfulOfStatements", &largeBatchesAreAHandfulOfStatements},
  };
  for (const auto& [name, body] : tests) {
    ::testing::RegisterTest("PgRegistrations", name, nullptr, nullptr, __FILE__, __LINE__,
                            [u = std::string(url), b = body]() -> ::testing::Test* {
                              struct T : PgRegistrationsTest {
                                T(std::string s, Body f)
                                    : PgRegistrationsTest(std::move(s)), f_(f) {}
                                void TestBody() override { f_(*this); }
                                Body f_;
                              };
                              return std::make_unique<T>(u, b).release();  // gtest owns it
                            });
  }
  return true;
}();

}  // namespace
}  // namespace px::store

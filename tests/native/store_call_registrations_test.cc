// The call_registrations table of the notification store: round trip through the one writer,
// replace/remove, survival across a restart, quarantine of undecodable rows, and the migration of
// a version 2 file (before Call Notification).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "store/NotificationStore.h"
#include "store/Sqlite.h"
#include "support/TempDir.h"

namespace px {
namespace {

using px::testing::TempDir;

call::CallRegistration registration(call::RegistrationKind kind, const std::string& correlator,
                                    uint64_t order) {
  call::CallRegistration r;
  r.kind = kind;
  r.requester = "app1";
  r.correlator = correlator;
  r.addresses = {"tel:+15551230001", "sip:alice@example.com", "tel:+1555*"};
  r.criteria = call::CallEventSet().with(call::CallEvent::kBusy).with(call::CallEvent::kAnswer);
  r.endpoint = "http://app.example.com/cn/" + correlator;
  r.interfaceName = "CallNotification";
  r.ns = "http://www.csapi.org/schema/parlayx/call_notification/v3_4/local";
  r.createdMs = 1795536062345;
  r.order = order;
  return r;
}

void execRaw(const std::string& path, const char* sql) {
  sqlite::Db db = sqlite::open(path, SQLITE_OPEN_READWRITE);
  sqlite::exec(db.get(), sql);
}

void expectSame(const call::CallRegistration& a, const call::CallRegistration& b) {
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.requester, b.requester);
  EXPECT_EQ(a.correlator, b.correlator);
  EXPECT_EQ(a.addresses, b.addresses);
  EXPECT_EQ(a.criteria, b.criteria);
  EXPECT_EQ(a.endpoint, b.endpoint);
  EXPECT_EQ(a.interfaceName, b.interfaceName);
  EXPECT_EQ(a.ns, b.ns);
  EXPECT_EQ(a.createdMs, b.createdMs);
  EXPECT_EQ(a.order, b.order);
}

TEST(NotificationStoreCalls, RegistrationsSurviveARestartInStartOrder) {
  TempDir dir;
  const std::string path = dir.file("n.db");
  const auto direction = registration(call::RegistrationKind::kDirection, "c", 2);
  const auto notification = registration(call::RegistrationKind::kNotification, "c", 5);
  {
    NotificationStore store(path);
    EXPECT_TRUE(store.loadCallRegistrations().empty());
    bool committed = false;
    store.saveCallRegistration(notification, [&](bool ok, const std::string&) { committed = ok; });
    store.saveCallRegistration(direction);
    store.saveCallRegistration(registration(call::RegistrationKind::kNotification, "gone", 9));
    store.removeCallRegistration(call::RegistrationKind::kNotification, "gone");
    store.flush();
    EXPECT_TRUE(committed);
  }
  NotificationStore store(path);
  const auto loaded = store.loadCallRegistrations();
  ASSERT_EQ(loaded.size(), 2u);
  expectSame(loaded[0], direction);
  expectSame(loaded[1], notification);
  EXPECT_TRUE(store.quarantinedCalls().empty());
}

TEST(NotificationStoreCalls, AnUnstorableRegistrationIsRefusedAtOnce) {
  TempDir dir;
  NotificationStore store(dir.file("n.db"));
  auto bad = registration(call::RegistrationKind::kNotification, "c", 1);
  bad.addresses.push_back("tel:+1\ntel:+2");
  std::string error;
  store.saveCallRegistration(bad, [&](bool ok, const std::string& e) {
    EXPECT_FALSE(ok);
    error = e;
  });
  EXPECT_NE(error.find("line break"), std::string::npos) << error;
}

TEST(NotificationStoreCalls, UndecodableRowsAreQuarantinedNotLoaded) {
  const std::vector<std::string> corruptions = {
      "UPDATE call_registrations SET criteria = 'Busy,Sleepy'",
      "UPDATE call_registrations SET criteria = ''",
      "UPDATE call_registrations SET addresses = 'tel:+1\n'",
      "UPDATE call_registrations SET kind = 'other'",
      "UPDATE call_registrations SET start_order = 'first'",
      "UPDATE call_registrations SET endpoint = x'00ff'",
  };
  for (const std::string& sql : corruptions) {
    SCOPED_TRACE(sql);
    TempDir dir;
    const std::string path = dir.file("n.db");
    {
      NotificationStore store(path);
      store.saveCallRegistration(registration(call::RegistrationKind::kDirection, "broken", 1));
      store.saveCallRegistration(registration(call::RegistrationKind::kDirection, "good", 2));
    }
    execRaw(path, (sql + " WHERE correlator = 'broken'").c_str());
    {
      NotificationStore store(path);
      const auto loaded = store.loadCallRegistrations();
      ASSERT_EQ(loaded.size(), 1u);
      EXPECT_EQ(loaded[0].correlator, "good");
      ASSERT_EQ(store.quarantinedCalls().size(), 1u);
      const QuarantinedCallRegistration& q = store.quarantinedCalls()[0];
      EXPECT_TRUE(q.moved);
      EXPECT_EQ(q.correlator, "broken");
      EXPECT_NE(q.reason.find(path), std::string::npos) << q.reason;
      EXPECT_NE(q.reason.find("cannot be decoded"), std::string::npos) << q.reason;
    }
    sqlite::Db db = sqlite::open(path, SQLITE_OPEN_READONLY);
    EXPECT_EQ(sqlite::queryInt(db.get(), "SELECT count(*) FROM quarantined_call_registrations"), 1);
    NotificationStore again(path);
    EXPECT_EQ(again.loadCallRegistrations().size(), 1u);
    EXPECT_TRUE(again.quarantinedCalls().empty());
  }
}

// A version 2 file (Terminal Status only) gains the table; its notifications stay.
TEST(NotificationStoreCalls, MigratesAVersion2File) {
  TempDir dir;
  const std::string path = dir.file("n.db");
  { NotificationStore store(path); }
  execRaw(path, "DROP TABLE call_registrations; PRAGMA user_version = 2");
  {
    NotificationStore store(path);
    EXPECT_TRUE(store.loadAll().empty());
    EXPECT_TRUE(store.loadCallRegistrations().empty());
    store.saveCallRegistration(registration(call::RegistrationKind::kNotification, "c", 1));
  }
  sqlite::Db db = sqlite::open(path, SQLITE_OPEN_READONLY);
  EXPECT_EQ(sqlite::queryInt(db.get(), "PRAGMA user_version"), 4);  // and on to the current version
  EXPECT_EQ(sqlite::queryInt(db.get(), "SELECT count(*) FROM call_registrations"), 1);
}

TEST(NotificationStoreCalls, RefusesAnAlteredCallTable) {
  TempDir dir;
  const std::string path = dir.file("n.db");
  { NotificationStore store(path); }
  execRaw(path, "ALTER TABLE call_registrations ADD COLUMN extra TEXT");
  try {
    NotificationStore store(path);
    FAIL() << "opened";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("call_registrations"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace px

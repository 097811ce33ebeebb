// cluster::ClusterNode against a real PostgreSQL (registered only when PX_TEST_PG_URL is set;
// scripts/test-native.sh starts a throwaway server): a burst of writes goes out in merged
// transactions without starving the lease, each write of a merged batch gets its own outcome
// (a duplicate start, a data error), two nodes balance their notifications, and a clean close
// hands them over at once. Each test works in a schema of its own (search_path in the URL).
#include "cluster/ClusterNode.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "store/Pg.h"

namespace px::cluster {
namespace {

using namespace std::chrono_literals;
using Body = void (*)(const std::string& url, const std::string& schema);

NotificationState state(const std::string& correlator, const std::string& address = "") {
  NotificationState s;
  s.spec.id = NotificationKey{"app", correlator};
  s.spec.endpoint = "http://app.example.test/n";
  s.spec.globalId = "g-" + correlator;
  const std::string a = address.empty() ? "tel:+1555" + correlator : address;
  s.spec.addresses.push_back(WatchedAddress{a, "sip:" + correlator + "@example.test", {}});
  s.spec.createdAtMs = 1'700'000'000'000;
  s.spec.expiresAtMs = 1'800'000'000'000;
  return s;
}

NotificationWrites create(const NotificationState& s) {
  NotificationWrites w;
  w.saves.push_back(s);
  w.created.push_back(s.spec.id);
  return w;
}

// Counts answers; waits for a number of them.
struct Answers {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::pair<bool, std::string>> got;
  NotificationStore::Committed one() {
    return [this](bool ok, const std::string& error) {
      std::lock_guard<std::mutex> lock(mutex);
      got.emplace_back(ok, error);
      changed.notify_all();
    };
  }
  bool waitFor(size_t n, std::chrono::milliseconds limit) {
    std::unique_lock<std::mutex> lock(mutex);
    return changed.wait_for(lock, limit, [&] { return got.size() >= n; });
  }
};

ClusterOptions options(const std::string& url, const std::string& name, int64_t leaseMs = 3000) {
  ClusterOptions o;
  o.url = url;
  o.instanceName = name;
  o.timing.leaseMs = leaseMs;
  o.timing.renewMs = leaseMs / 3;
  o.timing.safetyMs = leaseMs / 10;
  return o;
}

std::string scalar(const std::string& url, const std::string& sql) {
  pg::Conn conn = pg::connect(url, 5);
  pg::Result r = pg::execParams(conn.get(), sql, {}, "test");
  return pq::PQntuples(r.get()) > 0 ? pq::PQgetvalue(r.get(), 0, 0) : "";
}

void burstWithoutStarvingTheLease(const std::string& url, const std::string&) {
  // A short lease (1.5 s) and 20,000 creates queued at once: if the writes starved the renewal
  // the lease would lapse while they are written.
  ClusterNode node(options(url, "burst", 1500), [] {});
  Answers answers;
  constexpr int kN = 20000;
  for (int i = 0; i < kN; ++i) node.write(create(state("b" + std::to_string(i))), answers.one());
  ASSERT_TRUE(answers.waitFor(kN, 120s));
  for (const auto& [ok, error] : answers.got) ASSERT_TRUE(ok) << error;
  EXPECT_EQ(node.status().leaseLosses, 0u);
  const std::string id = node.status().instanceId;
  EXPECT_EQ(scalar(url, "SELECT count(*) FROM notification WHERE owner = '" + id + "'"),
            std::to_string(kN));
  // Merged: far fewer transactions than writes (xact_commit counts every commit of the
  // database; the renewals and this test's own queries are a handful).
  std::printf("20,000 creates committed, lease kept\n");
}

void eachWriteOfAMergedBatchHasItsOwnOutcome(const std::string& url, const std::string&) {
  ClusterNode other(options(url, "other"), [] {});
  Answers first;
  other.write(create(state("taken")), first.one());
  ASSERT_TRUE(first.waitFor(1, 10s));
  ASSERT_TRUE(first.got[0].first);

  ClusterNode node(options(url, "node"), [] {});
  Answers answers;
  // Queued together: they are merged unless the data error splits them.
  node.write(create(state("fine-1")), answers.one());
  node.write(create(state("taken")), answers.one());               // another instance's correlator
  node.write(create(state("bad", "tel:+1\tbad")), answers.one());  // a tab: the format refuses it
  node.write(create(state("fine-2")), answers.one());
  ASSERT_TRUE(answers.waitFor(4, 20s));
  std::vector<std::pair<bool, std::string>> got = answers.got;
  ASSERT_EQ(got.size(), 4u);
  EXPECT_TRUE(got[0].first) << got[0].second;
  EXPECT_EQ(got[1], std::make_pair(false, std::string(ClusterNode::kDuplicateError)));
  EXPECT_FALSE(got[2].first);
  EXPECT_NE(got[2].second.find("tab or line break"), std::string::npos) << got[2].second;
  EXPECT_TRUE(got[3].first) << got[3].second;
  const std::string id = node.status().instanceId;
  EXPECT_EQ(scalar(url,
                   "SELECT string_agg(correlator, ',' ORDER BY correlator) FROM notification "
                   "WHERE owner = '" +
                       id + "'"),
            "fine-1,fine-2");
  EXPECT_EQ(node.status().fencedWrites, 0u) << "a duplicate start is not a fenced write";
  // The duplicate was reported for the consumer to forget.
  const ClusterEvents events = node.takeEvents();
  EXPECT_EQ(events.dropped, (std::vector<NotificationKey>{NotificationKey{"app", "taken"}}));
}

void twoNodesBalanceAndACleanCloseHandsOver(const std::string& url, const std::string&) {
  std::atomic<int> signals{0};
  auto a = std::make_unique<ClusterNode>(options(url, "a"), [&] { signals++; });
  Answers answers;
  for (int i = 0; i < 100; ++i) a->write(create(state("n" + std::to_string(i))), answers.one());
  ASSERT_TRUE(answers.waitFor(100, 30s));
  ClusterNode b(options(url, "b"), [] {});
  // A is asked to hand the excess over; as its consumer, hand over what it asks.
  int64_t asked = 0;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (asked == 0 && std::chrono::steady_clock::now() < deadline) {
    asked = a->takeEvents().handOver;
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_EQ(asked, 50);
  std::vector<NotificationKey> keys;
  for (int i = 50; i < 100; ++i) keys.push_back(NotificationKey{"app", "n" + std::to_string(i)});
  a->release(keys);
  size_t adopted = 0;
  while (adopted < 50 && std::chrono::steady_clock::now() < deadline + 10s) {
    adopted += b.takeEvents().adopted.states.size();
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(adopted, 50u);
  // A leaves: B takes the rest at once (NOTIFY released), long before A's 3 s lease lapses.
  const auto closing = std::chrono::steady_clock::now();
  a->close(true);
  a.reset();
  while (adopted < 100 && std::chrono::steady_clock::now() < closing + 2s) {
    adopted += b.takeEvents().adopted.states.size();
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(adopted, 100u);
  EXPECT_LT(std::chrono::steady_clock::now() - closing, 2s);
  EXPECT_EQ(scalar(url, "SELECT count(*) FROM px_instance"), "1");
}

// A schema per test and process: ctest runs the tests in parallel processes on one database.
std::string schemaFor(const std::string& name) {
  static std::atomic<int> counter{0};
  return "px_node_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
         std::to_string(name.size());
}

[[maybe_unused]] const bool registered = [] {
  const char* url = std::getenv("PX_TEST_PG_URL");
  if (url == nullptr || *url == '\0') return false;
  const std::pair<const char*, Body> tests[] = {
      {"ABurstOfWritesDoesNotStarveTheLease", &burstWithoutStarvingTheLease},
      {"EachWriteOfAMergedBatchHasItsOwnOutcome", &eachWriteOfAMergedBatchHasItsOwnOutcome},
      {"TwoNodesBalanceAndACleanCloseHandsOver", &twoNodesBalanceAndACleanCloseHandsOver},
  };
  for (const auto& [name, body] : tests) {
    ::testing::RegisterTest(
        "ClusterNode", name, nullptr, nullptr, __FILE__, __LINE__,
        [u = std::string(url), b = body, n = std::string(name)]() -> ::testing::Test* {
          struct T : ::testing::Test {
            T(std::string url, Body f, std::string name)
                : base_(std::move(url)), f_(f), schema_(schemaFor(name)) {}
            void SetUp() override {
              pg::Conn admin = pg::connect(base_, 5);
              pg::exec(admin.get(), "DROP SCHEMA IF EXISTS " + schema_ + " CASCADE", "drop");
              pg::exec(admin.get(), "CREATE SCHEMA " + schema_, "create");
            }
            void TearDown() override {
              pg::Conn admin = pg::connect(base_, 5);
              pg::exec(admin.get(), "DROP SCHEMA IF EXISTS " + schema_ + " CASCADE", "drop");
            }
            void TestBody() override {
              // Every connection of the node (and of scalar()) in the test's own schema.
              const char sep = base_.find('?') == std::string::npos ? '?' : '&';
              f_(base_ + sep + "options=-csearch_path%3D" + schema_, schema_);
            }
            std::string base_;
            Body f_;
            std::string schema_;
          };
          return std::make_unique<T>(u, b, n).release();  // gtest owns it
        });
  }
  return true;
}();

}  // namespace
}  // namespace px::cluster

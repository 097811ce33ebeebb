// libpq is loaded lazily (store/LibPq.h): a gateway on SQLite never maps libpq.so.5, and a
// missing libpq is a clear error where PostgreSQL is first needed. This binary (store_test) does
// not link libpq, so whatever libpq mapping the process has came from pq::api().
#include "store/LibPq.h"

#include <gtest/gtest.h>

#include <fstream>
#include <future>
#include <string>

#include "store/UsageRecorder.h"
#include "support/TempDir.h"
#include "usage/UtcTime.h"

namespace px {
namespace {

bool libpqMapped() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find("/libpq.so") != std::string::npos) return true;
  }
  return false;
}

TEST(LazyLibpq, SqliteUsageStoreNeverLoadsLibpq) {
  // ctest runs every test in a process of its own; a whole-binary run with PX_TEST_PG_URL may
  // have loaded libpq in an earlier PostgreSQL test of this process: then this cannot tell.
  ASSERT_FALSE(pq::loadAttempted())
      << "an earlier test of this process used PostgreSQL: run this one alone (as ctest does)";
  ASSERT_FALSE(libpqMapped()) << "libpq is mapped although nothing used PostgreSQL";

  px::testing::TempDir dir;
  GatewayConfig config;  // store.backend: sqlite (the default)
  config.usage.database = dir.file("usage.db");
  UsageRecorder recorder(config);
  UsageEntry e;
  e.globalId = "g-1";
  e.eventType = "getStatus";
  e.recordTimeMs = 1795536062345;
  e.attributes = {{"REQUESTER", "app1"},
                  {"RESPONSE_TIME", "3"},
                  {"START_TIME", formatUtcTime(e.recordTimeMs)},
                  {"SERVICE", "PX_TS_SIP"},
                  {"TARGET", "tel:+15551234567"}};
  std::promise<bool> committed;
  ASSERT_TRUE(
      recorder.record({e}, [&](bool ok, const std::string&) { committed.set_value(ok); }).accepted);
  ASSERT_TRUE(committed.get_future().get());
  EXPECT_EQ(recorder.query(UsageQuery{}).records.size(), 1u);
  EXPECT_STREQ(recorder.backend(), "sqlite");
  recorder.close();

  EXPECT_FALSE(pq::loadAttempted());
  EXPECT_FALSE(libpqMapped());
}

TEST(LazyLibpq, MissingLibraryIsAClearError) {
  pq::Api api;
  const std::string error = pq::detail::load("libpq-px-missing.so.5", api);
  EXPECT_EQ(error.rfind("store.backend: postgresql needs libpq-px-missing.so.5 (Debian package "
                        "libpq5): libpq-px-missing.so.5: cannot open shared object file",
                        0),
            0u)
      << error;
  EXPECT_EQ(api.PQexec, nullptr);
}

}  // namespace
}  // namespace px

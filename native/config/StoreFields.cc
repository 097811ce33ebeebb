// store.*: where the usage records go (config/StoreConfig.h).
#include "config/SectionFields.h"

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <stdexcept>
#include <string_view>
#include <utility>
#include "common/Ascii.h"
#include "config/ConfigValues.h"
#include "config/OutboundConfigReader.h"
#include "config/RequesterConfigReader.h"
#include "config/TextSyntax.h"

#include "config/FieldBuilders.h"

namespace px::config {

using namespace schema;

// store.*: where the usage records go (config/StoreConfig.h).
void addStoreFields(std::vector<ConfigField>& f) {
  {
    ConfigField backend{"store.backend", FieldType::kEnum,
                        "Database of the usage records: sqlite (usage.database) or postgresql "
                        "(store.url).",
                        std::monostate{}};
    backend.values = {"sqlite", "postgresql"};
    backend.read = [](const FieldInput& in, GatewayConfig& c) {
      const std::string name = in.at.node.IsScalar() ? in.at.node.Scalar() : "";
      if (name != "sqlite" && name != "postgresql") {
        in.yaml.fail(in.at, "expected 'sqlite' or 'postgresql', got " + quote(name));
      }
      c.store.backend = name == "postgresql" ? StoreBackend::kPostgresql : StoreBackend::kSqlite;
    };
    backend.value = [](const GatewayConfig& c) -> FieldValue {
      return std::string(c.store.backend == StoreBackend::kPostgresql ? "postgresql" : "sqlite");
    };
    f.push_back(backend);
  }
  {
    ConfigField url{"store.url", FieldType::kString,
                    "libpq connection URI or string of the PostgreSQL database; required for "
                    "postgresql.",
                    PX_CONFIG_MEMBER(store.url)};
    url.readWhenAbsent = true;
    url.read = [](const FieldInput& in, GatewayConfig& c) {
      if (in.present) {
        const std::string value = in.yaml.text(in.at);
        if (value.size() > 4096 || hasControl(value)) {
          in.yaml.fail(in.at,
                       "expected a connection string of at most 4096 characters without "
                       "control characters");
        }
        c.store.url = value;
      }
      if (c.store.backend == StoreBackend::kPostgresql && c.store.url.empty()) {
        in.yaml.fail(in.present ? in.at : in.siblings.at("backend"),
                     "store.url is required when store.backend is postgresql");
      }
    };
    f.push_back(url);
  }
  {
    ConfigField spool{"store.spool", FieldType::kString,
                      "postgresql, batched: SQLite file of the rows spooled while PostgreSQL is "
                      "unreachable, relative to the config file.",
                      PX_CONFIG_MEMBER(store.spool)};
    spool.readWhenAbsent = true;
    spool.read = [](const FieldInput& in, GatewayConfig& c) {
      c.store.spool =
          in.yaml.resolvePath(in.at, in.present ? in.yaml.filePath(in.at) : c.store.spool);
    };
    f.push_back(spool);
  }
  f.push_back(integer("store.spoolCapacity", PX_CONFIG_MEMBER(store.spoolCapacity), 1000, 100000000,
                      "Most rows in the spool; beyond, batched appends fail (counted)."));
  f.push_back(integer("store.connectTimeoutSec", PX_CONFIG_MEMBER(store.connectTimeoutSec), 2, 60,
                      "Longest wait for a PostgreSQL connection, in seconds."));
  f.push_back(
      integer("store.reconnectBackoffMs", PX_CONFIG_MEMBER(store.reconnectBackoffMs), 10, 60000,
              "First delay before reconnecting to PostgreSQL, doubled per failure, in ms."));
  f.push_back(then(integer("store.reconnectBackoffMaxMs",
                           PX_CONFIG_MEMBER(store.reconnectBackoffMaxMs), 10, 600000,
                           "Longest delay between reconnection attempts, in ms; at least "
                           "reconnectBackoffMs."),
                   [](const FieldInput& in, GatewayConfig& c) {
                     notBelow(in, c.store.reconnectBackoffMaxMs, c.store.reconnectBackoffMs,
                              "reconnectBackoffMs",
                              "reconnectBackoffMaxMs must not be smaller than reconnectBackoffMs");
                   }));
  // The clustered service (docs/cluster.md).
  f.push_back(text("store.instanceName", PX_CONFIG_MEMBER(store.instanceName), &optionalLabel127,
                   "postgresql: this instance's name for operators (admin page, logs); "
                   "\"\" = host:pid. Its lease id is unique per start whatever the name."));
  f.push_back(integer("store.leaseMs", PX_CONFIG_MEMBER(store.leaseMs), 1000, 600000,
                      "postgresql: how long an instance owns its notifications without renewing "
                      "(database clock); others take them over after it lapsed, in ms."));
  f.push_back(then(integer("store.renewMs", PX_CONFIG_MEMBER(store.renewMs), 100, 300000,
                           "postgresql: how often the lease is renewed, in ms; at most leaseMs / "
                           "2; default leaseMs / 3."),
                   [](const FieldInput& in, GatewayConfig& c) {
                     if (!in.present) c.store.renewMs = c.store.leaseMs / 3;
                     if (c.store.renewMs * 2 > c.store.leaseMs) {
                       in.yaml.fail(in.present ? in.at : in.siblings.at("leaseMs"),
                                    "renewMs must be at most half of leaseMs");
                     }
                   }));
  f.push_back(then(integer("store.leaseSafetyMs", PX_CONFIG_MEMBER(store.leaseSafetyMs), 0, 60000,
                           "postgresql: the instance stops watching this much before its lease "
                           "ends in the database, in ms; below leaseMs - renewMs; default "
                           "leaseMs / 10, at most 1000."),
                   [](const FieldInput& in, GatewayConfig& c) {
                     if (!in.present)
                       c.store.leaseSafetyMs = std::min<uint32_t>(1000, c.store.leaseMs / 10);
                     if (c.store.leaseSafetyMs >= c.store.leaseMs - c.store.renewMs) {
                       in.yaml.fail(in.present ? in.at : in.siblings.at("leaseMs"),
                                    "leaseSafetyMs must be below leaseMs - renewMs");
                     }
                   }));
  f.push_back(boolean("store.balance", PX_CONFIG_MEMBER(store.balance),
                      "postgresql: share the notifications evenly between live instances "
                      "(an instance above its share hands the excess over)."));
}

}  // namespace px::config

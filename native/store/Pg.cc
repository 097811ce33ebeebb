#include "store/Pg.h"

#include <cstdlib>
#include <cstring>
#include <utility>

namespace px::pg {
namespace {

std::string trimmed(const char* message) {
  std::string text = message != nullptr ? message : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

bool lostState(const std::string& state) {
  return state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0 || state.rfind("53", 0) == 0;
}

}  // namespace

Conn connect(const std::string& url, unsigned connectTimeoutSec) {
  const std::string timeout = std::to_string(connectTimeoutSec);
  // Before dbname: with expand_dbname, what the URL itself says overrides these defaults.
  // Keepalives and tcp_user_timeout: a database host that vanishes without closing the
  // connection (power loss, partition) fails a write within seconds instead of the kernel's
  // minutes, so durable requests fail with SVC0001 and leases are seen lost in time.
  const char* keys[] = {"connect_timeout",
                        "application_name",
                        "keepalives",
                        "keepalives_idle",
                        "keepalives_interval",
                        "keepalives_count",
                        "tcp_user_timeout",
                        "dbname",
                        nullptr};
  const char* values[] = {timeout.c_str(), "parlayx-gateway", "1",    "10", "3", "3",
                          "10000",         url.c_str(),       nullptr};
  Conn conn(pq::PQconnectdbParams(keys, values, 1));
  if (!conn) throw Error("PostgreSQL: out of memory for a connection", true);
  if (pq::PQstatus(conn.get()) != CONNECTION_OK) {
    throw Error("PostgreSQL connection failed: " + trimmed(pq::PQerrorMessage(conn.get())), true);
  }
  // The server's NOTICEs (e.g. "relation ... already exists, skipping") are not errors: libpq
  // would print them on stderr.
  pq::PQsetNoticeProcessor(
      conn.get(), [](void*, const char*) {}, nullptr);
  return conn;
}

Result check(PGconn* conn, Result result, const char* what) {
  const ExecStatusType status = result ? pq::PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_COPY_IN) {
    return result;
  }
  std::string state;
  std::string message;
  if (result) {
    const char* s = pq::PQresultErrorField(result.get(), PG_DIAG_SQLSTATE);
    if (s != nullptr) state = s;
    message = trimmed(pq::PQresultErrorMessage(result.get()));
  }
  if (message.empty()) message = trimmed(pq::PQerrorMessage(conn));
  const bool lost = pq::PQstatus(conn) != CONNECTION_OK || lostState(state) || state.empty();
  throw Error(std::string(what) + ": " + message, lost, state);
}

void exec(PGconn* conn, const std::string& sql, const char* what) {
  check(conn, Result(pq::PQexec(conn, sql.c_str())), what);
}

Result execParams(PGconn* conn, const std::string& sql, const std::vector<const char*>& values,
                  const char* what) {
  return check(conn,
               Result(pq::PQexecParams(conn, sql.c_str(), static_cast<int>(values.size()), nullptr,
                                       values.data(), nullptr, nullptr, 0)),
               what);
}

Result execPrepared(PGconn* conn, const char* name, const std::vector<const char*>& values,
                    const char* what) {
  return check(conn,
               Result(pq::PQexecPrepared(conn, name, static_cast<int>(values.size()), values.data(),
                                         nullptr, nullptr, 0)),
               what);
}

void appendArrayElement(std::string& out, const char* value, size_t length) {
  out.push_back('"');
  for (size_t i = 0; i < length; ++i) {
    const char c = value[i];
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
}

std::string describe(const std::string& url) {
  struct OptionsFree {
    void operator()(PQconninfoOption* options) const noexcept { pq::PQconninfoFree(options); }
  };
  char* error = nullptr;
  std::unique_ptr<PQconninfoOption, OptionsFree> options(pq::PQconninfoParse(url.c_str(), &error));
  if (error != nullptr) pq::PQfreemem(error);
  if (!options) return "(unparsable connection string)";
  std::string text;
  for (const PQconninfoOption* o = options.get(); o->keyword != nullptr; ++o) {
    const std::string key = o->keyword;
    if (o->val == nullptr || *o->val == '\0') continue;
    if (key == "host" || key == "hostaddr" || key == "port" || key == "dbname" || key == "user") {
      text += (text.empty() ? "" : " ") + key + "=" + o->val;
    }
  }
  return text.empty() ? "(libpq defaults)" : text;
}

void migrateComponent(PGconn* conn, const std::string& component, const char* const* migrations,
                      int count) {
  // Any 64-bit number of our own: one lock for every component's migrations.
  Transaction tx(conn, "SELECT pg_advisory_xact_lock(7201701701)");
  exec(conn,
       "CREATE TABLE IF NOT EXISTS schema_version (component text PRIMARY KEY, version integer "
       "NOT NULL, migrated_at timestamptz NOT NULL DEFAULT now())",
       "schema_version");
  Result found = execParams(conn, "SELECT version FROM schema_version WHERE component = $1",
                            {component.c_str()}, "schema version");
  int version = pq::PQntuples(found.get()) > 0 ? std::atoi(pq::PQgetvalue(found.get(), 0, 0)) : 0;
  if (version > count) {
    throw Error(component + " schema version " + std::to_string(version) +
                    " is newer than this gateway's (" + std::to_string(count) + ")",
                false);
  }
  for (; version < count; ++version) {
    exec(conn, migrations[version], "migration");
    const std::string next = std::to_string(version + 1);
    execParams(conn,
               "INSERT INTO schema_version (component, version) VALUES ($1, $2) ON CONFLICT "
               "(component) DO UPDATE SET version = EXCLUDED.version, migrated_at = now()",
               {component.c_str(), next.c_str()}, "schema version");
  }
  tx.commit();
}

}  // namespace px::pg

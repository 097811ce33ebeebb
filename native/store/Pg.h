// Thin RAII layer over libpq: owning handles for connections and results (no PGconn or PGresult
// is ever released by hand), and the few helpers the PostgreSQL stores share. libpq is loaded on
// first use (store/LibPq.h): connect() and describe() throw pq::LoadError when it is missing.
#pragma once

#include "store/LibPq.h"

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace px::pg {

// noexcept: a PGconn or PGresult exists only once libpq is loaded, so pq:: cannot throw here.
struct ConnCloser {
  void operator()(PGconn* conn) const noexcept { pq::PQfinish(conn); }
};
struct ResultClear {
  void operator()(PGresult* result) const noexcept { pq::PQclear(result); }
};

using Conn = std::unique_ptr<PGconn, ConnCloser>;
using Result = std::unique_ptr<PGresult, ResultClear>;

// A failed libpq call. connectionLost: the connection is gone (or never came up), as opposed to
// the server refusing the statement itself (SQLSTATE in sqlState()).
class Error : public std::runtime_error {
 public:
  Error(const std::string& message, bool connectionLost, std::string sqlState = {})
      : std::runtime_error(message),
        connectionLost_(connectionLost),
        sqlState_(std::move(sqlState)) {}
  bool connectionLost() const { return connectionLost_; }
  const std::string& sqlState() const { return sqlState_; }

 private:
  bool connectionLost_;
  std::string sqlState_;
};

// Connects (blocking, libpq's connect_timeout from connectTimeoutSec); throws Error(connection
// lost) with libpq's message. application_name is set to "parlayx-gateway".
Conn connect(const std::string& url, unsigned connectTimeoutSec);

// Checks a result: PGRES_COMMAND_OK, PGRES_TUPLES_OK or PGRES_COPY_IN (a COPY FROM STDIN begun),
// else throws Error with the server's message, connectionLost when the connection is bad afterwards
// or the SQLSTATE is of class 08 (connection exception), 57P (operator intervention: shutdown) or
// 53 (insufficient resources).
Result check(PGconn* conn, Result result, const char* what);

// Runs SQL without parameters (may hold several statements); throws Error.
void exec(PGconn* conn, const std::string& sql, const char* what);

// Runs a prepared or ad-hoc statement with text parameters; throws Error. nullptr values = NULL.
Result execParams(PGconn* conn, const std::string& sql, const std::vector<const char*>& values,
                  const char* what);
Result execPrepared(PGconn* conn, const char* name, const std::vector<const char*>& values,
                    const char* what);

// Appends `value` to `out` as one element of a PostgreSQL text array literal ("..." with '\'
// and '"' escaped); the caller writes the braces and commas.
void appendArrayElement(std::string& out, const char* value, size_t length);

// BEGIN ... COMMIT; rolled back when the scope ends without commit() (an exception).
class Transaction {
 public:
  // first: statements without parameters sent with BEGIN, in the same round trip.
  explicit Transaction(PGconn* conn, const char* first = nullptr) : conn_(conn) {
    exec(conn_, first != nullptr ? std::string("BEGIN; ") + first : std::string("BEGIN"), "begin");
  }
  ~Transaction() {
    if (!done_) Result ignored(pq::PQexec(conn_, "ROLLBACK"));  // a lost connection: no matter
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit() {
    done_ = true;  // a failed COMMIT has ended the transaction too
    exec(conn_, "COMMIT", "commit");
  }

 private:
  PGconn* conn_;
  bool done_ = false;
};

// Runs the versioned migrations of one schema component (a row of schema_version): migration
// n (1-based) takes it from version n-1 to n, in one transaction under an advisory lock shared
// by every component, so that instances starting together migrate once. Throws Error for a
// database whose version of the component is newer than `count`.
void migrateComponent(PGconn* conn, const std::string& component, const char* const* migrations,
                      int count);

// A connection string or URI without its password, for messages: "host=... port=... dbname=...
// user=..." (what it names of those).
std::string describe(const std::string& url);

}  // namespace px::pg

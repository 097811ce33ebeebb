// The SQL of the clustered registrations store (PgRegistrations.cc): its versioned migrations
// and its prepared statements, one table of text, apart from the code that runs them.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace px::store::registrations_sql {

// Migration n (1-based) takes the schema component 'registrations' from version n-1 to n.
extern const char* const kMigrations[];
extern const int kVersion;

// A statement's name and text; prepared once per connection (PgRegistrations::prepare()).
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

// Every statement, indexed by Sql.
const std::vector<Statement>& statements();
const char* name(Sql stmt);

}  // namespace px::store::registrations_sql

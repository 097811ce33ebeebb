// libpq, loaded on first use: the gateway needs it only with store.backend: postgresql, so an
// SQLite-only gateway never maps libpq.so.5 and its ~18 dependent libraries (libssl, libcrypto,
// gssapi_krb5, ldap, ...), which would cost every require() of the addon a few milliseconds.
//
// <libpq-fe.h> is still included for its types (PGconn, PGresult, ExecStatusType, ...), but no
// code may reference libpq's functions directly: call px::pq::PQxxx(...), the forwarders below,
// with the same names and arguments. They resolve through a table of function pointers that the
// first call fills from dlopen("libpq.so.5"); the addon and the test binaries do not link libpq.
#pragma once

#include <libpq-fe.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace px::pq {

// Every libpq function the gateway (and its tests) call. A new one: add it here, then call it as
// pq::PQname(...).
#define PX_LIBPQ_FUNCTIONS(X) \
  X(PQclear)                  \
  X(PQcmdTuples)              \
  X(PQconnectdbParams)        \
  X(PQconninfoFree)           \
  X(PQconninfoParse)          \
  X(PQconsumeInput)           \
  X(PQerrorMessage)           \
  X(PQexec)                   \
  X(PQexecParams)             \
  X(PQexecPrepared)           \
  X(PQfinish)                 \
  X(PQfname)                  \
  X(PQfreemem)                \
  X(PQgetisnull)              \
  X(PQgetlength)              \
  X(PQgetResult)              \
  X(PQgetvalue)               \
  X(PQnotifies)               \
  X(PQntuples)                \
  X(PQprepare)                \
  X(PQputCopyData)            \
  X(PQputCopyEnd)             \
  X(PQresultErrorField)       \
  X(PQresultErrorMessage)     \
  X(PQresultStatus)           \
  X(PQsendQueryParams)        \
  X(PQsetNoticeProcessor)     \
  X(PQsocket)                 \
  X(PQstatus)

// The resolved functions. decltype(&::PQxxx) only names the type: no reference to the symbol.
struct Api {
#define PX_LIBPQ_MEMBER(name) decltype(&::name) name = nullptr;
  PX_LIBPQ_FUNCTIONS(PX_LIBPQ_MEMBER)
#undef PX_LIBPQ_MEMBER
};

// libpq.so.5 could not be loaded (not installed, or lacking a function). Not a pg::Error: no
// reconnection can help, so it is not retried as a lost connection would be.
class LoadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The table, loaded on the first call: thread-safe, once per process (a function-local static,
// immutable afterwards). Throws LoadError, with dlerror()'s reason, on this call and every later
// one when libpq cannot be loaded; the process goes on (the SQLite paths never come here).
const Api& api();

// Whether api() has been called in this process (whether or not the load succeeded); for tests.
bool loadAttempted() noexcept;

namespace detail {
// Opens `soname` and resolves every function of PX_LIBPQ_FUNCTIONS into `out`; returns "" or
// the error message ("store.backend: postgresql needs <soname> (Debian package libpq5): ...").
// The handle is kept open on success and closed on failure. api() calls it with "libpq.so.5";
// tests with a missing name for the error path.
std::string load(const char* soname, Api& out);
}  // namespace detail

// pq::PQxxx(args...) = libpq's PQxxx(args...), through api().
#define PX_LIBPQ_FORWARD(name)                      \
  template <typename... Args>                       \
  inline decltype(auto) name(Args&&... args) {      \
    return api().name(std::forward<Args>(args)...); \
  }
PX_LIBPQ_FUNCTIONS(PX_LIBPQ_FORWARD)
#undef PX_LIBPQ_FORWARD

}  // namespace px::pq

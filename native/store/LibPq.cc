#include "store/LibPq.h"

#include <dlfcn.h>

#include <atomic>

namespace px::pq {
namespace {

constexpr const char* kSoname = "libpq.so.5";

std::atomic<bool> attempted{false};

struct Loaded {
  Api api;
  std::string error;  // empty: loaded
};

const Loaded& loaded() {
  // Process-wide, but not mutable state: initialised once (C++11 guarantees thread-safe
  // initialisation of a function-local static; concurrent first callers wait for it) and only
  // read afterwards. A failed load is remembered as well, so it is not retried on every call.
  static const Loaded instance = [] {
    attempted.store(true, std::memory_order_relaxed);
    Loaded l;
    l.error = detail::load(kSoname, l.api);
    return l;
  }();
  return instance;
}

}  // namespace

namespace detail {

std::string load(const char* soname, Api& out) {
  const std::string prefix =
      std::string("store.backend: postgresql needs ") + soname + " (Debian package libpq5): ";
  // RTLD_NOW: libpq's own references (libssl, ...) are bound now, so a broken installation
  // fails here, not in some later call; a function of ours it lacks fails at dlsym below.
  // RTLD_LOCAL: its symbols are for this table only.
  void* handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* reason = dlerror();
    return prefix + (reason != nullptr ? reason : "dlopen failed");
  }
  Api api;
  std::string error;
  // The casts from void*: POSIX guarantees that dlsym's result converts to a function pointer.
#define PX_LIBPQ_RESOLVE(name)                                            \
  if (error.empty()) {                                                    \
    dlerror();                                                            \
    void* symbol = dlsym(handle, #name);                                  \
    if (symbol == nullptr) {                                              \
      const char* reason = dlerror();                                     \
      error = prefix + (reason != nullptr ? reason : "no symbol " #name); \
    } else {                                                              \
      api.name = reinterpret_cast<decltype(api.name)>(symbol);            \
    }                                                                     \
  }
  PX_LIBPQ_FUNCTIONS(PX_LIBPQ_RESOLVE)
#undef PX_LIBPQ_RESOLVE
  if (!error.empty()) {
    dlclose(handle);  // nothing of it is in use yet
    return error;
  }
  // On success the handle is never closed: libpq keeps no per-process state that would need
  // freeing at exit, and unloading it while connections (or results) may still exist on other
  // threads, or in static destructors running late, would leave them calling unmapped code.
  out = api;
  return {};
}

}  // namespace detail

const Api& api() {
  const Loaded& l = loaded();
  if (!l.error.empty()) throw LoadError(l.error);
  return l.api;
}

bool loadAttempted() noexcept {
  return attempted.load(std::memory_order_relaxed);
}

}  // namespace px::pq

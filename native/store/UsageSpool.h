// The local spool of a remote usage store (store.spool): batched rows that could not reach
// PostgreSQL wait here, in a SQLite file, until they are replayed. Bounded (capacity rows);
// (RECORDID, SEGMENT) is unique, so a row spooled twice is kept once. Survives a process crash
// (WAL, synchronous=NORMAL) and a restart: rows left at open are replayed first.
//
// Owner: the writer thread of the store that spools (SpoolingUsageStore); size() from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "store/Sqlite.h"
#include "usage/UsageRecord.h"

namespace px {

class UsageSpool {
 public:
  // Opens or creates the file (its directory is created). Throws std::runtime_error naming it.
  UsageSpool(std::string path, uint64_t capacity);
  UsageSpool(const UsageSpool&) = delete;
  UsageSpool& operator=(const UsageSpool&) = delete;

  // Adds every row in one transaction, or none: false with `error` when they would take the
  // spool beyond its capacity or SQLite fails. Rows already spooled are not added again.
  bool add(const std::vector<const UsageRow*>& rows, std::string& error);
  // The oldest rows (at most limit), in spool order, with the key of the last one (0: none).
  std::vector<UsageRow> peek(size_t limit, int64_t& lastKey);
  // Forgets every row up to and including lastKey (after they were written elsewhere).
  void remove(int64_t lastKey);
  uint64_t size() const { return size_.load(); }
  const std::string& path() const { return path_; }
  void close();

 private:
  std::string path_;
  uint64_t capacity_;
  sqlite::Db db_;
  sqlite::Stmt insert_, peek_, remove_;
  std::atomic<uint64_t> size_{0};
};

}  // namespace px

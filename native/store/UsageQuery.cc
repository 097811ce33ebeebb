// UsageStore, read side: the reader connection, its px_pair_equals SQL function and query().
#include <stdexcept>
#include <string_view>
#include <variant>

#include "store/UsageStore.h"

namespace px {
namespace {

// True when `text` (encoded service data, usage/ServiceData.h escaping) holds the pair
// key=value at its start or after an unescaped ';'. A pair running into the end of the text
// counts only when lastPairComplete (the text may be a segment cut mid-pair).
bool hasPair(std::string_view text, std::string_view key, std::string_view value,
             bool lastPairComplete) {
  std::string k;
  std::string v;
  size_t i = 0;
  for (;;) {
    k.clear();
    v.clear();
    bool inValue = false;
    bool endedBySemicolon = false;
    for (; i < text.size(); ++i) {
      char c = text[i];
      if (c == '\\' && i + 1 < text.size()) {
        c = text[++i];
      } else if (c == ';') {
        endedBySemicolon = true;
        ++i;
        break;
      } else if (c == '=' && !inValue) {
        inValue = true;
        continue;
      }
      (inValue ? v : k).push_back(c);
    }
    if (inValue && (endedBySemicolon || lastPairComplete) && k == key && v == value) return true;
    if (!endedBySemicolon) return false;
  }
}

std::string_view valueText(sqlite3_value* value) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_value_text(value));
  if (text == nullptr) return {};
  return {text, static_cast<size_t>(sqlite3_value_bytes(value))};
}

// SQL px_pair_equals(serviceData, key, value, lastPairComplete) -> 0/1 (NULL text: 0).
void pairEqualsSql(sqlite3_context* ctx, int /*argc*/, sqlite3_value** argv) {
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
    sqlite3_result_int(ctx, 0);
    return;
  }
  const bool found = hasPair(valueText(argv[0]), valueText(argv[1]), valueText(argv[2]),
                             sqlite3_value_int(argv[3]) != 0);
  sqlite3_result_int(ctx, found ? 1 : 0);
}

}  // namespace

void UsageStore::openReader() {
  readDb_ = sqlite::open(options_.path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX);
  sqlite3* db = readDb_.get();
  sqlite::setBusyTimeout(db, options_.busyTimeoutMs);
  const int rc = sqlite3_create_function_v2(db, "px_pair_equals", 4,
                                            SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY,
                                            nullptr, &pairEqualsSql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) throw sqlite::Error("create px_pair_equals", rc, sqlite3_errmsg(db));
}

sqlite3_stmt* UsageStore::readStatement(const std::string& sql) {
  auto it = readStatements_.find(sql);
  if (it == readStatements_.end()) {
    it = readStatements_.emplace(sql, sqlite::prepare(readDb_.get(), sql)).first;
  }
  return it->second.get();
}

std::vector<UsageRow> UsageStore::query(const UsageQuery& q) {
  using Param = std::variant<int64_t, std::string>;
  std::string where;
  std::vector<Param> params;
  auto add = [&](const std::string& condition, Param param) {
    where += (where.empty() ? " WHERE " : " AND ") + condition;
    params.push_back(std::move(param));
  };
  if (q.fromTimeMs) {
    if (*q.fromTimeMs > kMaxRecordTimeMs) return {};
    if (*q.fromTimeMs > kMinRecordTimeMs) add("r.RECORDTIME >= ?", formatRecordTime(*q.fromTimeMs));
  }
  if (q.toTimeMs) {
    if (*q.toTimeMs <= kMinRecordTimeMs) return {};
    if (*q.toTimeMs <= kMaxRecordTimeMs) add("r.RECORDTIME < ?", formatRecordTime(*q.toTimeMs));
  }
  if (q.service) add("r.SERVICE = ?", *q.service);
  if (q.eventType) add("r.EVENTTYPE = ?", *q.eventType);
  if (q.statusCode) add("r.STATUSCODE = ?", int64_t{*q.statusCode});
  if (q.globalId) add("r.GLOBALID = ?", *q.globalId);
  if (q.requester) {
    add("EXISTS (SELECT 1 FROM USAGE_RECORD AS s0 WHERE s0.RECORDID = r.RECORDID AND "
        "s0.SEGMENT = 0 AND px_pair_equals(s0.SERVICEDATA, 'REQUESTER', ?, NOT EXISTS (SELECT 1 "
        "FROM USAGE_RECORD AS s1 WHERE s1.RECORDID = r.RECORDID AND s1.SEGMENT = 1 AND "
        "substr(s1.SERVICEDATA, 1, 1) <> ';')))",
        *q.requester);
  }
  if (q.after) {
    if (q.after->recordTimeMs < kMinRecordTimeMs || q.after->recordTimeMs > kMaxRecordTimeMs) {
      throw std::invalid_argument("usage store query: cursor time out of range");
    }
    add("(r.RECORDTIME, r.RECORDID, r.SEGMENT) > (?, ?, ?)",
        formatRecordTime(q.after->recordTimeMs));
    params.emplace_back(q.after->recordId);
    params.emplace_back(int64_t{q.after->segment});
  }
  std::string sql = std::string("SELECT ") + kUsageColumns + " FROM USAGE_RECORD AS r" + where +
                    " ORDER BY r.RECORDTIME, r.RECORDID, r.SEGMENT";
  if (q.limit > 0) {
    sql += " LIMIT ?";
    params.emplace_back(int64_t{q.limit});
  }

  std::lock_guard<std::mutex> lock(readMutex_);
  if (!readDb_) throw std::logic_error("usage store '" + options_.path + "' is closed");
  sqlite3* db = readDb_.get();
  auto fail = [&](const char* what) {
    return std::runtime_error("usage store '" + options_.path + "': " + what + ": " +
                              sqlite3_errmsg(db));
  };
  sqlite3_stmt* stmt;
  try {
    stmt = readStatement(sql);
  } catch (const sqlite::Error& e) {
    throw std::runtime_error("usage store '" + options_.path + "': " + e.what());
  }
  const sqlite::ResetGuard reset(stmt);
  for (size_t i = 0; i < params.size(); ++i) {
    const int index = static_cast<int>(i + 1);
    const int rc = std::holds_alternative<int64_t>(params[i])
                       ? sqlite3_bind_int64(stmt, index, std::get<int64_t>(params[i]))
                       : sqlite::bindText(stmt, index, std::get<std::string>(params[i]));
    if (rc != SQLITE_OK) throw fail("query bind");
  }
  std::vector<UsageRow> rows;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    UsageRow row;
    row.recordId = sqlite::columnText(stmt, 0);
    row.segment = sqlite3_column_int(stmt, 1);
    row.globalId = sqlite::columnText(stmt, 2);
    row.service = sqlite::columnText(stmt, 3);
    row.host = sqlite::columnText(stmt, 4);
    row.eventType = sqlite::columnText(stmt, 5);
    const std::string time = sqlite::columnText(stmt, 6);
    const std::optional<int64_t> ms = parseRecordTime(time);
    if (!ms) {
      throw std::runtime_error("usage store '" + options_.path + "': record '" + row.recordId +
                               "' has a malformed RECORDTIME '" + time + "'");
    }
    row.recordTimeMs = *ms;
    row.statusCode = sqlite3_column_int(stmt, 7);
    row.serviceData = sqlite::columnText(stmt, 8);
    rows.push_back(std::move(row));
  }
  if (rc != SQLITE_DONE) throw fail("query");
  return rows;
}

}  // namespace px

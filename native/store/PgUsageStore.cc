#include "store/PgUsageStore.h"

#include <cstdlib>
#include <mutex>
#include <utility>
#include <variant>
#include <vector>

#include "store/Pg.h"
#include "store/RecordTime.h"

namespace px {
namespace {

// Migration n (1-based) takes the usage schema from version n-1 to n. Append only: a released
// migration is never edited.
const char* const kMigrations[] = {
    // 1: the table, its indexes and the requester filter of queries.
    R"SQL(
CREATE TABLE usage_record (
  recordid    text COLLATE "C" NOT NULL,
  segment     integer NOT NULL,
  globalid    text COLLATE "C" NOT NULL,
  service     text NOT NULL,
  host        text NOT NULL,
  eventtype   text COLLATE "C" NOT NULL,
  recordtime  timestamptz NOT NULL,
  statuscode  integer NOT NULL,
  servicedata text NOT NULL,
  PRIMARY KEY (recordid, segment));
CREATE INDEX usage_record_time ON usage_record (recordtime, recordid, segment);
CREATE INDEX usage_record_globalid ON usage_record (globalid);
CREATE INDEX usage_record_event_time ON usage_record (eventtype, recordtime);
-- True when txt (encoded service data) holds the pair key=val at its start or after an
-- unescaped ';' (native/store/UsageQuery.cc hasPair, the same rules).
CREATE FUNCTION px_pair_equals(txt text, key text, val text, last_complete boolean)
RETURNS boolean LANGUAGE plpgsql IMMUTABLE STRICT AS $fn$
DECLARE
  i integer := 1;
  n integer := length(txt);
  c text;
  k text;
  v text;
  in_value boolean;
  ended boolean;
BEGIN
  LOOP
    k := ''; v := ''; in_value := false; ended := false;
    WHILE i <= n LOOP
      c := substr(txt, i, 1);
      IF c = '\' AND i < n THEN
        i := i + 1;
        c := substr(txt, i, 1);
      ELSIF c = ';' THEN
        ended := true;
        i := i + 1;
        EXIT;
      ELSIF c = '=' AND NOT in_value THEN
        in_value := true;
        i := i + 1;
        CONTINUE;
      END IF;
      IF in_value THEN v := v || c; ELSE k := k || c; END IF;
      i := i + 1;
    END LOOP;
    IF in_value AND (ended OR last_complete) AND k = key AND v = val THEN RETURN true; END IF;
    IF NOT ended THEN RETURN false; END IF;
  END LOOP;
END
$fn$;
)SQL",
};
constexpr int kVersion = static_cast<int>(sizeof kMigrations / sizeof kMigrations[0]);

constexpr const char* kInsertName = "px_usage_insert";
constexpr const char* kInsertSql =
    "INSERT INTO usage_record (recordid, segment, globalid, service, host, eventtype, "
    "recordtime, statuscode, servicedata) SELECT * FROM unnest($1::text[], $2::integer[], "
    "$3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::integer[], "
    "$9::text[]) ON CONFLICT (recordid, segment) DO NOTHING";

constexpr const char* kCopySql =
    "COPY usage_record (recordid, segment, globalid, service, host, eventtype, recordtime, "
    "statuscode, servicedata) FROM STDIN";

constexpr const char* kSelectColumns =
    "r.recordid, r.segment, r.globalid, r.service, r.host, r.eventtype, "
    "to_char(r.recordtime AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
    "r.statuscode, r.servicedata";

void migrate(PGconn* conn) {
  pg::migrateComponent(conn, "usage", kMigrations, kVersion);
}

class PgUsageTarget : public UsageTarget {
 public:
  PgUsageTarget(std::string url, unsigned connectTimeoutSec)
      : url_(std::move(url)),
        timeoutSec_(connectTimeoutSec),
        name_("PostgreSQL " + pg::describe(url_)) {}

  void connect() override {
    try {
      pg::Conn conn = pg::connect(url_, timeoutSec_);
      migrate(conn.get());
      pg::check(conn.get(),
                pg::Result(pq::PQprepare(conn.get(), kInsertName, kInsertSql, 9, nullptr)),
                "prepare insert");
      writer_ = std::move(conn);
    } catch (const pg::Error& e) {
      throw TargetError(name() + ": " + e.what(), true);
    }
  }

  void disconnect() override { writer_.reset(); }
  bool connected() const override { return static_cast<bool>(writer_); }

  void write(const std::vector<const UsageRow*>& rows) override {
    if (!writer_) throw TargetError(name() + ": not connected", true);
    // Larger batches: COPY first (the fastest load PostgreSQL has, about a third cheaper on the
    // server than the insert below). COPY knows no ON CONFLICT: a batch holding a row already
    // stored fails whole (unique_violation, nothing written) and goes through the idempotent
    // insert instead. Fresh RECORDIDs never collide, so only replays can pay that twice.
    if (rows.size() >= kCopyMinRows) {
      try {
        copy(rows);
        return;
      } catch (const pg::Error& e) {
        if (e.connectionLost()) writer_.reset();
        if (e.sqlState() != "23505")
          throw TargetError(name() + ": " + e.what(), e.connectionLost());
      }
    }
    insert(rows);
  }

  std::vector<UsageRow> query(const UsageQuery& q) override;

  std::string name() const override { return name_; }

 private:
  static constexpr size_t kCopyMinRows = 64;

  // COPY usage_record FROM STDIN, text format, in one implicit transaction.
  void copy(const std::vector<const UsageRow*>& rows) {
    PGconn* conn = writer_.get();
    pg::check(conn, pg::Result(pq::PQexec(conn, kCopySql)), "copy");  // PGRES_COPY_IN: see below
    std::string buffer;
    buffer.reserve(64 * 1024);
    auto text = [&](const std::string& value) {
      for (const char c : value) {
        switch (c) {
          case '\\':
            buffer += "\\\\";
            break;
          case '\t':
            buffer += "\\t";
            break;
          case '\n':
            buffer += "\\n";
            break;
          case '\r':
            buffer += "\\r";
            break;
          default:
            buffer.push_back(c);
        }
      }
    };
    bool sent = true;
    for (const UsageRow* row : rows) {
      text(row->recordId);
      buffer += '\t' + std::to_string(row->segment) + '\t';
      text(row->globalId);
      buffer.push_back('\t');
      text(row->service);
      buffer.push_back('\t');
      text(row->host);
      buffer.push_back('\t');
      text(row->eventType);
      buffer += '\t' + formatRecordTime(row->recordTimeMs) + '\t' +
                std::to_string(row->statusCode) + '\t';
      text(row->serviceData);
      buffer.push_back('\n');
      if (buffer.size() >= 60 * 1024) {
        sent = pq::PQputCopyData(conn, buffer.data(), static_cast<int>(buffer.size())) == 1;
        buffer.clear();
        if (!sent) break;
      }
    }
    if (sent && !buffer.empty()) {
      sent = pq::PQputCopyData(conn, buffer.data(), static_cast<int>(buffer.size())) == 1;
    }
    const int ended = pq::PQputCopyEnd(conn, sent ? nullptr : "parlayx-gateway: sending failed");
    // The COPY's outcome, then the end of its results.
    pg::Result result(pq::PQgetResult(conn));
    for (pg::Result more(pq::PQgetResult(conn)); more; more.reset(pq::PQgetResult(conn))) {
    }
    if (ended != 1 || !sent) {
      throw pg::Error("copy: " + std::string(pq::PQerrorMessage(conn)), true);
    }
    pg::check(conn, std::move(result), "copy");
  }

  void insert(const std::vector<const UsageRow*>& rows) {
    std::string columns[9];
    for (std::string& c : columns) c.assign(1, '{');
    for (const UsageRow* row : rows) {
      const bool first = columns[0].size() == 1;
      if (!first) {
        for (std::string& c : columns) c.push_back(',');
      }
      auto text = [](std::string& out, const std::string& value) {
        pg::appendArrayElement(out, value.data(), value.size());
      };
      text(columns[0], row->recordId);
      columns[1] += std::to_string(row->segment);
      text(columns[2], row->globalId);
      text(columns[3], row->service);
      text(columns[4], row->host);
      text(columns[5], row->eventType);
      columns[6] += formatRecordTime(row->recordTimeMs);
      columns[7] += std::to_string(row->statusCode);
      text(columns[8], row->serviceData);
    }
    std::vector<const char*> values;
    for (std::string& c : columns) {
      c.push_back('}');
      values.push_back(c.c_str());
    }
    try {
      pg::execPrepared(writer_.get(), kInsertName, values, "insert");
    } catch (const pg::Error& e) {
      if (e.connectionLost()) writer_.reset();
      throw TargetError(name() + ": " + e.what(), e.connectionLost());
    }
  }

  std::string url_;
  unsigned timeoutSec_;
  const std::string name_;
  pg::Conn writer_;  // writer thread

  std::mutex readMutex_;
  pg::Conn reader_;  // under readMutex_
};

std::vector<UsageRow> PgUsageTarget::query(const UsageQuery& q) {
  std::string where;
  std::vector<std::string> params;
  auto add = [&](const std::string& condition, std::string param) {
    params.push_back(std::move(param));
    std::string c = condition;
    const std::string placeholder = "$" + std::to_string(params.size());
    for (size_t at; (at = c.find("$?")) != std::string::npos;) c.replace(at, 2, placeholder);
    where += (where.empty() ? " WHERE " : " AND ") + c;
  };
  if (q.fromTimeMs) {
    if (*q.fromTimeMs > kMaxRecordTimeMs) return {};
    if (*q.fromTimeMs > kMinRecordTimeMs) {
      add("r.recordtime >= $?::timestamptz", formatRecordTime(*q.fromTimeMs));
    }
  }
  if (q.toTimeMs) {
    if (*q.toTimeMs <= kMinRecordTimeMs) return {};
    if (*q.toTimeMs <= kMaxRecordTimeMs) {
      add("r.recordtime < $?::timestamptz", formatRecordTime(*q.toTimeMs));
    }
  }
  if (q.service) add("r.service = $?", *q.service);
  if (q.eventType) add("r.eventtype = $?", *q.eventType);
  if (q.statusCode) add("r.statuscode = $?::integer", std::to_string(*q.statusCode));
  if (q.globalId) add("r.globalid = $?", *q.globalId);
  if (q.requester) {
    add("EXISTS (SELECT 1 FROM usage_record AS s0 WHERE s0.recordid = r.recordid AND "
        "s0.segment = 0 AND px_pair_equals(s0.servicedata, 'REQUESTER', $?, NOT EXISTS (SELECT "
        "1 FROM usage_record AS s1 WHERE s1.recordid = r.recordid AND s1.segment = 1 AND "
        "substr(s1.servicedata, 1, 1) <> ';')))",
        *q.requester);
  }
  if (q.after) {
    if (q.after->recordTimeMs < kMinRecordTimeMs || q.after->recordTimeMs > kMaxRecordTimeMs) {
      throw std::invalid_argument("usage store query: cursor time out of range");
    }
    add("(r.recordtime, r.recordid, r.segment) > ($?::timestamptz",
        formatRecordTime(q.after->recordTimeMs));
    params.push_back(q.after->recordId);
    where += ", $" + std::to_string(params.size());
    params.push_back(std::to_string(q.after->segment));
    where += ", $" + std::to_string(params.size()) + "::integer)";
  }
  std::string sql = std::string("SELECT ") + kSelectColumns + " FROM usage_record AS r" + where +
                    " ORDER BY r.recordtime, r.recordid, r.segment";
  if (q.limit > 0) {
    params.push_back(std::to_string(q.limit));
    sql += " LIMIT $" + std::to_string(params.size()) + "::integer";
  }
  std::vector<const char*> values;
  for (const std::string& p : params) values.push_back(p.c_str());

  std::lock_guard<std::mutex> lock(readMutex_);
  pg::Result result;
  try {
    if (!reader_) {
      reader_ = pg::connect(url_, timeoutSec_);
    }
    result = pg::execParams(reader_.get(), sql, values, "query");
  } catch (const pg::Error& e) {
    if (e.connectionLost()) reader_.reset();
    throw TargetError(name() + ": " + e.what(), e.connectionLost());
  }
  std::vector<UsageRow> rows;
  const int n = pq::PQntuples(result.get());
  rows.reserve(static_cast<size_t>(n));
  PGresult* r = result.get();
  for (int i = 0; i < n; ++i) {
    UsageRow row;
    row.recordId = pq::PQgetvalue(r, i, 0);
    row.segment = std::atoi(pq::PQgetvalue(r, i, 1));
    row.globalId = pq::PQgetvalue(r, i, 2);
    row.service = pq::PQgetvalue(r, i, 3);
    row.host = pq::PQgetvalue(r, i, 4);
    row.eventType = pq::PQgetvalue(r, i, 5);
    const std::string time = pq::PQgetvalue(r, i, 6);
    const std::optional<int64_t> ms = parseRecordTime(time);
    if (!ms) {
      throw std::runtime_error(name() + ": record '" + row.recordId +
                               "' has a RECORDTIME out of range '" + time + "'");
    }
    row.recordTimeMs = *ms;
    row.statusCode = std::atoi(pq::PQgetvalue(r, i, 7));
    row.serviceData = pq::PQgetvalue(r, i, 8);
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace

int pgUsageSchemaVersion() {
  return kVersion;
}

std::unique_ptr<UsageTarget> makePgUsageTarget(std::string url, unsigned connectTimeoutSec) {
  return std::make_unique<PgUsageTarget>(std::move(url), connectTimeoutSec);
}

std::unique_ptr<SpoolingUsageStore> openPgUsageStore(PgUsageStoreOptions options) {
  return std::make_unique<SpoolingUsageStore>(
      makePgUsageTarget(std::move(options.url), options.connectTimeoutSec),
      std::move(options.store));
}

}  // namespace px

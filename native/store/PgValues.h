// Values into and out of PostgreSQL statements, shared by the stores: array parameters (one
// per column, for unnest: a batch of any size in one statement), parameter lists kept alive for
// one call, and a result row read by the row decoders the SQLite store uses (StoredRow).
#pragma once

#include <libpq-fe.h>

#include <charconv>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "store/NotificationRows.h"
#include "store/Pg.h"

namespace px::store {

// A row of a result, read by the shared decoders. libpq gives every value as text: integers
// are parsed strictly, booleans are 't' or 'f', NULL is no text.
class PgRow : public StoredRow {
 public:
  PgRow(const PGresult* result, int row) : result_(result), row_(row) {}

  bool isNull(int col) const override { return pq::PQgetisnull(result_, row_, col) != 0; }

  std::string text(int col) const override {
    if (isNull(col)) throw DecodeError{columnName(col) + " is not text (NULL)"};
    return value(col);
  }

  int64_t integer(int col, int64_t min = std::numeric_limits<int64_t>::min(),
                  int64_t max = std::numeric_limits<int64_t>::max()) const override {
    if (isNull(col)) throw DecodeError{columnName(col) + " is not an integer (NULL)"};
    const std::string v = value(col);
    int64_t parsed = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), parsed);
    if (ec != std::errc() || end != v.data() + v.size()) {
      throw DecodeError{columnName(col) + " is not an integer ('" + v + "')"};
    }
    if (parsed < min || parsed > max) {
      throw DecodeError{columnName(col) + " is out of range (" + v + ")"};
    }
    return parsed;
  }

  bool flag(int col) const override {
    const std::string v = isNull(col) ? std::string() : value(col);
    if (v == "t") return true;
    if (v == "f") return false;
    throw DecodeError{columnName(col) + " is not a boolean"};
  }

  std::string lenientText(int col) const override { return isNull(col) ? "" : value(col); }

 private:
  std::string value(int col) const {
    return std::string(pq::PQgetvalue(result_, row_, col),
                       static_cast<size_t>(pq::PQgetlength(result_, row_, col)));
  }
  std::string columnName(int col) const {
    const char* n = pq::PQfname(result_, col);
    return n != nullptr ? n : "column " + std::to_string(col);
  }

  const PGresult* result_;
  int row_;
};

// One array parameter (a PostgreSQL array literal), built element by element.
class ArrayParam {
 public:
  void text(const std::string& value) {
    next();
    pg::appendArrayElement(literal_, value.data(), value.size());
  }
  void integer(int64_t value) {
    next();
    literal_ += std::to_string(value);
  }
  void flag(bool value) {
    next();
    literal_ += value ? "t" : "f";
  }
  void null() {
    next();
    literal_ += "NULL";
  }
  std::string done() const { return literal_ + "}"; }

 private:
  void next() {
    if (literal_.size() > 1) literal_ += ',';
  }
  std::string literal_ = "{";
};

// Parameters kept alive for one call; nullopt = NULL.
class Params {
 public:
  Params& add(std::string value) {
    values_.emplace_back(std::move(value));
    return *this;
  }
  Params& add(int64_t value) { return add(std::to_string(value)); }
  Params& add(const ArrayParam& array) { return add(array.done()); }
  std::vector<const char*> pointers() const {
    std::vector<const char*> out;
    out.reserve(values_.size());
    for (const std::string& v : values_) out.push_back(v.c_str());
    return out;
  }

 private:
  std::vector<std::string> values_;
};

}  // namespace px::store

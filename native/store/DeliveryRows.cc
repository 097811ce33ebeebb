#include "store/DeliveryRows.h"

#include <array>
#include <optional>
#include <utility>
#include <vector>

namespace px::store {
namespace {

constexpr std::array<std::pair<Delivery::Kind, const char*>, 3> kKinds = {{
    {Delivery::Kind::kStatusNotification, "statusNotification"},
    {Delivery::Kind::kStatusError, "statusError"},
    {Delivery::Kind::kStatusEnd, "statusEnd"},
}};

constexpr std::array<TerminalStatus, 3> kStatuses = {
    TerminalStatus::kReachable, TerminalStatus::kUnreachable, TerminalStatus::kBusy};

void put(std::string& out, std::string_view s) {
  appendLengthPrefixed(out, s);
}

constexpr std::array<std::pair<Delivery::EndReason, const char*>, 5> kEndReasons = {{
    {Delivery::EndReason::kNone, ""},
    {Delivery::EndReason::kExpired, "expired"},
    {Delivery::EndReason::kCountReached, "countReached"},
    {Delivery::EndReason::kDeleted, "deleted"},
    {Delivery::EndReason::kTerminated, "terminated"},
}};

}  // namespace

void appendLengthPrefixed(std::string& out, std::string_view s) {
  out += std::to_string(s.size());
  out += ':';
  out += s;
}

std::optional<std::vector<std::string>> splitLengthPrefixed(std::string_view text) {
  std::vector<std::string> list;
  while (!text.empty()) {
    const size_t colon = text.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon > 10) return std::nullopt;
    size_t length = 0;
    for (size_t i = 0; i < colon; ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
      length = length * 10 + static_cast<size_t>(text[i] - '0');
    }
    if (length > text.size() - colon - 1) return std::nullopt;
    list.emplace_back(text.substr(colon + 1, length));
    text.remove_prefix(colon + 1 + length);
  }
  return list;
}

const char* endReasonName(Delivery::EndReason reason) {
  for (const auto& [r, name] : kEndReasons) {
    if (r == reason) return name;
  }
  return "";
}

bool parseEndReason(std::string_view name, Delivery::EndReason* reason) {
  for (const auto& [r, n] : kEndReasons) {
    if (name == n) {
      *reason = r;
      return true;
    }
  }
  return false;
}

const char* deliveryKindName(Delivery::Kind kind) {
  for (const auto& [k, name] : kKinds) {
    if (k == kind) return name;
  }
  return "statusNotification";
}

bool parseDeliveryKind(std::string_view name, Delivery::Kind* kind) {
  for (const auto& [k, n] : kKinds) {
    if (name == n) {
      *kind = k;
      return true;
    }
  }
  return false;
}

std::string encodeDeliveryPayload(const Delivery& d) {
  std::string out;
  switch (d.kind) {
    case Delivery::Kind::kStatusNotification:
      for (const auto& [address, status] : d.statuses) {
        put(out, address);
        put(out, toString(status));
      }
      break;
    case Delivery::Kind::kStatusError:
      put(out, d.address);
      put(out, d.messageId);
      put(out, d.text);
      for (const std::string& v : d.variables) put(out, v);
      break;
    case Delivery::Kind::kStatusEnd:
      // Nothing for a reasonless one (as version 3 stored it); else the reason and its detail.
      if (d.endReason != Delivery::EndReason::kNone) {
        put(out, endReasonName(d.endReason));
        put(out, d.text);
      }
      break;
  }
  return out;
}

bool decodeDeliveryPayload(std::string_view text, Delivery& d, std::string* problem) {
  const std::optional<std::vector<std::string>> list = splitLengthPrefixed(text);
  if (!list) {
    *problem = "payload is not a list of length-prefixed strings";
    return false;
  }
  switch (d.kind) {
    case Delivery::Kind::kStatusNotification:
      if (list->empty() || list->size() % 2 != 0) {
        *problem = "statusNotification payload needs address/status pairs";
        return false;
      }
      for (size_t i = 0; i < list->size(); i += 2) {
        const std::string& name = (*list)[i + 1];
        std::optional<TerminalStatus> status;
        for (TerminalStatus s : kStatuses) {
          if (name == toString(s)) status = s;
        }
        if (!status) {
          *problem = "unknown status '" + name + "'";
          return false;
        }
        d.statuses.emplace_back((*list)[i], *status);
      }
      return true;
    case Delivery::Kind::kStatusError:
      if (list->size() < 3) {
        *problem = "statusError payload needs address, messageId and text";
        return false;
      }
      d.address = (*list)[0];
      d.messageId = (*list)[1];
      d.text = (*list)[2];
      d.variables.assign(list->begin() + 3, list->end());
      return true;
    case Delivery::Kind::kStatusEnd:
      if (list->empty()) return true;
      if (list->size() != 2 || !parseEndReason((*list)[0], &d.endReason) ||
          d.endReason == Delivery::EndReason::kNone) {
        *problem = "statusEnd payload must be empty or a known end reason and its detail";
        return false;
      }
      d.text = (*list)[1];
      return true;
  }
  return false;
}

bool decodeDeliveryRow(const StoredRow& row, Delivery* d, std::string* problem) {
  try {
    d->id = NotificationKey{row.text(0), row.text(1)};
    // Stored as the int64 with the same bits, like nextSequence.
    d->sequence = static_cast<uint64_t>(row.integer(2));
    if (!parseDeliveryKind(row.text(3), &d->kind)) {
      *problem = "unknown kind";
      return false;
    }
    d->endpoint = row.text(4);
    d->globalId = row.text(5);
    d->api = row.text(7);
    d->extension = row.text(8);
    d->atMs = row.integer(9);
    return decodeDeliveryPayload(row.text(6), *d, problem);
  } catch (const DecodeError& e) {
    *problem = e.what;
    return false;
  }
}

}  // namespace px::store

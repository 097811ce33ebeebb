// Admission control: how many requests are in progress in each scope (the whole gateway, a
// service, an operation, a requester, ...), each scope with its own maximum. A request is counted
// in every scope that applies to it, and admitted only when all of them have room.
//
// Admissions are handed out as ids: (slot generation << 32) | (slot index + 1), never 0. A slot
// is reused after its release with the next generation, so that a repeated or stale id matches
// nothing and is ignored. Releasing needs only the id, whatever happened to the requester since.
// Not thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace px::policy {

class AdmissionControl {
 public:
  using ScopeId = uint32_t;
  // gateway, service, operation, requester, requester+service, requester+operation
  static constexpr size_t kMaxScopesPerRequest = 6;

  // The scopes one kind of request is counted in.
  class ScopeSet {
   public:
    // Throws std::length_error beyond kMaxScopesPerRequest.
    void add(ScopeId scope);
    size_t size() const { return count_; }
    ScopeId operator[](size_t i) const { return ids_[i]; }

   private:
    std::array<ScopeId, kMaxScopesPerRequest> ids_{};
    size_t count_ = 0;
  };

  struct Admission {
    uint64_t id = 0;                   // 0: refused
    std::optional<ScopeId> refusedBy;  // the first full scope when refused
  };

  // A scope admitting at most maxInFlight requests at once. `name` is for messages
  // ("service terminalStatus").
  ScopeId addScope(std::string name, uint32_t maxInFlight);

  // Counts the request in every scope of `scopes` when each has room; otherwise changes nothing.
  Admission admit(const ScopeSet& scopes);
  // Ends an admission. Ids that are unknown or already released are ignored.
  void release(uint64_t id);

  uint64_t inFlight() const { return admitted_; }  // admitted requests, any scope
  uint64_t inFlight(ScopeId scope) const { return scopes_.at(scope).inFlight; }
  uint32_t maxInFlight(ScopeId scope) const { return scopes_.at(scope).maxInFlight; }
  const std::string& name(ScopeId scope) const { return scopes_.at(scope).name; }

 private:
  struct Scope {
    std::string name;
    uint32_t maxInFlight = 0;
    uint64_t inFlight = 0;
  };
  struct Slot {
    uint32_t generation = 1;
    bool live = false;
    ScopeSet scopes;
  };

  std::vector<Scope> scopes_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> freeSlots_;
  uint64_t admitted_ = 0;
};

}  // namespace px::policy

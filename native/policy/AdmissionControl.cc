#include "policy/AdmissionControl.h"

#include <limits>
#include <stdexcept>
#include <utility>

namespace px::policy {

void AdmissionControl::ScopeSet::add(ScopeId scope) {
  if (count_ == ids_.size()) throw std::length_error("too many admission scopes for a request");
  ids_[count_++] = scope;
}

AdmissionControl::ScopeId AdmissionControl::addScope(std::string name, uint32_t maxInFlight) {
  scopes_.push_back(Scope{std::move(name), maxInFlight, 0});
  return static_cast<ScopeId>(scopes_.size() - 1);
}

AdmissionControl::Admission AdmissionControl::admit(const ScopeSet& scopes) {
  Admission result;
  for (size_t i = 0; i < scopes.size(); ++i) {
    const Scope& scope = scopes_.at(scopes[i]);
    if (scope.inFlight >= scope.maxInFlight) {
      result.refusedBy = scopes[i];
      return result;
    }
  }
  for (size_t i = 0; i < scopes.size(); ++i) ++scopes_[scopes[i]].inFlight;

  uint32_t index = 0;
  if (!freeSlots_.empty()) {
    index = freeSlots_.back();
    freeSlots_.pop_back();
  } else {
    if (slots_.size() >= std::numeric_limits<uint32_t>::max()) {
      throw std::length_error("too many admissions in progress");
    }
    index = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& slot = slots_[index];
  slot.live = true;
  slot.scopes = scopes;
  ++admitted_;
  result.id = (uint64_t{slot.generation} << 32) | (uint64_t{index} + 1);
  return result;
}

void AdmissionControl::release(uint64_t id) {
  const uint64_t low = id & 0xffffffffu;
  if (low == 0 || low > slots_.size()) return;
  const auto index = static_cast<uint32_t>(low - 1);
  Slot& slot = slots_[index];
  if (!slot.live || slot.generation != static_cast<uint32_t>(id >> 32)) return;
  for (size_t i = 0; i < slot.scopes.size(); ++i) --scopes_[slot.scopes[i]].inFlight;
  slot.live = false;
  slot.scopes = ScopeSet();
  // An id of this slot comes back only after 2^32 - 1 further admissions in it.
  slot.generation =
      slot.generation == std::numeric_limits<uint32_t>::max() ? 1 : slot.generation + 1;
  freeSlots_.push_back(index);
  --admitted_;
}

}  // namespace px::policy

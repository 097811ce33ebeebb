#include "cluster/Lease.h"

#include <algorithm>

namespace px::cluster {

void LeaseKeeper::acknowledged(int64_t sentAtMs) {
  // A late answer to an older renewal never shortens the lease a newer one gave.
  if (lastSentMs_ && sentAtMs < *lastSentMs_ && heldUntil_) return;
  lastSentMs_ = sentAtMs;
  heldUntil_ = sentAtMs + timing_.leaseMs - timing_.safetyMs;
}

bool LeaseKeeper::renewalDue(int64_t nowMs) const {
  if (!heldUntil_ || !lastSentMs_) return true;
  return nowMs >= *lastSentMs_ + timing_.renewMs;
}

int64_t LeaseKeeper::nextAttentionMs(int64_t nowMs) const {
  if (!heldUntil_ || !lastSentMs_) return nowMs;
  return std::min(*lastSentMs_ + timing_.renewMs, *heldUntil_);
}

Share balance(const ClusterView& view, bool balancing) {
  Share share;
  const int64_t live = std::max<int64_t>(1, view.live);
  const int64_t fair = (view.total + live - 1) / live;
  if (view.orphans > 0) {
    // Up to the fair share; everything when balancing is off or when this instance is the only
    // one with room (its share already reached, orphans would otherwise wait for a rebalance).
    const int64_t room = std::max<int64_t>(0, fair - view.mine);
    share.claim = (!balancing || room == 0) ? view.orphans : std::min(view.orphans, room);
    return share;
  }
  if (!balancing) return share;
  const int64_t slack = std::max<int64_t>(1, fair / 10);
  if (view.mine > fair + slack) share.release = view.mine - fair;
  return share;
}

}  // namespace px::cluster

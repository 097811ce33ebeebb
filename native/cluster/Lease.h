// The lease of one gateway instance in a clustered service, as the instance itself must see it,
// and how notifications are shared between the live instances. Pure logic: time is passed in
// (steady milliseconds), the database is someone else's (cluster::ClusterNode).
//
// Why the local view is safe whatever the clocks say: a renewal sent at local time t sets the
// database's expires_at to (database now() when it ran) + leaseMs, and it ran after t. So the
// lease lasts at least until t + leaseMs on this instance's monotonic clock, whatever the
// instance's or the database's wall clocks say; held() ends safetyMs before that, so that the
// instance stops refreshing its subscriptions before any other instance can take them (others
// only claim once the database's now() passed expires_at).
#pragma once

#include <cstdint>
#include <optional>

namespace px::cluster {

struct LeaseTiming {
  int64_t leaseMs = 15000;  // how long a renewal holds the lease (database clock)
  int64_t renewMs = 5000;  // how often it is renewed (< leaseMs / 2): a missed renewal is not fatal
  int64_t safetyMs =
      1000;  // the local lease ends this much before the database's (< leaseMs - renewMs)
};

class LeaseKeeper {
 public:
  explicit LeaseKeeper(LeaseTiming timing) : timing_(timing) {}

  // The database acknowledged a registration or renewal that was sent at sentAtMs.
  void acknowledged(int64_t sentAtMs);
  // The database refused a renewal (the lease had lapsed, or the instance's row is gone): the
  // lease is lost at once, whatever the local deadline said.
  void refused() { heldUntil_.reset(); }

  bool held(int64_t nowMs) const { return heldUntil_ && nowMs < *heldUntil_; }
  // When the local view of the lease ends (nullopt: not held).
  std::optional<int64_t> heldUntil() const { return heldUntil_; }
  // True when a renewal should be sent now: renewMs after the last acknowledged one was sent.
  bool renewalDue(int64_t nowMs) const;
  // The next time renewalDue() or the end of the lease needs attention (steady ms).
  int64_t nextAttentionMs(int64_t nowMs) const;

  const LeaseTiming& timing() const { return timing_; }

 private:
  LeaseTiming timing_;
  std::optional<int64_t> lastSentMs_;  // of the last acknowledged renewal
  std::optional<int64_t> heldUntil_;
};

// What the cluster looks like from one instance (store::ClusterCounts' fields).
struct ClusterView {
  int64_t live = 1;     // live instances, this one included
  int64_t total = 0;    // stored notifications
  int64_t mine = 0;     // owned by this instance
  int64_t orphans = 0;  // unowned or of a lapsed instance
};

// How many notifications this instance should claim and hand over now.
struct Share {
  int64_t claim = 0;
  int64_t release = 0;
};

// Balanced ownership: every live instance aims at its fair share, ceil(total / live).
// - Orphans are claimed up to the fair share; when every live instance is at or above it (or
//   balancing is off), the orphans are still claimed: no notification is ever left unwatched
//   for want of room. (ClusterNode waits one renew period before it claims beyond its share, so
//   that instances with room get them first and ownership does not churn.)
// - With balancing on, an instance holding more than its fair share plus a slack (a tenth of
//   it, at least one) hands the excess over, so that a new or returning instance gets work;
//   never while orphans wait (they are claimed first), so ownership does not churn.
Share balance(const ClusterView& view, bool balancing);

}  // namespace px::cluster

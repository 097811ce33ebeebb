// The lease as an instance sees it (injected steady clock) and the balancing of ownership.
#include <gtest/gtest.h>

#include "cluster/Lease.h"

namespace px::cluster {
namespace {

LeaseTiming timing() {
  LeaseTiming t;
  t.leaseMs = 3000;
  t.renewMs = 1000;
  t.safetyMs = 500;
  return t;
}

TEST(LeaseKeeper, NotHeldBeforeTheFirstAcknowledgement) {
  LeaseKeeper lease(timing());
  EXPECT_FALSE(lease.held(0));
  EXPECT_TRUE(lease.renewalDue(0));
  EXPECT_EQ(lease.nextAttentionMs(42), 42);
}

TEST(LeaseKeeper, HeldFromTheSendingTimeNotTheAnswer) {
  LeaseKeeper lease(timing());
  // Sent at 1000, answered late: the lease still counts from 1000, since the database's now()
  // ran after the sending.
  lease.acknowledged(1000);
  EXPECT_TRUE(lease.held(1000));
  EXPECT_TRUE(lease.held(3499));
  EXPECT_FALSE(lease.held(3500));  // 1000 + 3000 - 500 safety
  EXPECT_EQ(*lease.heldUntil(), 3500);
}

TEST(LeaseKeeper, RenewalDueEveryRenewPeriod) {
  LeaseKeeper lease(timing());
  lease.acknowledged(0);
  EXPECT_FALSE(lease.renewalDue(999));
  EXPECT_TRUE(lease.renewalDue(1000));
  EXPECT_EQ(lease.nextAttentionMs(10), 1000);
  lease.acknowledged(1000);
  EXPECT_EQ(*lease.heldUntil(), 3500);
  EXPECT_FALSE(lease.renewalDue(1500));
}

TEST(LeaseKeeper, MissedRenewalsEndTheLeaseLocally) {
  LeaseKeeper lease(timing());
  lease.acknowledged(0);
  // The database is unreachable: no acknowledgement comes; the lease ends at 2500 locally,
  // 500 ms before any other instance may claim (database expiry >= 3000).
  EXPECT_TRUE(lease.held(2499));
  EXPECT_FALSE(lease.held(2500));
  EXPECT_EQ(lease.nextAttentionMs(2000), 1000);
}

TEST(LeaseKeeper, RefusalLosesAtOnce) {
  LeaseKeeper lease(timing());
  lease.acknowledged(0);
  lease.refused();
  EXPECT_FALSE(lease.held(1));
  EXPECT_FALSE(lease.heldUntil().has_value());
  EXPECT_TRUE(lease.renewalDue(1));
}

TEST(LeaseKeeper, ALateOlderAnswerNeverShortensTheLease) {
  LeaseKeeper lease(timing());
  lease.acknowledged(2000);
  lease.acknowledged(1000);
  EXPECT_EQ(*lease.heldUntil(), 4500);
}

TEST(Balance, ClaimsOrphansUpToTheFairShare) {
  // A died with 500 of 1000; B and C hold 250 each and are the two live instances.
  const Share share = balance(ClusterView{2, 1000, 250, 500}, true);
  EXPECT_EQ(share.claim, 250);
  EXPECT_EQ(share.release, 0);
}

TEST(Balance, ClaimsEveryOrphanWhenAtTheFairShareAlready) {
  const Share share = balance(ClusterView{2, 1000, 500, 10}, true);
  EXPECT_EQ(share.claim, 10);
}

TEST(Balance, WithoutBalancingClaimsEveryOrphanAndNeverReleases) {
  EXPECT_EQ(balance(ClusterView{3, 900, 0, 900}, false).claim, 900);
  EXPECT_EQ(balance(ClusterView{3, 900, 900, 0}, false).release, 0);
}

TEST(Balance, AlonePicksEverything) {
  EXPECT_EQ(balance(ClusterView{1, 1000, 0, 1000}, true).claim, 1000);
}

TEST(Balance, HandsTheExcessOverToANewInstance) {
  // A holds all 1000; B joined: fair share 500.
  const Share share = balance(ClusterView{2, 1000, 1000, 0}, true);
  EXPECT_EQ(share.claim, 0);
  EXPECT_EQ(share.release, 500);
}

TEST(Balance, SlackAvoidsChurn) {
  // fair 334, slack 33: 360 stays, 368 hands 34 over.
  EXPECT_EQ(balance(ClusterView{3, 1000, 360, 0}, true).release, 0);
  EXPECT_EQ(balance(ClusterView{3, 1000, 368, 0}, true).release, 34);
  // Small numbers: slack of one.
  EXPECT_EQ(balance(ClusterView{2, 3, 3, 0}, true).release, 0);
  EXPECT_EQ(balance(ClusterView{3, 3, 3, 0}, true).release, 2);
}

TEST(Balance, NeverReleasesWhileOrphansWait) {
  const Share share = balance(ClusterView{2, 1000, 900, 100}, true);
  EXPECT_EQ(share.release, 0);
  EXPECT_EQ(share.claim, 100);
}

TEST(Balance, EmptyClusterDoesNothing) {
  const Share share = balance(ClusterView{0, 0, 0, 0}, true);
  EXPECT_EQ(share.claim, 0);
  EXPECT_EQ(share.release, 0);
}

}  // namespace
}  // namespace px::cluster

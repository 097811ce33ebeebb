// TokenBucket (traffic shaping toward a network element) with a fake clock.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

#include "policy/TokenBucket.h"

namespace px::policy {
namespace {

TEST(TokenBucket, StartsFull) {
  TokenBucket bucket(5, 1);
  EXPECT_EQ(bucket.available(0), 5u);
  EXPECT_TRUE(bucket.take(5, 0));
  EXPECT_FALSE(bucket.take(1, 0));
  EXPECT_EQ(bucket.available(0), 0u);
}

TEST(TokenBucket, TakesAllOrNothing) {
  TokenBucket bucket(5, 1);
  EXPECT_TRUE(bucket.take(3, 0));
  EXPECT_FALSE(bucket.take(3, 0));  // 2 left: a refusal takes none of them
  EXPECT_EQ(bucket.available(0), 2u);
  EXPECT_TRUE(bucket.take(2, 0));
  EXPECT_TRUE(bucket.take(0, 0));  // nothing to send: always fine
}

TEST(TokenBucket, NeverMoreThanTheBurstAtOnce) {
  TokenBucket bucket(5, 1000);
  EXPECT_FALSE(bucket.take(6, 0));
  EXPECT_EQ(bucket.available(0), 5u);
}

TEST(TokenBucket, RefillsAtTheRate) {
  TokenBucket bucket(10, 2);  // one token per 500 ms
  EXPECT_TRUE(bucket.take(10, 1000));
  EXPECT_EQ(bucket.available(1499), 0u);
  EXPECT_FALSE(bucket.take(1, 1499));
  EXPECT_EQ(bucket.available(1500), 1u);
  EXPECT_TRUE(bucket.take(1, 1500));
  EXPECT_FALSE(bucket.take(1, 1500));
  EXPECT_EQ(bucket.available(3500), 4u);
}

TEST(TokenBucket, FractionalRefillAccumulates) {
  TokenBucket bucket(3, 3);  // 0.003 tokens per millisecond
  EXPECT_TRUE(bucket.take(3, 0));
  EXPECT_FALSE(bucket.take(1, 333));  // 0.999
  EXPECT_TRUE(bucket.take(1, 334));   // 1.002, and the 0.002 stays
  EXPECT_FALSE(bucket.take(1, 666));  // 0.002 + 0.996
  EXPECT_TRUE(bucket.take(1, 667));   // 0.002 + 0.999
}

TEST(TokenBucket, RefillStopsAtTheBurst) {
  TokenBucket bucket(4, 1000);
  EXPECT_TRUE(bucket.take(4, 0));
  EXPECT_EQ(bucket.available(60000), 4u);
  EXPECT_FALSE(bucket.take(5, 60000));
}

TEST(TokenBucket, LongIdleTimeDoesNotOverflow) {
  TokenBucket bucket(1000000, 1000000);
  EXPECT_TRUE(bucket.take(1000000, 0));
  const int64_t far = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(bucket.available(far), 1000000u);
  EXPECT_TRUE(bucket.take(1000000, far));
}

TEST(TokenBucket, ClockGoingBackAddsNothing) {
  TokenBucket bucket(2, 1);
  EXPECT_TRUE(bucket.take(2, 5000));
  EXPECT_FALSE(bucket.take(1, 1000));
  EXPECT_FALSE(bucket.take(1, 5999));
  EXPECT_TRUE(bucket.take(1, 6000));
}

}  // namespace
}  // namespace px::policy

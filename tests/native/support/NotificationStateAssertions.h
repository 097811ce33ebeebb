// Field-by-field comparison of a stored notification's state, shared by the stores' tests
// (SQLite and PostgreSQL keep the same state and must give it back unchanged).
#pragma once

#include <gtest/gtest.h>

#include "notify/NotificationEngine.h"

namespace px::testing {

inline void expectSame(const NotificationState& want, const NotificationState& got) {
  const NotificationSpec& w = want.spec;
  const NotificationSpec& g = got.spec;
  EXPECT_EQ(w.id.requester, g.id.requester);
  EXPECT_EQ(w.id.correlator, g.id.correlator);
  EXPECT_EQ(w.endpoint, g.endpoint);
  EXPECT_EQ(w.interfaceName, g.interfaceName);
  EXPECT_EQ(w.globalId, g.globalId);
  ASSERT_EQ(w.addresses.size(), g.addresses.size()) << w.id.correlator;
  for (size_t i = 0; i < w.addresses.size(); ++i) {
    EXPECT_EQ(w.addresses[i].address, g.addresses[i].address) << i;
    EXPECT_EQ(w.addresses[i].key, g.addresses[i].key) << i;
    EXPECT_EQ(w.addresses[i].lastSeen, g.addresses[i].lastSeen) << i;
  }
  EXPECT_EQ(w.criteria, g.criteria);
  EXPECT_EQ(w.checkImmediate, g.checkImmediate);
  EXPECT_EQ(w.frequencyMs, g.frequencyMs);
  EXPECT_EQ(w.createdAtMs, g.createdAtMs);
  EXPECT_EQ(w.expiresAtMs, g.expiresAtMs);
  EXPECT_EQ(w.countLimit, g.countLimit);
  EXPECT_EQ(w.api, g.api);
  EXPECT_EQ(w.extension, g.extension);
  EXPECT_EQ(want.progress.sent, got.progress.sent);
  EXPECT_EQ(want.progress.lastSentAtMs, got.progress.lastSentAtMs);
  EXPECT_EQ(want.progress.nextSequence, got.progress.nextSequence);
}

}  // namespace px::testing

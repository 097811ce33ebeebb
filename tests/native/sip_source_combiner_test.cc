// SourceCombiner: presence.source "both" — the reg and presence legs combined into what the
// watcher's consumer sees (fetch outcomes, subscription events, counters).
#include "sip/SourceCombiner.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace px {
namespace {

struct RecordingSink : PresenceSink {
  std::vector<FetchOutcome> outcomes;
  std::vector<SubscriptionEvent> events;
  FetchCounters fetch;
  SubscriptionCounters subs;
  void outcome(FetchOutcome o) override { outcomes.push_back(std::move(o)); }
  void event(SubscriptionEvent e) override { events.push_back(std::move(e)); }
  void fetchCounters(const FetchCounters& c) override { fetch = c; }
  void subscriptionCounters(const SubscriptionCounters& c) override { subs = c; }
  void tcpCounters(const TcpGuardCounters&) override {}
};

FetchOutcome status(uint64_t id, TerminalStatus s, uint32_t elapsed = 5) {
  FetchOutcome o;
  o.id = id;
  o.kind = FetchOutcome::Kind::kStatus;
  o.status = s;
  o.sipStatus = 200;
  o.elapsedMs = elapsed;
  return o;
}

FetchOutcome failed(uint64_t id, FetchOutcome::Kind kind) {
  FetchOutcome o;
  o.id = id;
  o.kind = kind;
  o.detail = "boom";
  return o;
}

SubscriptionEvent ev(SubscriptionEvent::Kind kind,
                     TerminalStatus s = TerminalStatus::kUnreachable) {
  SubscriptionEvent e;
  e.kind = kind;
  e.requestUri = "sip:a@x";
  e.status = s;
  return e;
}

class SourceCombinerTest : public ::testing::Test {
 protected:
  RecordingSink down;
  std::vector<std::string> unwatched;
  SourceCombiner c{down, [this](const std::string& uri) { unwatched.push_back(uri); }};
};

TEST_F(SourceCombinerTest, FetchWaitsForBothAndCombines) {
  c.presenceSink().outcome(status(1, TerminalStatus::kBusy, 9));
  EXPECT_TRUE(down.outcomes.empty());
  c.regSink().outcome(status(1, TerminalStatus::kReachable, 4));
  ASSERT_EQ(1u, down.outcomes.size());
  EXPECT_EQ(TerminalStatus::kBusy, down.outcomes[0].status);
  EXPECT_EQ(9u, down.outcomes[0].elapsedMs);
  EXPECT_EQ(0u, c.pendingFetches());

  c.regSink().outcome(status(2, TerminalStatus::kUnreachable));
  c.presenceSink().outcome(status(2, TerminalStatus::kBusy));
  ASSERT_EQ(2u, down.outcomes.size());
  EXPECT_EQ(TerminalStatus::kUnreachable, down.outcomes[1].status);
}

TEST_F(SourceCombinerTest, RegFailureIsTheOutcomePresenceFailureLeavesReachable) {
  c.regSink().outcome(failed(1, FetchOutcome::Kind::kTimeout));
  c.presenceSink().outcome(status(1, TerminalStatus::kBusy));
  ASSERT_EQ(1u, down.outcomes.size());
  EXPECT_EQ(FetchOutcome::Kind::kTimeout, down.outcomes[0].kind);

  c.regSink().outcome(status(2, TerminalStatus::kReachable));
  c.presenceSink().outcome(failed(2, FetchOutcome::Kind::kSipError));
  ASSERT_EQ(2u, down.outcomes.size());
  EXPECT_EQ(FetchOutcome::Kind::kStatus, down.outcomes[1].kind);
  EXPECT_EQ(TerminalStatus::kReachable, down.outcomes[1].status);
  EXPECT_NE(std::string::npos, down.outcomes[1].detail.find("busy unknown"));
}

TEST_F(SourceCombinerTest, SubscriptionReportsOnlyOnceRegIsKnown) {
  c.presenceSink().event(ev(SubscriptionEvent::Kind::kStatus, TerminalStatus::kBusy));
  EXPECT_TRUE(down.events.empty());
  c.regSink().event(ev(SubscriptionEvent::Kind::kStatus, TerminalStatus::kReachable));
  ASSERT_EQ(1u, down.events.size());
  EXPECT_EQ(TerminalStatus::kBusy, down.events[0].status);
  c.presenceSink().event(ev(SubscriptionEvent::Kind::kStatus, TerminalStatus::kReachable));
  ASSERT_EQ(2u, down.events.size());
  EXPECT_EQ(TerminalStatus::kReachable, down.events[1].status);
  c.regSink().event(ev(SubscriptionEvent::Kind::kStatus, TerminalStatus::kUnreachable));
  ASSERT_EQ(3u, down.events.size());
  EXPECT_EQ(TerminalStatus::kUnreachable, down.events[2].status);
}

TEST_F(SourceCombinerTest, RegFailureEndsTheTerminalPresenceFailureOnlyForgetsBusy) {
  c.regSink().event(ev(SubscriptionEvent::Kind::kStatus, TerminalStatus::kReachable));
  c.presenceSink().event(ev(SubscriptionEvent::Kind::kStatus, TerminalStatus::kBusy));
  ASSERT_EQ(2u, down.events.size());
  c.presenceSink().event(ev(SubscriptionEvent::Kind::kFailed));
  ASSERT_EQ(3u, down.events.size());
  EXPECT_EQ(SubscriptionEvent::Kind::kStatus, down.events[2].kind);
  EXPECT_EQ(TerminalStatus::kReachable, down.events[2].status);
  EXPECT_TRUE(unwatched.empty());

  c.regSink().event(ev(SubscriptionEvent::Kind::kFailed));
  ASSERT_EQ(4u, down.events.size());
  EXPECT_EQ(SubscriptionEvent::Kind::kFailed, down.events[3].kind);
  EXPECT_EQ(std::vector<std::string>{"sip:a@x"}, unwatched);
}

TEST_F(SourceCombinerTest, InterruptionsPassAndForgetThatPart) {
  c.regSink().event(ev(SubscriptionEvent::Kind::kStatus, TerminalStatus::kReachable));
  c.regSink().event(ev(SubscriptionEvent::Kind::kInterrupted));
  ASSERT_EQ(2u, down.events.size());
  EXPECT_EQ(SubscriptionEvent::Kind::kInterrupted, down.events[1].kind);
  // Reg unknown again: a presence NOTIFY alone reports nothing.
  c.presenceSink().event(ev(SubscriptionEvent::Kind::kStatus, TerminalStatus::kBusy));
  EXPECT_EQ(2u, down.events.size());
}

TEST_F(SourceCombinerTest, CountersOfBothLegsAreAdded) {
  FetchCounters a;
  a.started = 3;
  a.timeouts = 1;
  FetchCounters b;
  b.started = 2;
  c.regSink().fetchCounters(a);
  c.presenceSink().fetchCounters(b);
  EXPECT_EQ(5u, down.fetch.started);
  EXPECT_EQ(1u, down.fetch.timeouts);
  SubscriptionCounters s;
  s.subscriptions = 1;
  c.regSink().subscriptionCounters(s);
  c.presenceSink().subscriptionCounters(s);
  EXPECT_EQ(2u, down.subs.subscriptions);
}

}  // namespace
}  // namespace px

// SofiaLog: Sofia's process-wide su_log as whole lines for the attached listeners.
#include "sip/SofiaLog.h"

#include <gtest/gtest.h>
#include <sofia-sip/su_log.h>

#include <string>
#include <vector>

namespace px {
namespace {

TEST(SofiaLog, HandsWholeLinesAtTheAttachedLevelUntilDetached) {
  std::vector<std::string> lines;
  {
    auto attachment = SofiaLog::attach(5, [&](std::string line) { lines.push_back(line); });
    EXPECT_EQ(su_log_default->log_level, 5u);
    su_llog(su_log_default, 3, "nta: %s ", "a line");
    su_llog(su_log_default, 5, "in %d pieces\n", 2);
    su_llog(su_log_default, 7, "above the level: dropped\n");
    su_llog(su_log_default, 1, "two\nlines\n");
    const std::string big(3000, 'x');  // longer than the formatting buffer
    su_llog(su_log_default, 1, "%s\n", big.c_str());
    ASSERT_EQ(lines.size(), 4u);
    EXPECT_EQ(lines[0], "nta: a line in 2 pieces");
    EXPECT_EQ(lines[1], "two");
    EXPECT_EQ(lines[2], "lines");
    EXPECT_EQ(lines[3], big);
  }
  // Detached: Sofia is back to formatting nothing for nobody.
  EXPECT_EQ(su_log_default->log_level, 0u);
  su_llog(su_log_default, 0, "after\n");
  EXPECT_EQ(lines.size(), 4u);
}

TEST(SofiaLog, EveryListenerGetsEveryLineAtTheHighestLevelAsked) {
  std::vector<std::string> low;
  std::vector<std::string> high;
  auto first = SofiaLog::attach(1, [&](std::string line) { low.push_back(line); });
  {
    auto second = SofiaLog::attach(9, [&](std::string line) { high.push_back(line); });
    EXPECT_EQ(su_log_default->log_level, 9u);
    su_llog(su_log_default, 9, "memory\n");
  }
  EXPECT_EQ(su_log_default->log_level, 1u);
  su_llog(su_log_default, 9, "dropped\n");
  EXPECT_EQ(low, std::vector<std::string>{"memory"});
  EXPECT_EQ(high, std::vector<std::string>{"memory"});
}

TEST(SofiaLog, MapsSofiaLevelsToPinoLevels) {
  EXPECT_STREQ(SofiaLog::pinoLevel(1), "error");
  EXPECT_STREQ(SofiaLog::pinoLevel(2), "error");
  EXPECT_STREQ(SofiaLog::pinoLevel(3), "warn");
  EXPECT_STREQ(SofiaLog::pinoLevel(4), "warn");
  EXPECT_STREQ(SofiaLog::pinoLevel(5), "info");
  EXPECT_STREQ(SofiaLog::pinoLevel(6), "info");
  EXPECT_STREQ(SofiaLog::pinoLevel(7), "debug");
  EXPECT_STREQ(SofiaLog::pinoLevel(9), "debug");
}

}  // namespace
}  // namespace px

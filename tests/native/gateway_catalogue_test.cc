// The Parlay X fault catalogue declared in the core (exported to JS by the addon).
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "parlayx/FaultCatalogue.h"

namespace px::parlayx {
namespace {

TEST(FaultCatalogue, IdsAreUniqueAndKindsFollowTheirPrefix) {
  std::set<std::string> ids;
  for (const FaultDefinition& f : faultCatalogue()) {
    EXPECT_TRUE(ids.insert(std::string(f.messageId)).second) << f.messageId;
    const bool svc = f.messageId.substr(0, 3) == "SVC";
    EXPECT_EQ(f.kind, svc ? FaultKind::kServiceException : FaultKind::kPolicyException);
    EXPECT_FALSE(f.title.empty());
    EXPECT_FALSE(f.text.empty());
  }
  EXPECT_EQ(ids.size(), 21u);
}

TEST(FaultCatalogue, Lookup) {
  const FaultDefinition* f = findFault("SVC0005");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->text, "Correlator %1 specified in message part %2 is a duplicate");
  EXPECT_STREQ(toString(f->kind), "ServiceException");
  EXPECT_STREQ(toString(findFault("POL0013")->kind), "PolicyException");
  EXPECT_EQ(findFault("SVC0099"), nullptr);
}

}  // namespace
}  // namespace px::parlayx

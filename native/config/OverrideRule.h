// The override rule of the service policy (as in TWSS and OCSG): a value set at a policy level
// may be no looser than the same value at every level above it. The levels for a requester R,
// service S and operation O, each with the levels above it:
//   policy                                   -
//   policy.services.S                        policy
//   policy.services.S.operations.O           policy, policy.services.S
//   requesters.R.policy                      policy
//   requesters.R.policy.services.S           policy, policy.services.S, requesters.R.policy
//   requesters.R.policy.services.S.operations.O   all five others
// Levels above that leave a value unset are skipped, except that the global level's documented
// default counts where a default can be loosened (maxTargets 100), and the global notification
// limits are the notifications section (`globalLimits`), compared with the `notifications:` of
// every policy level (maxDurationSec, defaultDurationSec, maxCount: not larger; minFrequencyMs:
// not smaller; unlimitedCountAllowed, busyCriteriaAllowed: not true under false). The lists that
// every level applies cumulatively (telPatterns, privacy.optedOut, privacy.allowedTargets) cannot
// loosen anything and are not compared.
#pragma once

#include <map>
#include <string>

#include "config/PolicyConfig.h"
#include "config/PolicyConfigReader.h"
#include "config/YamlReader.h"

namespace px::config {

// Throws ConfigError at the line of the first looser override found, e.g.
// "requesters.acme.policy.maxTargets: 500 is looser than policy.maxTargets (100); an override
// may only be more restrictive".
void checkOverrides(const YamlReader& yaml, const PolicyLevel& global,
                    const LevelSites& globalSites,
                    const std::map<std::string, RequesterConfig>& requesters,
                    const RequesterSites& requesterSites, const NotificationLimits& globalLimits);

}  // namespace px::config

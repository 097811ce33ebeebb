// Reading of the `requesters` section: who may call the gateway and how they prove it (the
// scalar `authentication` keys are read through the schema, ConfigSchema.cc). Password hashes
// are checked for syntax only (verifying is js/auth's job); the PasswordDigest secret is read
// from its file here, at load time, so that a missing or world-readable secret stops the
// gateway at start-up.
#pragma once

#include <map>
#include <string>

#include "config/PolicyConfig.h"
#include "config/PolicyConfigReader.h"
#include "config/YamlReader.h"

namespace px::config {

class RequesterConfigReader {
 public:
  explicit RequesterConfigReader(const YamlReader& yaml) : yaml_(yaml) {}

  // Name -> requester; `sites` gets where each requester's policy values were set.
  std::map<std::string, RequesterConfig> readRequesters(const Item& section,
                                                        RequesterSites& sites) const;

  // admin.users: user name (the requester name syntax) -> scrypt password hash, checked like a
  // requester's passwordHash.
  std::map<std::string, std::string> readAdminUsers(const Item& section) const;

 private:
  RequesterConfig readRequester(const std::string& name, const Item& at, const Item& section,
                                LevelSites& sites) const;
  std::string passwordHash(const Item& item) const;
  std::string digestSecret(const Item& item) const;

  const YamlReader& yaml_;
};

}  // namespace px::config

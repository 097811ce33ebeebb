#include "config/RequesterConfigReader.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string_view>
#include <system_error>
#include <vector>

#include "common/Ascii.h"
#include "config/TextSyntax.h"

namespace px::config {

namespace {

constexpr size_t kMaxSecretBytes = 1024;

bool isRequesterName(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return ascii::isAlnum(c) || c == '.' || c == '_' || c == '@' || c == '-';
  });
}

std::vector<std::string_view> split(std::string_view s, char separator) {
  std::vector<std::string_view> parts;
  while (true) {
    const size_t at = s.find(separator);
    parts.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return parts;
    s.remove_prefix(at + 1);
  }
}

// "" when `value` is a decimal number (no sign, no leading zero) in [min, max].
std::string numberProblem(std::string_view name, std::string_view value, unsigned min,
                          unsigned max) {
  const std::string range = std::to_string(min) + ".." + std::to_string(max);
  const bool digits = !value.empty() && value.size() <= 2 && value.front() != '0' &&
                      std::all_of(value.begin(), value.end(), ascii::isDigit);
  if (!digits || std::stoul(std::string(value)) < min || std::stoul(std::string(value)) > max) {
    return std::string(name) + " must be in " + range;
  }
  return "";
}

int base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// "" when `value` is canonical standard base64 without padding decoding to at least minBytes.
// Canonical (unused low bits of the last character zero) as js/auth/passwordHash.js demands, so
// that a hash accepted here is never refused at the first login.
std::string base64Problem(std::string_view what, std::string_view value, size_t minBytes) {
  if (value.find('=') != std::string_view::npos) {
    return std::string(what) + " must be base64 without '=' padding";
  }
  const bool alphabet =
      std::all_of(value.begin(), value.end(), [](char c) { return base64Value(c) >= 0; });
  // A length of 4n+1 cannot be base64: one character carries only 6 of a byte's 8 bits.
  if (!alphabet || value.size() % 4 == 1) {
    return std::string(what) + " must be standard base64 (A-Z a-z 0-9 + /)";
  }
  const int unusedBits = value.size() % 4 == 2 ? 4 : value.size() % 4 == 3 ? 2 : 0;
  if (unusedBits > 0 && (base64Value(value.back()) & ((1 << unusedBits) - 1)) != 0) {
    return std::string(what) + " must be canonical base64 (unused bits of the last character 0)";
  }
  if (value.size() * 3 / 4 < minBytes) {
    return std::string(what) + " must be at least " + std::to_string(minBytes) + " bytes";
  }
  return "";
}

// Why `h` is not "$scrypt$ln=<n>,r=<n>,p=<n>$<salt>$<hash>", or "" when it is.
std::string passwordHashProblem(std::string_view h) {
  constexpr std::string_view kPrefix = "$scrypt$";
  if (h.substr(0, kPrefix.size()) != kPrefix) return "it must start with \"$scrypt$\"";
  const std::vector<std::string_view> parts = split(h.substr(kPrefix.size()), '$');
  if (parts.size() != 3) return "it must have the parameters, the salt and the hash";
  const std::vector<std::string_view> params = split(parts[0], ',');
  constexpr std::string_view kNames[] = {"ln", "r", "p"};
  constexpr unsigned kMax[] = {20, 32, 16};
  if (params.size() != 3) return "the parameters must be ln=<n>,r=<n>,p=<n>";
  for (size_t i = 0; i < 3; ++i) {
    const size_t eq = params[i].find('=');
    if (eq == std::string_view::npos || params[i].substr(0, eq) != kNames[i]) {
      return "the parameters must be ln=<n>,r=<n>,p=<n>";
    }
    if (std::string p = numberProblem(kNames[i], params[i].substr(eq + 1), 1, kMax[i]);
        !p.empty()) {
      return p;
    }
  }
  // scrypt works in 128 * N * r bytes; js/auth refuses more than 1 GiB (ln + log2(r) > 23).
  const unsigned long ln = std::stoul(std::string(params[0].substr(3)));
  const unsigned long r = std::stoul(std::string(params[1].substr(2)));
  if ((uint64_t{128} << ln) * r > (uint64_t{1} << 30)) {
    return "ln and r need more than 1 GiB of memory (128 * 2^ln * r)";
  }
  if (std::string p = base64Problem("the salt", parts[1], 16); !p.empty()) return p;
  return base64Problem("the hash", parts[2], 32);
}

std::string octalMode(std::filesystem::perms p) {
  const auto bits = static_cast<unsigned>(p) & 07777U;
  std::string out;
  for (int shift = 9; shift >= 0; shift -= 3) {
    out += static_cast<char>('0' + ((bits >> shift) & 7U));
  }
  return out;
}

}  // namespace

std::map<std::string, RequesterConfig> RequesterConfigReader::readRequesters(
    const Item& section, RequesterSites& sites) const {
  std::map<std::string, RequesterConfig> requesters;
  for (const auto& [name, keyLine, item] : yaml_.entries(section)) {
    const Item at{item.node, item.path, keyLine};
    if (!isRequesterName(name)) {
      yaml_.fail(at, "expected a requester name of 1..64 characters A-Z a-z 0-9 . _ @ -, got " +
                         quote(name));
    }
    requesters.emplace(name, readRequester(name, at, item, sites[name]));
  }
  return requesters;
}

std::map<std::string, std::string> RequesterConfigReader::readAdminUsers(
    const Item& section) const {
  std::map<std::string, std::string> users;
  for (const auto& [name, keyLine, item] : yaml_.entries(section)) {
    const Item at{item.node, item.path, keyLine};
    if (!isRequesterName(name)) {
      yaml_.fail(
          at, "expected a user name of 1..64 characters A-Z a-z 0-9 . _ @ -, got " + quote(name));
    }
    const auto f = yaml_.fields(item, {"passwordHash"});
    const auto hash = f.find("passwordHash");
    if (hash == f.end()) {
      yaml_.fail(at, "missing key 'passwordHash' (npx parlayx-gateway hash-password prints one)");
    }
    users.emplace(name, passwordHash(hash->second));
  }
  return users;
}

RequesterConfig RequesterConfigReader::readRequester(const std::string& name, const Item& at,
                                                     const Item& section, LevelSites& sites) const {
  const auto f = yaml_.fields(section, {"passwordHash", "digestSecretFile", "policy"});
  RequesterConfig requester;
  requester.name = name;
  const auto hash = f.find("passwordHash");
  if (hash == f.end()) {
    yaml_.fail(at, "missing key 'passwordHash' (npx parlayx-gateway hash-password prints one)");
  }
  requester.passwordHash = passwordHash(hash->second);
  if (auto it = f.find("digestSecretFile"); it != f.end()) {
    requester.digestSecret = digestSecret(it->second);
  }
  const auto policy = f.find("policy");
  requester.policy = PolicyConfigReader(yaml_).readLevel(
      policy != f.end() ? policy->second : YamlReader::absent(section, "policy"), sites);
  return requester;
}

std::string RequesterConfigReader::passwordHash(const Item& item) const {
  const std::string hash = yaml_.text(item);
  // The value itself is not repeated in the message: hashes do not belong in logs.
  if (const std::string problem = passwordHashProblem(hash); !problem.empty()) {
    yaml_.fail(item,
               "expected a scrypt hash \"$scrypt$ln=<1..20>,r=<1..32>,p=<1..16>$<salt>$<hash>\" "
               "as printed by npx parlayx-gateway hash-password, but " +
                   problem);
  }
  return hash;
}

std::string RequesterConfigReader::digestSecret(const Item& item) const {
  namespace fs = std::filesystem;
  const std::string path = yaml_.resolvePath(item, yaml_.filePath(item));
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (status.type() == fs::file_type::not_found) {
    yaml_.fail(item, "cannot read " + quote(path) + ": no such file");
  }
  if (ec) yaml_.fail(item, "cannot read " + quote(path) + ": " + ec.message());
  if (status.type() != fs::file_type::regular) {
    yaml_.fail(item, quote(path) + " is not a regular file");
  }
  constexpr fs::perms kShared = fs::perms::group_all | fs::perms::others_all;
  if ((status.permissions() & kShared) != fs::perms::none) {
    yaml_.fail(item, quote(path) + " is accessible to group or others (mode " +
                         octalMode(status.permissions()) +
                         "): it holds a secret, make it readable by its owner only (chmod 600)");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) yaml_.fail(item, "cannot read " + quote(path));
  // One byte more than the longest acceptable content (secret plus "\r\n") tells "too long".
  constexpr size_t kReadLimit = kMaxSecretBytes + 3;
  char buf[kReadLimit];
  in.read(buf, static_cast<std::streamsize>(kReadLimit));
  if (in.bad()) yaml_.fail(item, "cannot read " + quote(path));
  std::string secret;
  secret.assign(buf, static_cast<size_t>(in.gcount()));
  if (secret.size() >= 2 && secret.compare(secret.size() - 2, 2, "\r\n") == 0) {
    secret.resize(secret.size() - 2);
  } else if (!secret.empty() && secret.back() == '\n') {
    secret.pop_back();
  }
  // The secret itself never appears in a message.
  if (secret.empty() || secret.size() > kMaxSecretBytes || hasControl(secret)) {
    yaml_.fail(item, quote(path) + " must hold 1.." + std::to_string(kMaxSecretBytes) +
                         " bytes without control characters (one final line break is ignored)");
  }
  return secret;
}

}  // namespace px::config

// groups.xcap.*: the XDMS group source (native/policy/XcapGroups).
#include "config/SectionFields.h"

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <stdexcept>
#include <string_view>
#include <utility>
#include "common/Ascii.h"
#include "config/ConfigValues.h"
#include "config/OutboundConfigReader.h"
#include "config/RequesterConfigReader.h"
#include "config/TextSyntax.h"

#include "config/FieldBuilders.h"

namespace px::config {

namespace {

using namespace schema;

// groups.xcap.root: "" or an http:// or https:// URL without a trailing '/'.
std::string readXcapRoot(const YamlReader& yaml, const Item& item) {
  const std::string url = yaml.text(item);
  if (url.empty()) return url;
  const bool scheme = url.rfind("https://", 0) == 0 || url.rfind("http://", 0) == 0;
  const bool clean = url.size() <= 2048 && !hasControl(url) && url.find(' ') == std::string::npos;
  if (!scheme || !clean || url.back() == '/' || url.size() <= std::string_view("http://").size()) {
    yaml.fail(item, "expected \"\" or an http:// or https:// URL without a trailing '/', got " +
                        quote(url));
  }
  return url;
}

// groups.xcap.user / documentPath: "" or one URL path (segment) without spaces, '?', '#' or
// control characters; the user is one segment (no '/'), the path is relative (no leading '/').
std::string readXcapPathText(const YamlReader& yaml, const Item& item, bool segment) {
  const std::string text = yaml.text(item);
  const bool bad =
      text.size() > 1024 || hasControl(text) || text.find_first_of(" ?#") != std::string::npos ||
      (segment ? text.find('/') != std::string::npos : (!text.empty() && text.front() == '/'));
  if (bad) {
    yaml.fail(item, segment ? "expected \"\" or an XUI without '/', spaces, '?' or '#', got " +
                                  quote(text)
                            : "expected \"\" or a relative path (no leading '/', no spaces, "
                              "'?' or '#'), got " +
                                  quote(text));
  }
  return text;
}
std::string readXcapUser(const YamlReader& yaml, const Item& item) {
  return readXcapPathText(yaml, item, true);
}
std::string readXcapDocumentPath(const YamlReader& yaml, const Item& item) {
  return readXcapPathText(yaml, item, false);
}

// groups.xcap.username: "" or printable text without ':' (HTTP Basic), 1..127 characters.
std::string readXcapUsername(const YamlReader& yaml, const Item& item) {
  const std::string name = yaml.text(item);
  if (name.empty()) return name;
  if (name.find(':') != std::string::npos) yaml.fail(item, "must not contain ':'");
  return yaml.label(item, 127);
}

// groups.xcap.passwordFile: a regular file readable by its owner only, resolved against the
// config file's directory (the gateway reads it at start).
void readXcapPasswordFile(const FieldInput& in, GatewayConfig& c) {
  namespace fs = std::filesystem;
  if (in.yaml.text(in.at).empty()) {
    c.groups.xcap.passwordFile.clear();
    return;
  }
  const std::string path = in.yaml.resolvePath(in.at, in.yaml.filePath(in.at));
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (ec || status.type() != fs::file_type::regular) {
    in.yaml.fail(in.at, "cannot read the password file " + quote(path) + ": no such regular file");
  }
  constexpr fs::perms kShared = fs::perms::group_all | fs::perms::others_all;
  if ((status.permissions() & kShared) != fs::perms::none) {
    in.yaml.fail(in.at, quote(path) +
                            " is accessible to group or others: it holds a secret, make it "
                            "readable by its owner only (chmod 600)");
  }
  c.groups.xcap.passwordFile = path;
}

}  // namespace

void addXcapGroupFields(std::vector<ConfigField>& f) {
  f.push_back(text("groups.xcap.root", PX_CONFIG_MEMBER(groups.xcap.root), &readXcapRoot,
                   "XCAP root URI of the XDMS holding resource-list groups; \"\" = no XCAP "
                   "groups."));
  f.push_back(text("groups.xcap.user", PX_CONFIG_MEMBER(groups.xcap.user), &readXcapUser,
                   "XUI of the document <root>/resource-lists/users/<user>/index."));
  f.push_back(
      then(text("groups.xcap.documentPath", PX_CONFIG_MEMBER(groups.xcap.documentPath),
                &readXcapDocumentPath,
                "Instead of user: the document's path below the root (no leading '/')."),
           [](const FieldInput& in, GatewayConfig& c) {
             const XcapGroupsConfig& x = c.groups.xcap;
             if (!x.user.empty() && !x.documentPath.empty()) {
               in.yaml.fail(in.at, "give groups.xcap.user or groups.xcap.documentPath, not both");
             }
             if (!x.root.empty() && x.user.empty() && x.documentPath.empty()) {
               in.yaml.fail(in.siblings.at("root"),
                            "groups.xcap.root needs groups.xcap.user or groups.xcap.documentPath");
             }
           }));
  f.push_back(
      then(integer("groups.xcap.timeoutMs", PX_CONFIG_MEMBER(groups.xcap.timeoutMs), 100, 60000,
                   "Longest wait for one request's XCAP documents, in ms; then "
                   "UNRESOLVED_GROUPS. Below http.requestTimeoutMs."),
           [](const FieldInput& in, GatewayConfig& c) {
             if (in.present && c.groups.xcap.timeoutMs >= c.http.requestTimeoutMs) {
               in.yaml.fail(in.at, "must be below http.requestTimeoutMs (" +
                                       std::to_string(c.http.requestTimeoutMs) + "), got " +
                                       std::to_string(c.groups.xcap.timeoutMs));
             }
           }));
  f.push_back(integer("groups.xcap.cacheSec", PX_CONFIG_MEMBER(groups.xcap.cacheSec), 0, 86400,
                      "How long a fetched XCAP document is used, in seconds; 0 = every request."));
  f.push_back(integer("groups.xcap.maxDepth", PX_CONFIG_MEMBER(groups.xcap.maxDepth), 0, 16,
                      "Most levels of nested lists and external references below a group."));
  f.push_back(text("groups.xcap.username", PX_CONFIG_MEMBER(groups.xcap.username),
                   &readXcapUsername,
                   "XCAP user name (HTTP Basic or Digest, as challenged); \"\" = none."));
  {
    ConfigField password{"groups.xcap.passwordFile", FieldType::kString,
                         "Owner-only file with the XCAP password, relative to the config file; "
                         "required with username.",
                         PX_CONFIG_MEMBER(groups.xcap.passwordFile)};
    password.read = &readXcapPasswordFile;
    password = then(std::move(password), [](const FieldInput& in, GatewayConfig& c) {
      const XcapGroupsConfig& x = c.groups.xcap;
      if (x.username.empty() != x.passwordFile.empty()) {
        in.yaml.fail(in.present ? in.at : in.siblings.at("username"),
                     "groups.xcap.username and groups.xcap.passwordFile go together");
      }
    });
    f.push_back(password);
  }
}

}  // namespace px::config

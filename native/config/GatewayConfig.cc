// Loads config/gateway.yaml into GatewayConfig. yaml-cpp only parses; everything else (unknown
// and duplicate keys, types, ranges, formats) is checked through YamlReader so that every mistake
// is reported with file, line and dotted key path instead of being silently ignored. The keys,
// sections and their order come from the schema (ConfigSchema.cc); requesters and policy are read
// by RequesterConfigReader and PolicyConfigReader, then checked by the override rule.
#include "config/GatewayConfig.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string_view>
#include <system_error>
#include <utility>

#include "config/ConfigSchema.h"
#include "config/OverrideRule.h"
#include "config/PolicyConfigReader.h"
#include "config/RequesterConfigReader.h"
#include "config/YamlReader.h"

namespace px {

namespace {

using config::checkOverrides;
using config::ConfigField;
using config::describe;
using config::FieldInput;
using config::Item;
using config::LevelSites;
using config::lineOf;
using config::PolicyConfigReader;
using config::quote;
using config::RequesterConfigReader;
using config::RequesterSites;
using config::YamlReader;

class Loader {
 public:
  explicit Loader(const YamlReader& yaml) : yaml_(yaml) {}

  GatewayConfig load(const YAML::Node& root) {
    GatewayConfig cfg;
    const Item doc{root, "", lineOf(root, 1)};
    if (!root.IsNull() && !root.IsMap()) {
      yaml_.fail(doc,
                 "expected a mapping of sections (service, http, sip, ...), got " + describe(root));
    }
    readSection(doc, "", cfg);
    // After every section: the notification limits of the policy levels are compared with the
    // notifications section, which comes after requesters and policy.
    checkOverrides(yaml_, cfg.policy.defaults, policySites_, cfg.requesters, requesterSites_,
                   cfg.notifications.limits());
    return cfg;
  }

 private:
  // One key of a section: a field, or a section of fields below it.
  struct Child {
    std::string name;
    const ConfigField* field;  // nullptr: a section
    int rank;
  };

  // Reads the section at `prefix` ("" = the document, else "a.b."). Its keys are the next path
  // components of the schema's fields below it, in schema order; absent sections are walked too
  // (with no node) so that derived defaults and always-resolved paths are applied.
  void readSection(const Item& section, const std::string& prefix, GatewayConfig& cfg) {
    std::vector<Child> children;
    std::vector<std::string> known;
    for (const ConfigField& field : config::configFields()) {
      if (field.key.substr(0, prefix.size()) != prefix) continue;
      const std::string_view rest = field.key.substr(prefix.size());
      const size_t dot = rest.find('.');
      const std::string name(rest.substr(0, dot));
      if (std::find(known.begin(), known.end(), name) != known.end()) continue;
      known.push_back(name);
      const bool leaf = dot == std::string_view::npos;
      children.push_back(Child{name, leaf ? &field : nullptr, leaf ? field.readRank : 0});
    }
    const auto f = yaml_.fields(section, known);
    std::stable_sort(children.begin(), children.end(),
                     [](const Child& a, const Child& b) { return a.rank < b.rank; });
    for (const Child& child : children) {
      const auto it = f.find(child.name);
      const bool present = it != f.end();
      const Item at = present ? it->second : YamlReader::absent(section, child.name);
      if (child.field == nullptr) {
        readSection(at, prefix + child.name + ".", cfg);
      } else if (child.field->key == "requesters") {
        cfg.requesters = RequesterConfigReader(yaml_).readRequesters(at, requesterSites_);
      } else if (child.field->key == "policy") {
        cfg.policy = PolicyConfigReader(yaml_).readPolicy(at, policySites_);
      } else {
        config::readField(*child.field, FieldInput{yaml_, at, present, f}, cfg);
      }
    }
  }

  const YamlReader& yaml_;
  RequesterSites requesterSites_;  // read with requesters, used by the override rule
  LevelSites policySites_;         // read with policy, used by the override rule
};

// Records where each document starts; the events themselves are not needed.
class DocumentStarts : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> starts;
  void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

// Refuses a stream with several documents (YAML::Load would silently use the first) and the
// token yaml-cpp 0.7 cannot consume (e.g. a stray ',' in block context): there its parser reports
// a null document at the same position again and again (yaml-cpp PR #1319), which LoadAll turns
// into an endless loop and Load into a silently empty config. At most three documents are read.
void checkSingleDocument(const std::string& yaml, const std::string& name) {
  std::istringstream in(yaml);
  YAML::Parser parser(in);
  DocumentStarts docs;
  while (docs.starts.size() < 3 && parser.HandleNextDocument(docs)) {
  }
  for (size_t i = 1; i < docs.starts.size(); ++i) {
    const YAML::Mark& m = docs.starts[i];
    if (m.pos == docs.starts[i - 1].pos) {
      const std::string what = m.pos >= 0 && static_cast<size_t>(m.pos) < yaml.size()
                                   ? "unexpected " + quote(yaml.substr(m.pos, 1))
                                   : "unexpected content";
      throw ConfigError(name, m.line + 1, "", what + " (YAML syntax error)");
    }
  }
  if (docs.starts.size() > 1) {
    throw ConfigError(name, docs.starts[1].line + 1, "",
                      "expected one YAML document, found another one here");
  }
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

namespace {

GatewayConfig loadText(const std::string& yaml, const std::string& name,
                       const std::string& configPath) {
  try {
    checkSingleDocument(yaml, name);
    // YAML::Load, not LoadAll: LoadAll of yaml-cpp 0.7 never returns on some malformed input.
    const YamlReader reader(name, configPath);
    return Loader(reader).load(YAML::Load(yaml));
  } catch (const ConfigError&) {
    throw;
  } catch (const YAML::Exception& e) {
    // ParserException and friends: yaml-cpp's message and position, not its formatted what().
    throw ConfigError(name, e.mark.is_null() ? 0 : e.mark.line + 1, "", e.msg);
  } catch (const std::exception& e) {
    throw ConfigError(name, 0, "", e.what());
  }
}

}  // namespace

GatewayConfig loadConfigText(const std::string& yaml, const std::string& name) {
  return loadText(yaml, name, "");
}

GatewayConfig loadConfigFile(const std::string& path) {
  std::string text;
  {
    errno = 0;
    std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
    if (!f) {
      throw ConfigError(path, 0, "", "cannot read file: " + std::generic_category().message(errno));
    }
    char buf[8192];
    size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) text.append(buf, n);
    if (std::ferror(f.get())) {  // e.g. EISDIR: fopen() accepts a directory, reading fails
      throw ConfigError(path, 0, "", "cannot read file: " + std::generic_category().message(errno));
    }
  }
  GatewayConfig cfg = loadText(text, path, path);
  cfg.sourcePath = path;
  return cfg;
}

}  // namespace px

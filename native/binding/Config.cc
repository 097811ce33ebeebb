// Configuration between the core and JS: loading from {path} or {text, name}, the validated
// configuration as a plain JS object, and the schema itself (configSchema()). Both walk the
// schema table (config/ConfigSchema.h), so a new key needs no code here; only the structured
// parts, whose JS shape is not the YAML's, are converted by hand.
#include "binding/Config.h"

#include <string>
#include <string_view>
#include <vector>

#include "config/ConfigSchema.h"

namespace px {

namespace {

using config::ConfigField;
using config::FieldType;
using config::FieldValue;

Napi::Value toJs(Napi::Env env, const std::vector<std::string>& values) {
  Napi::Array array = Napi::Array::New(env, values.size());
  for (uint32_t i = 0; i < values.size(); ++i) array.Set(i, values[i]);
  return array;
}

Napi::Value toJs(Napi::Env env, const FieldValue& value) {
  if (const auto* n = std::get_if<uint32_t>(&value)) return Napi::Number::New(env, *n);
  if (const auto* b = std::get_if<bool>(&value)) return Napi::Boolean::New(env, *b);
  if (const auto* s = std::get_if<std::string>(&value)) return Napi::String::New(env, *s);
  if (const auto* l = std::get_if<std::vector<std::string>>(&value)) return toJs(env, *l);
  return env.Undefined();
}

// The object at the dotted `path` below `root`, created when missing; `leaf` gets the last
// component.
Napi::Object parentOf(Napi::Env env, Napi::Object root, std::string_view path, std::string* leaf) {
  Napi::Object o = root;
  for (size_t dot = path.find('.'); dot != std::string_view::npos; dot = path.find('.')) {
    const std::string name(path.substr(0, dot));
    if (!o.Has(name)) o.Set(name, Napi::Object::New(env));
    o = o.Get(name).As<Napi::Object>();
    path.remove_prefix(dot + 1);
  }
  *leaf = std::string(path);
  return o;
}

// An object without prototype, so that a key such as "__proto__" (a valid requester name) is a
// key like any other.
Napi::Object bareObject(Napi::Env env) {
  return env.Global()
      .Get("Object")
      .As<Napi::Object>()
      .Get("create")
      .As<Napi::Function>()
      .Call({env.Null()})
      .As<Napi::Object>();
}

// The structured rows of the schema, in their JS shape (index.d.ts GatewayConfig).
void structuredToJs(Napi::Env env, Napi::Object parent, const std::string& leaf,
                    std::string_view key, const GatewayConfig& c) {
  if (key == "groups.members") {
    Napi::Object members = Napi::Object::New(env);
    for (const auto& [group, list] : c.groups.members) members.Set(group, toJs(env, list));
    parent.Set(leaf, members);
  } else if (key == "requesters") {
    // Credentials only: the policy stays in the core, which applies it.
    Napi::Object requesters = bareObject(env);
    for (const auto& [name, r] : c.requesters) {
      Napi::Object requester = Napi::Object::New(env);
      requester.Set("passwordHash", r.passwordHash);
      requester.Set("digestSecret", r.digestSecret);
      requesters.Set(name, requester);
    }
    parent.Set(leaf, requesters);
  } else if (key == "admin.users") {
    Napi::Object users = bareObject(env);
    for (const auto& [name, hash] : c.admin.users) {
      Napi::Object user = Napi::Object::New(env);
      user.Set("passwordHash", hash);
      users.Set(name, user);
    }
    parent.Set(leaf, users);
  } else if (key == "calls.busyCodes" || key == "calls.noAnswerCodes" ||
             key == "calls.notReachableCodes") {
    const std::vector<int>& codes = key == "calls.busyCodes"       ? c.calls.busyCodes
                                    : key == "calls.noAnswerCodes" ? c.calls.noAnswerCodes
                                                                   : c.calls.notReachableCodes;
    Napi::Array list = Napi::Array::New(env, codes.size());
    for (uint32_t i = 0; i < codes.size(); ++i) list.Set(i, codes[i]);
    parent.Set(leaf, list);
  } else if (key == "camara.clients") {
    Napi::Object clients = bareObject(env);
    for (const auto& [client, requester] : c.camara.clients) clients.Set(client, requester);
    parent.Set(leaf, clients);
  } else if (key == "outbound.allow") {
    parent.Set("allowCidrs", toJs(env, c.outbound.allowCidrs));
    parent.Set("allowHosts", toJs(env, c.outbound.allowHosts));
  }
  // "policy": not exported, the core applies it.
}

}  // namespace

Napi::Object configToJs(Napi::Env env, const GatewayConfig& c) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("sourcePath", c.sourcePath);
  for (const ConfigField& field : config::configFields()) {
    std::string leaf;
    Napi::Object parent = parentOf(env, o, field.key, &leaf);
    if (field.type == FieldType::kStructured) {
      structuredToJs(env, parent, leaf, field.key, c);
    } else {
      parent.Set(leaf, toJs(env, config::fieldValue(field, c)));
    }
  }
  return o;
}

Napi::Value ConfigSchema(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const GatewayConfig defaults;
  const std::vector<ConfigField>& fields = config::configFields();
  Napi::Array out = Napi::Array::New(env, fields.size());
  for (uint32_t i = 0; i < fields.size(); ++i) {
    const ConfigField& field = fields[i];
    Napi::Object row = Napi::Object::New(env);
    row.Set("key", std::string(field.key));
    row.Set("type", std::string(config::fieldTypeName(field.type)));
    row.Set("doc", std::string(field.doc));
    if (field.type != FieldType::kStructured) {
      row.Set("default", toJs(env, config::fieldValue(field, defaults)));
    }
    if (field.type == FieldType::kInteger) {
      row.Set("min", Napi::Number::New(env, field.min));
      row.Set("max", Napi::Number::New(env, field.max));
      if (!field.maxKey.empty()) row.Set("maxKey", std::string(field.maxKey));
    }
    if (!field.values.empty()) {
      std::vector<std::string> values(field.values.begin(), field.values.end());
      row.Set("values", toJs(env, values));
    }
    out.Set(i, row);
  }
  return out;
}

// Reads {path} or {text, name} and throws a JS Error carrying file/line/key on a config error.
GatewayConfig loadConfigFromJs(const Napi::Env& env, const Napi::Value& arg) {
  if (!arg.IsObject()) throw Napi::TypeError::New(env, "expected {path} or {text, name}");
  Napi::Object options = arg.As<Napi::Object>();
  try {
    if (options.Has("text")) {
      std::string name = options.Has("name") ? options.Get("name").ToString().Utf8Value()
                                             : std::string("<config>");
      return loadConfigText(options.Get("text").ToString().Utf8Value(), name);
    }
    if (options.Has("path")) return loadConfigFile(options.Get("path").ToString().Utf8Value());
  } catch (const ConfigError& e) {
    Napi::Error error = Napi::Error::New(env, e.what());
    error.Set("code", "ERR_PX_CONFIG");
    error.Set("file", e.file());
    error.Set("line", Napi::Number::New(env, e.line()));
    error.Set("key", e.key());
    throw error;
  }
  throw Napi::TypeError::New(env, "expected {path} or {text, name}");
}

}  // namespace px

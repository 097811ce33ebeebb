// Readers of single configured values that have a format beyond "integer in a range" or "true or
// false": hosts, URIs, URL paths, names and the lists of them. The schema (ConfigSchema.cc)
// points its fields at these; each throws ConfigError through YamlReader::fail.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "config/GatewayConfig.h"
#include "config/YamlReader.h"

namespace px::config {

// Listening host for node:http or Sofia-SIP: a host name, IPv4 or bare IPv6 literal.
std::string readHost(const YamlReader& yaml, const Item& item);
// A sip:/sips: URI as the address module parses routing URIs.
std::string readSipUri(const YamlReader& yaml, const Item& item);
// http.basePath: "/" or a URL path starting with '/', not ending with '/'.
std::string readBasePath(const YamlReader& yaml, const Item& item);
// sip.telDomain: a domain name, IPv4, [IPv6] or "".
std::string readTelDomain(const YamlReader& yaml, const Item& item);
// authentication.realm: printable ASCII without '"' and '\' (sent as an HTTP quoted-string).
std::string readRealm(const YamlReader& yaml, const Item& item);

std::vector<SipTransport> readTransports(const YamlReader& yaml, const Item& item);
std::vector<std::string> readBusyActivities(const YamlReader& yaml, const Item& item);
std::vector<std::string> readGroupSchemes(const YamlReader& yaml, const Item& item);
// groups.members, checked against the group schemes read before it.
std::map<std::string, std::vector<std::string>> readGroupMembers(
    const YamlReader& yaml, const Item& item, const std::vector<std::string>& schemes);
// IP literals or CIDR blocks, stored in canonical form.
std::vector<std::string> readTrustedSources(const YamlReader& yaml, const Item& item);
UsageDurability readDurability(const YamlReader& yaml, const Item& item);

// This machine's host name, for the usage records' HOST column; `at` locates the error.
std::string machineName(const YamlReader& yaml, const Item& at);

}  // namespace px::config

#include "sip/CallParticipants.h"

#include <string_view>

#include "address/Address.h"
#include "common/Ascii.h"

// After Sofia.h (through CallParticipants.h), which includes su_config.h first.
#include <sofia-sip/sip_extra.h>
#include <sofia-sip/su_string.h>
#include <sofia-sip/url.h>

namespace px {

namespace {

std::string urlText(const url_t* url) {
  if (!url) return "";
  SuHome home(static_cast<su_home_t*>(su_home_new(sizeof(su_home_t))));
  if (!home) return "";
  char* text = url_as_string(home.get(), url);
  return text ? std::string(text) : std::string();
}

// The canonical form of a URI, or the URI as received when our parser refuses it.
std::string canonicalOr(const std::string& text) {
  const AddressParseResult parsed = parseAddress(text, AddressUse::kRouting);
  return parsed.ok() ? parsed.address.canonical : text;
}

std::string unquote(const char* display) {
  if (!display) return "";
  std::string_view text(display);
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
    text = text.substr(1, text.size() - 2);
  }
  return std::string(text);
}

CallerId callerFrom(const url_t* url, const char* display) {
  return CallerId{canonicalOr(urlText(url)), unquote(display)};
}

}  // namespace

// The forms of the called party a registration may name, most specific first: the Request-URI's
// canonical form, the same without URI parameters, and for sip:<number>@host;user=phone (or a
// tel: Request-URI) the tel: form.
std::vector<std::string> calledPartyForms(const url_t* uri) {
  std::vector<std::string> forms;
  if (!uri) return forms;
  const AddressParseResult parsed = parseAddress(urlText(uri), AddressUse::kRouting);
  if (!parsed.ok()) return forms;
  const Address& address = parsed.address;
  forms.push_back(address.canonical);
  if (address.scheme == AddressScheme::kTel) return forms;
  std::string bare = (address.scheme == AddressScheme::kSips ? "sips:" : "sip:");
  if (!address.user.empty()) bare += address.user + "@";
  bare += address.host;
  if (address.port != 0) bare += ":" + std::to_string(address.port);
  const AddressParseResult plain = parseAddress(bare, AddressUse::kRouting);
  if (plain.ok() && plain.address.canonical != forms.front()) {
    forms.push_back(plain.address.canonical);
  }
  const std::string params = uri->url_params ? ascii::lowered(uri->url_params) : "";
  if (params.find("user=phone") != std::string::npos && !address.user.empty()) {
    const std::string number = address.user.substr(0, address.user.find(';'));
    const AddressParseResult tel = parseAddress("tel:" + number, AddressUse::kRouting);
    if (tel.ok()) forms.push_back(tel.address.canonical);
  }
  return forms;
}

// P-Asserted-Identity (RFC 3325: the network-asserted caller; the first one when there are
// several), else From. Sofia's default parser keeps P-Asserted-Identity as an unknown header.
CallerId callerOf(sip_t const* sip) {
  if (const sip_p_asserted_identity_t* pai = sip_p_asserted_identity(sip)) {
    return callerFrom(pai->paid_url, pai->paid_display);
  }
  for (const sip_unknown_t* h = sip->sip_unknown; h; h = h->un_next) {
    if (!h->un_name || !h->un_value || !su_casematch(h->un_name, "P-Asserted-Identity")) continue;
    std::string value = h->un_value;
    const size_t close = value.find('>');
    if (close != std::string::npos) value.resize(close + 1);
    SuHome home(static_cast<su_home_t*>(su_home_new(sizeof(su_home_t))));
    if (!home) break;
    const sip_from_t* parsed = sip_from_make(home.get(), value.c_str());
    if (parsed && parsed->a_url->url_type != url_invalid) {
      return callerFrom(parsed->a_url, parsed->a_display);
    }
    break;
  }
  return callerFrom(sip->sip_from->a_url, sip->sip_from->a_display);
}

}  // namespace px

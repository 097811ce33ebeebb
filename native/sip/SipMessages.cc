#include "sip/SipMessages.h"

#include <cstdlib>
#include <vector>

#include "address/Address.h"

namespace px {

std::optional<IpCidr> sourceOf(msg_t* msg) {
  const su_addrinfo_t* ai = msg ? msg_addrinfo(msg) : nullptr;
  return ai ? IpCidr::fromSockaddr(ai->ai_addr) : std::nullopt;
}

std::optional<IpCidr> responseSource(nta_outgoing_t* orq) {
  msg_t* response = nta_outgoing_getresponse(orq);  // a reference: released below
  std::optional<IpCidr> source = sourceOf(response);
  if (response) msg_destroy(response);
  return source;
}

SipReader::SipReader() : home_(static_cast<su_home_t*>(su_home_new(sizeof(su_home_t)))) {}

SubscribeAnswer SipReader::readAnswer(nta_outgoing_t* orq, sip_t const* sip) {
  SubscribeAnswer info;
  info.status = nta_outgoing_status(orq);
  info.source = responseSource(orq);
  if (sip && sip->sip_status && sip->sip_status->st_phrase) {
    info.phrase = sip->sip_status->st_phrase;
  } else if (info.status == 408) {
    info.phrase = "Request Timeout";
  }
  if (!sip || info.status >= 300) return info;
  if (sip->sip_to && sip->sip_to->a_tag) info.toTag = sip->sip_to->a_tag;
  // A target or route that is not a clean sip:/sips: URI is not adopted (see usableUri).
  if (sip->sip_contact) info.contact = usableUri(sip->sip_contact->m_url);
  if (routesUsable(sip->sip_record_route)) info.routes = routeSet(sip->sip_record_route, true);
  if (sip->sip_expires) info.expires = sip->sip_expires->ex_delta;
  return info;
}

NotifyFacts SipReader::readNotify(sip_t const* sip, const std::optional<IpCidr>& source,
                                  std::string_view event) {
  NotifyFacts facts;
  facts.callId = sip->sip_call_id->i_id;
  if (sip->sip_to && sip->sip_to->a_tag) facts.toTag = sip->sip_to->a_tag;
  if (sip->sip_from && sip->sip_from->a_tag) facts.fromTag = sip->sip_from->a_tag;
  facts.source = source;
  if (sip->sip_contact) facts.contact = usableUri(sip->sip_contact->m_url);
  facts.usable =
      (!sip->sip_contact || !facts.contact.empty()) && routesUsable(sip->sip_record_route);
  facts.presenceEvent = isEvent(sip, event);
  if (sip->sip_cseq) facts.cseq = sip->sip_cseq->cs_seq;
  if (const sip_subscription_state_t* state = sip->sip_subscription_state) {
    if (state->ss_substate) facts.substate = state->ss_substate;
    if (state->ss_reason) facts.reason = state->ss_reason;
    if (state->ss_retry_after)
      facts.retryAfterSec = std::strtoull(state->ss_retry_after, nullptr, 10);
    if (state->ss_expires) facts.expiresSec = std::strtoull(state->ss_expires, nullptr, 10);
  }
  const sip_record_route_t* rr = sip->sip_record_route;
  facts.routes = [this, rr] { return routeSet(rr, false); };
  facts.contentType = contentTypeOf(sip);
  facts.body = bodyOf(sip);
  return facts;
}

std::unique_ptr<RouteSet> SipReader::routeSet(const sip_record_route_t* rr, bool reverse) {
  std::vector<std::string> entries;
  for (; rr; rr = rr->r_next) {
    char* text = sip_header_as_string(home_.get(), reinterpret_cast<sip_header_t const*>(rr));
    if (text) {
      entries.emplace_back(text);
      su_free(home_.get(), text);
    }
  }
  return routeSetFrom(std::move(entries), reverse);
}

std::string SipReader::usableUri(const url_t* url) {
  std::string text = urlString(url);
  for (unsigned char c : text) {
    if (c <= 0x20 || c >= 0x7f) return std::string();
  }
  const AddressParseResult parsed = parseAddress(text, AddressUse::kRouting);
  if (!parsed.ok() || (parsed.address.scheme != AddressScheme::kSip &&
                       parsed.address.scheme != AddressScheme::kSips)) {
    return std::string();
  }
  return text;
}

bool SipReader::routesUsable(const sip_record_route_t* rr) {
  for (; rr; rr = rr->r_next) {
    if (usableUri(rr->r_url).empty()) return false;
  }
  return true;
}

std::string SipReader::urlString(const url_t* url) {
  char* text = url_as_string(home_.get(), url);
  if (!text) return std::string();
  std::string out(text);
  su_free(home_.get(), text);
  return out;
}

bool isPresenceEvent(sip_t const* sip) {
  return isEvent(sip, "presence");
}

bool isEvent(sip_t const* sip, std::string_view event) {
  return sip->sip_event && sip->sip_event->o_type &&
         std::string_view(sip->sip_event->o_type) == event;
}

std::string_view contentTypeOf(sip_t const* sip) {
  return sip->sip_content_type && sip->sip_content_type->c_type ? sip->sip_content_type->c_type
                                                                : "";
}

std::string fullContentTypeOf(sip_t const* sip) {
  if (!sip->sip_content_type || !sip->sip_content_type->c_type) return {};
  std::string type = sip->sip_content_type->c_type;
  if (msg_param_t const* params = sip->sip_content_type->c_params) {
    for (; *params; ++params) {
      type += ';';
      type += *params;
    }
  }
  return type;
}

std::string_view bodyOf(sip_t const* sip) {
  if (!sip->sip_payload || !sip->sip_payload->pl_data) return {};
  return std::string_view(sip->sip_payload->pl_data, sip->sip_payload->pl_len);
}

}  // namespace px

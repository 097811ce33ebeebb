// PresenceWatcher::Stack: what the stack reads from SIP messages (responses, remote targets, route
// sets, PIDF bodies) and whose NOTIFYs it believes.
#include "sip/PresenceStack.h"

namespace px {

auto PresenceWatcher::Stack::readResponse(nta_outgoing_t* orq, sip_t const* sip) -> ResponseInfo {
  ResponseInfo info;
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
  if (routesUsable(sip->sip_record_route)) info.routes = makeRouteSet(sip->sip_record_route, true);
  if (sip->sip_expires) info.expires = sip->sip_expires->ex_delta;
  return info;
}

std::string PresenceWatcher::Stack::describe(const ResponseInfo& info) {
  return std::to_string(info.status) + (info.phrase.empty() ? "" : " " + info.phrase);
}

auto PresenceWatcher::Stack::makeRouteSet(const sip_record_route_t* rr, bool reverse)
    -> std::unique_ptr<RouteSet> {
  std::vector<std::string> entries;
  for (; rr; rr = rr->r_next) {
    char* text = sip_header_as_string(home_.get(), reinterpret_cast<sip_header_t const*>(rr));
    if (text) {
      entries.emplace_back(text);
      su_free(home_.get(), text);
    }
  }
  if (entries.empty()) return nullptr;
  if (reverse) std::reverse(entries.begin(), entries.end());
  auto routes = std::make_unique<RouteSet>();
  for (const std::string& entry : entries) {
    if (!routes->header.empty()) routes->header += ", ";
    routes->header += entry;
  }
  const std::string& first = entries.front();
  const size_t open = first.find('<');
  const size_t close = first.find('>', open == std::string::npos ? 0 : open);
  routes->firstHop = open != std::string::npos && close != std::string::npos
                         ? first.substr(open + 1, close - open - 1)
                         : first.substr(0, first.find(';'));
  return routes;
}

std::string PresenceWatcher::Stack::usableUri(const url_t* url) {
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

bool PresenceWatcher::Stack::routesUsable(const sip_record_route_t* rr) {
  for (; rr; rr = rr->r_next) {
    if (usableUri(rr->r_url).empty()) return false;
  }
  return true;
}

std::string PresenceWatcher::Stack::urlString(const url_t* url) {
  char* text = url_as_string(home_.get(), url);
  if (!text) return std::string();
  std::string out(text);
  su_free(home_.get(), text);
  return out;
}

bool PresenceWatcher::Stack::isPresenceEvent(sip_t const* sip) {
  return sip->sip_event && sip->sip_event->o_type &&
         std::string_view(sip->sip_event->o_type) == "presence";
}

PresenceMapping PresenceWatcher::Stack::mapBody(sip_t const* sip) const {
  const std::string_view contentType =
      sip->sip_content_type && sip->sip_content_type->c_type ? sip->sip_content_type->c_type : "";
  std::string_view body;
  if (sip->sip_payload && sip->sip_payload->pl_data) {
    body = std::string_view(sip->sip_payload->pl_data, sip->sip_payload->pl_len);
  }
  return mapper_.map(contentType, body);
}

void PresenceWatcher::Stack::resolveNotifySources(const SipConfig& sip) {
  for (const std::string& text : sip.trustedNotifySources) {
    if (auto cidr = IpCidr::parse(text)) notifySources_.push_back(*cidr);
  }
  const std::string host = uriHost(sip.presenceServerUri);
  if (auto literal = IpCidr::parse(host)) {
    notifySources_.push_back(*literal);
    return;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* list = nullptr;
  if (host.empty() || ::getaddrinfo(host.c_str(), nullptr, &hints, &list) != 0) return;
  for (const addrinfo* ai = list; ai; ai = ai->ai_next) {
    if (auto address = IpCidr::fromSockaddr(ai->ai_addr)) notifySources_.push_back(*address);
  }
  ::freeaddrinfo(list);
}

std::optional<IpCidr> PresenceWatcher::Stack::responseSource(nta_outgoing_t* orq) {
  msg_t* response = nta_outgoing_getresponse(orq);  // a reference: released below
  std::optional<IpCidr> source = sourceOf(response);
  if (response) msg_destroy(response);
  return source;
}

bool PresenceWatcher::Stack::notifySourceAllowed(const std::optional<IpCidr>& source,
                                                 const std::optional<IpCidr>& peer,
                                                 const std::string* remoteTarget,
                                                 const std::string* firstHop) const {
  if (!owner_.config_.sip.checkNotifySource) return true;
  if (!source) return false;
  for (const IpCidr& allowed : notifySources_) {
    if (allowed.contains(*source)) return true;
  }
  if (peer && peer->contains(*source)) return true;
  for (const std::string* uri : {remoteTarget, firstHop}) {
    if (!uri || uri->empty()) continue;
    if (auto host = IpCidr::parse(uriHost(*uri)); host && host->contains(*source)) return true;
  }
  return false;
}

int PresenceWatcher::Stack::refuseSource() {
  std::lock_guard<std::mutex> lock(owner_.statsMutex_);
  owner_.stats_.notifySourceRefused++;
  return 403;
}

}  // namespace px

// PresenceWatcher::Stack: one-shot presence fetches (SUBSCRIBE Expires: 0 and its NOTIFY) and the
// stateless dispatch of every incoming request.
#include "sip/PresenceStack.h"

namespace px {

void PresenceWatcher::Stack::startFetch(const Command& command) {
  if (Clock::now() >= command.deadline) {
    finishQueued(command, FetchOutcome::Kind::kTimeout, "fetch timed out before it was sent");
    return;
  }
  const SipConfig& sip = owner_.config_.sip;
  {
    // Counted before the SUBSCRIBE leaves, so stats never lag what the network has seen.
    std::lock_guard<std::mutex> lock(owner_.statsMutex_);
    owner_.stats_.started++;
    owner_.stats_.inFlight++;
  }
  Pending pending;
  pending.started = command.deadline - timeout_;
  pending.fromTag = hex(tagPrefix_ ^ command.id);
  pending.callId = pending.fromTag + "-" + std::to_string(command.id) + "@" + host_;
  const std::string from = "<" + sip.watcherUri + ">;tag=" + pending.fromTag;
  const std::string to = "<" + command.requestUri + ">";
  pending.subscribe.reset(nta_outgoing_tcreate(
      leg_.get(), &Stack::onResponse, reinterpret_cast<nta_outgoing_magic_t*>(this),
      URL_STRING_MAKE(routeUrl_.c_str()), sip_method_subscribe, "SUBSCRIBE",
      URL_STRING_MAKE(command.requestUri.c_str()), SIPTAG_ROUTE(route_),
      SIPTAG_FROM_STR(from.c_str()), SIPTAG_TO_STR(to.c_str()),
      SIPTAG_CALL_ID_STR(pending.callId.c_str()), SIPTAG_CSEQ_STR("1 SUBSCRIBE"),
      SIPTAG_CONTACT(nta_agent_contact(agent_.get())), SIPTAG_EVENT(event_), SIPTAG_ACCEPT(accept_),
      SIPTAG_EXPIRES(expires_), SIPTAG_USER_AGENT(userAgent_), TAG_END()));
  if (!pending.subscribe) {
    {
      std::lock_guard<std::mutex> lock(owner_.statsMutex_);
      owner_.stats_.started--;
      owner_.stats_.inFlight--;
    }
    finishQueued(command, FetchOutcome::Kind::kSipError,
                 "cannot send SUBSCRIBE to " + command.requestUri);
    return;
  }
  byCallId_.emplace(pending.callId, command.id);
  byTransaction_.emplace(pending.subscribe.get(), command.id);
  pending_.emplace(command.id, std::move(pending));
  deadlines_.emplace_back(command.deadline, command.id);
  armTimer();
}

void PresenceWatcher::Stack::finishQueued(const Command& command, FetchOutcome::Kind kind,
                                          std::string detail) {
  FetchOutcome outcome;
  outcome.id = command.id;
  outcome.kind = kind;
  outcome.detail = std::move(detail);
  outcome.elapsedMs = elapsedSince(command.deadline - timeout_);
  owner_.pushOutcome(std::move(outcome));
}

void PresenceWatcher::Stack::finish(uint64_t id, FetchOutcome outcome) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  outcome.id = id;
  outcome.elapsedMs = elapsedSince(it->second.started);
  byCallId_.erase(it->second.callId);
  byTransaction_.erase(it->second.subscribe.get());
  pending_.erase(it);
  {
    std::lock_guard<std::mutex> lock(owner_.statsMutex_);
    owner_.stats_.completed++;
    owner_.stats_.inFlight--;
    if (outcome.kind == FetchOutcome::Kind::kTimeout) owner_.stats_.timeouts++;
    if (outcome.kind == FetchOutcome::Kind::kSipError) owner_.stats_.sipErrors++;
  }
  owner_.pushOutcome(std::move(outcome));
}

int PresenceWatcher::Stack::onResponse(nta_outgoing_magic_t* magic, nta_outgoing_t* orq,
                                       sip_t const* sip) {
  auto* self = reinterpret_cast<Stack*>(magic);
  try {
    auto found = self->byTransaction_.find(orq);
    if (found != self->byTransaction_.end()) self->handleResponse(found->second, orq, sip);
  } catch (...) {
  }
  return 0;
}

int PresenceWatcher::Stack::handleResponse(uint64_t id, nta_outgoing_t* orq, sip_t const* sip) {
  const int status = nta_outgoing_status(orq);
  if (status < 200) return 0;
  auto it = pending_.find(id);
  if (it == pending_.end()) return 0;
  if (status < 300) {
    // Final 2xx: the transaction is done; the fetch waits for its NOTIFY. Keeping the
    // transaction object until the fetch ends lets NTA absorb 2xx retransmissions.
    it->second.peer = responseSource(orq);
    return 0;
  }
  FetchOutcome outcome;
  outcome.kind = FetchOutcome::Kind::kSipError;
  outcome.sipStatus = status;
  outcome.detail = sip && sip->sip_status && sip->sip_status->st_phrase
                       ? sip->sip_status->st_phrase
                       : (status == 408 ? "Request Timeout" : "");
  finish(id, std::move(outcome));
  return 0;
}

int PresenceWatcher::Stack::onMessage(nta_agent_magic_t* magic, nta_agent_t* agent, msg_t* msg,
                                      sip_t* sip) {
  if (!sip || !sip->sip_request) {
    try {
      if (sip) reinterpret_cast<Stack*>(magic)->onCloseAnswer(sip);
    } catch (...) {
    }
    msg_destroy(msg);
    return 0;
  }
  int status = 500;
  try {
    auto* self = reinterpret_cast<Stack*>(magic);
    const su_addrinfo_t* ai = msg_addrinfo(msg);
    if (ai && ai->ai_socktype == SOCK_STREAM && self->tcpGuard_) {
      self->tcpGuard_->noteMessage(ai->ai_addr);
    }
    status = self->handleRequest(sip->sip_request->rq_method, sip, sourceOf(msg));
  } catch (...) {
  }
  if (status == 0) {  // ACK
    msg_destroy(msg);
    return 0;
  }
  // The answer goes back where the request came from, never to a host its top Via names in
  // maddr: that would let anyone aim the gateway's answers at a third host (reflection).
  if (sip->sip_via) msg_header_remove_param(sip->sip_via->v_common, "maddr");
  // nta_msg_treply takes the request message over.
  nta_msg_treply(agent, msg, status, sip_status_phrase(status),
                 SIPTAG_ALLOW_STR(status == 405 ? "NOTIFY, OPTIONS" : nullptr),
                 SIPTAG_ALLOW_EVENTS_STR(status == 489 ? "presence" : nullptr), TAG_END());
  return 0;
}

int PresenceWatcher::Stack::onLegRequest(nta_leg_magic_t* magic, nta_leg_t*, nta_incoming_t* irq,
                                         sip_t const* sip) {
  try {
    msg_t* msg = nta_incoming_getrequest(irq);  // a reference: released below
    const std::optional<IpCidr> source = sourceOf(msg);
    if (msg) msg_destroy(msg);
    return reinterpret_cast<Stack*>(magic)->handleRequest(nta_incoming_method(irq), sip, source);
  } catch (...) {
    return 500;
  }
}

int PresenceWatcher::Stack::handleRequest(sip_method_t method, sip_t const* sip,
                                          const std::optional<IpCidr>& source) {
  if (method == sip_method_options) return 200;
  if (method == sip_method_ack) return 0;
  if (method != sip_method_notify) return 405;
  if (!sip || !sip->sip_call_id || !sip->sip_call_id->i_id) return 400;
  auto found = byCallId_.find(sip->sip_call_id->i_id);
  const char* toTag = sip->sip_to ? sip->sip_to->a_tag : nullptr;
  if (found != byCallId_.end() && toTag &&
      pending_.at(found->second).fromTag == std::string_view(toTag)) {
    const Pending& pending = pending_.at(found->second);
    if (!notifySourceAllowed(source, pending.peer, nullptr, nullptr)) return refuseSource();
    return handleFetchNotify(found->second, sip);
  }
  const int answer = handleSubscriptionNotify(sip, sip->sip_call_id->i_id, toTag, source);
  pumpSubscribes();
  return answer;
}

int PresenceWatcher::Stack::handleFetchNotify(uint64_t id, sip_t const* sip) {
  if (!isPresenceEvent(sip)) return 489;
  const PresenceMapping mapping = mapBody(sip);
  FetchOutcome outcome;
  if (mapping.ok) {
    outcome.kind = FetchOutcome::Kind::kStatus;
    outcome.status = mapping.status;
    outcome.sipStatus = 200;
  } else {
    outcome.kind = FetchOutcome::Kind::kBadDocument;
    outcome.detail = mapping.error;
  }
  finish(id, std::move(outcome));
  return 200;
}

}  // namespace px

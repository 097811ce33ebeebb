#include "sip/SubscriptionRole.h"

#include <utility>

#include "sip/SipIds.h"

namespace px {

SubscriptionRole::SubscriptionRole(SipStack& stack, SipAgent& agent, const GatewayConfig& config,
                                   const NotifySources& sources, PresenceSink& sink,
                                   EventPackage package, bool answersStrays)
    : stack_(stack),
      agent_(agent),
      sink_(sink),
      package_(std::move(package)),
      answersStrays_(answersStrays),
      builder_(config.sip, config.presence.subscriptionExpiresSec, package_),
      set_(config.presence, sources,
           SubscriptionSet::Identity{randomPrefix(), randomPrefix(), config.sip.bindHost,
                                     config.sip.watcherUri},
           *this, package_.mapper) {}

// Transactions first: NTA must not call back into a half-destroyed role.
SubscriptionRole::~SubscriptionRole() {
  byOrq_.clear();
  orqs_.clear();
}

void SubscriptionRole::watch(std::string uri) {
  set_.watch(std::move(uri), SipClock::now());
}

void SubscriptionRole::unwatch(const std::string& uri) {
  set_.unwatch(uri, SipClock::now());
}

int SubscriptionRole::onRequest(const IncomingRequest& request) {
  if (!answersStrays_ && !set_.owns(request.sip->sip_call_id->i_id)) return kNotMine;
  return set_.onNotify(reader_.readNotify(request.sip, request.source, package_.event),
                       SipClock::now());
}

void SubscriptionRole::onStrayResponse(sip_t const* sip) {
  if (!sip->sip_status || sip->sip_status->st_status < 200 || !sip->sip_call_id ||
      !sip->sip_call_id->i_id || !sip->sip_cseq ||
      sip->sip_cseq->cs_method != sip_method_subscribe) {
    return;
  }
  set_.onCloseAnswer(sip->sip_call_id->i_id, SipClock::now());
}

void SubscriptionRole::onShutdown() {
  set_.beginShutdown(SipClock::now());
}

bool SubscriptionRole::sendSubscribe(uint64_t id, const SubscribeRequest& request, Send how) {
  if (how == Send::kStateless) {
    // Nothing kept: the result may be NONE, an object NTA already freed (see SubscribeBuilder).
    return builder_.send(agent_.agent(), agent_.leg(), nullptr, nullptr, request) != nullptr;
  }
  NtaOutgoing orq(builder_.send(agent_.agent(), agent_.leg(), &SubscriptionRole::onAnswer,
                                reinterpret_cast<nta_outgoing_magic_t*>(this), request));
  if (!orq) return false;
  byOrq_[orq.get()] = id;
  orqs_[id] = std::move(orq);
  return true;
}

void SubscriptionRole::cancelSubscribe(uint64_t id) {
  auto it = orqs_.find(id);
  if (it == orqs_.end()) return;
  byOrq_.erase(it->second.get());
  orqs_.erase(it);
}

void SubscriptionRole::schedule(SipClock::time_point at, uint64_t id, uint32_t gen) {
  stack_.timers().schedule(at, *this, id, gen);
}

void SubscriptionRole::report(SubscriptionEvent event) {
  sink_.event(std::move(event));
}

void SubscriptionRole::countersChanged(const SubscriptionCounters& counters) {
  sink_.subscriptionCounters(counters);
}

void SubscriptionRole::drained() {
  stack_.roleDrained(*this);
}

void SubscriptionRole::onTimer(uint64_t id, uint32_t gen, SipClock::time_point now) {
  set_.onTimer(id, gen, now);
}

bool SubscriptionRole::timerLive(uint64_t id, uint32_t gen) const {
  return set_.timerLive(id, gen);
}

int SubscriptionRole::onAnswer(nta_outgoing_magic_t* magic, nta_outgoing_t* orq, sip_t const* sip) {
  auto* self = reinterpret_cast<SubscriptionRole*>(magic);
  try {
    if (nta_outgoing_status(orq) < 200) return 0;
    auto found = self->byOrq_.find(orq);
    if (found == self->byOrq_.end()) return 0;
    // Read first: destroying the transaction (the set cancels it) may free the response.
    SubscribeAnswer answer = self->reader_.readAnswer(orq, sip);
    self->set_.onAnswer(found->second, std::move(answer), SipClock::now());
  } catch (...) {
    // Never let an exception cross a Sofia C frame.
  }
  return 0;
}

}  // namespace px

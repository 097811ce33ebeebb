#include "sip/CallProxyRole.h"

#include <chrono>
#include <string_view>
#include <vector>

#include "address/Address.h"
#include "common/Ascii.h"
#include "sip/CallParticipants.h"
#include "sip/ProxyCall.h"
#include "sip/SipRouting.h"

// After Sofia.h (through CallProxyRole.h), which includes su_config.h first.
#include <sofia-sip/sip_extra.h>
#include <sofia-sip/sip_util.h>
#include <sofia-sip/url.h>

namespace px {

namespace {

using call::CallAction;
using call::CallEvent;
using call::FinalCause;

constexpr const char* kAllow = "INVITE, ACK, CANCEL, BYE, OPTIONS";
constexpr int kDefaultMaxForwards = 70;
// Decisions one call may ask for (CalledNumber, then a final event after each Route): bounds a
// loop of Route actions to busy parties.
constexpr int kMaxDecisions = 4;

bool isRinging(int status) {
  return status >= 180 && status < 190;
}

std::string describe(int status, const char* phrase) {
  if (status == 0) return "";
  return std::to_string(status) + " " + (phrase && *phrase ? phrase : sip_status_phrase(status));
}

}  // namespace

CallProxyRole::CallProxyRole(SipStack& stack, SipAgent& agent, const GatewayConfig& config,
                             const call::CallWatchIndex& index, CallSink& sink)
    : stack_(stack),
      agent_(agent),
      config_(config),
      index_(index),
      sink_(sink),
      ownRoute_("<sip:" + hostForUri(config.calls.bindHost) + ":" + std::to_string(agent.port()) +
                ";lr>"),
      linger_(2000) {
  // An answered call keeps its transactions for 4*T1 only: long enough for the usual 2xx
  // retransmission and its ACK, while later 2xx retransmissions are relayed statelessly
  // (takeStrayResponse). Keeping them 64*T1 holds 32 s of calls in NTA, whose timer walks its
  // transactions: at 1,000 calls/s that walk took most of the SIP thread (bench/calls.js).
  unsigned t1 = 0;
  nta_agent_get_params(agent.agent(), NTATAG_SIP_T1_REF(t1), TAG_END());
  if (t1 > 0) linger_ = std::chrono::milliseconds(4 * t1);
}

CallProxyRole::~CallProxyRole() {
  // The stack destroys roles before agents; the transactions go first.
  calls_.clear();
}

// ---- requests -----------------------------------------------------------------------------------

int CallProxyRole::onTransaction(nta_incoming_t* irq, sip_t const* sip) {
  int status = 500;
  try {
    const sip_method_t method = nta_incoming_method(irq);
    if (method == sip_method_ack) {
      status = relayAck(sip, irq);
    } else if (method == sip_method_cancel) {
      status = 481;  // matched no INVITE we hold
    } else if (!sip || !sip->sip_request || !sip->sip_from || !sip->sip_to || !sip->sip_cseq ||
               !sip->sip_call_id || !sip->sip_via) {
      counters_.refused++;
      status = 400;
    } else if (shuttingDown_) {
      counters_.refused++;
      status = 503;
    } else if (method == sip_method_options && !sip->sip_to->a_tag) {
      status = 200;  // the S-CSCF's (or a load balancer's) keep-alive: answered by us
    } else if (sip->sip_max_forwards && sip->sip_max_forwards->mf_count == 0) {
      counters_.refused++;
      status = 483;
    } else if (method == sip_method_invite && !sip->sip_to->a_tag) {
      status = takeInvite(irq, sip);
    } else if (!sip->sip_to->a_tag) {
      // Out of any dialog only INVITE (and OPTIONS) is ours to relay.
      counters_.refused++;
      nta_incoming_treply(irq, SIP_405_METHOD_NOT_ALLOWED, SIPTAG_ALLOW_STR(kAllow), TAG_END());
      status = 405;
    } else {
      status = takeOther(irq, sip);
    }
  } catch (...) {
    status = 500;
  }
  publish();
  return status;
}

int CallProxyRole::takeInvite(nta_incoming_t* irq, sip_t const* sip) {
  const url_t* uri = sip->sip_request->rq_url;
  if (!uri || (uri->url_type != url_sip && uri->url_type != url_sips && uri->url_type != url_tel)) {
    counters_.refused++;
    return 416;
  }
  if (calls_.size() >= config_.calls.maxCalls) {
    counters_.refused++;
    return 503;
  }
  counters_.invites++;
  // Answer at once: the S-CSCF treats a silent AS as dead (ims_isc isc_fr_timeout, 5 s).
  nta_incoming_treply(irq, SIP_100_TRYING, TAG_END());

  auto owned = std::make_unique<ProxyCall>();
  ProxyCall& call = *owned;
  call.role = this;
  call.ref = nextRef_++;
  call.initialInvite = true;
  call.invite = true;
  call.callId = sip->sip_call_id->i_id ? sip->sip_call_id->i_id : "";
  call.irq.reset(irq);
  calls_.emplace(call.ref, std::move(owned));
  nta_incoming_bind(irq, &CallProxyRole::onCancel, reinterpret_cast<nta_incoming_magic_t*>(&call));

  call.request.reset(prepareForward(irq));
  sip_t* prepared = call.request ? sip_object(call.request.get()) : nullptr;
  if (!prepared) {
    answer(call, 500);
    finish(call);
    return 0;
  }
  // Only our own Route and a Request-URI naming us: forwarding would loop back here.
  if (!prepared->sip_route && isOwn(prepared->sip_request->rq_url)) {
    counters_.refused++;
    answer(call, 404);
    finish(call);
    return 0;
  }

  const std::shared_ptr<const call::CallMatcher> matcher = index_.current();
  const std::vector<std::string> forms = calledPartyForms(uri);
  if (matcher && !forms.empty()) call.interest = matcher->interest(forms);
  if (call.interest.any()) {
    counters_.watchedCalls++;
    const CallerId caller = callerOf(sip);
    call.parties.caller = caller.uri;
    call.parties.callerName = caller.name;
    call.parties.called = call.interest.matched;
    call.parties.callSessionId = std::to_string(call.ref);
    // Only a Disconnected event needs the rest of the dialog (the BYE) to pass here.
    const call::CallEventSet wanted = call.interest.notify | call.interest.direct;
    if (wanted.has(CallEvent::kDisconnected)) {
      sip_t* out = sip_object(call.request.get());
      auto* rr = sip_record_route_make(msg_home(call.request.get()), ownRoute_.c_str());
      if (rr && out) {
        msg_header_insert(call.request.get(), reinterpret_cast<msg_pub_t*>(out),
                          reinterpret_cast<msg_header_t*>(rr));
        call.recordRoute = true;
      }
    }
    report(call, CallEvent::kCalledNumber, 0, "");
    if (call.interest.direct.has(CallEvent::kCalledNumber)) {
      call.state = ProxyCall::State::kHeld;
      askDecision(call, CallEvent::kCalledNumber, 0);
      return 0;
    }
  }
  if (!forward(call)) finalResponse(call, 503, true);
  return 0;
}

// An in-dialog request (BYE of a record-routed call, re-INVITE, ...): relayed, no events but
// Disconnected.
int CallProxyRole::takeOther(nta_incoming_t* irq, sip_t const* sip) {
  if (calls_.size() >= config_.calls.maxCalls) {
    counters_.refused++;
    return 503;
  }
  auto owned = std::make_unique<ProxyCall>();
  ProxyCall& call = *owned;
  call.role = this;
  call.ref = nextRef_++;
  call.invite = nta_incoming_method(irq) == sip_method_invite;
  call.callId = sip->sip_call_id->i_id ? sip->sip_call_id->i_id : "";
  call.irq.reset(irq);
  calls_.emplace(call.ref, std::move(owned));
  if (call.invite) {
    nta_incoming_bind(irq, &CallProxyRole::onCancel,
                      reinterpret_cast<nta_incoming_magic_t*>(&call));
  }
  call.request.reset(prepareForward(irq));
  sip_t* out = call.request ? sip_object(call.request.get()) : nullptr;
  // After our own Route is gone there must be somewhere else to go, or it loops back to us.
  if (!out || (!out->sip_route && isOwn(out->sip_request->rq_url))) {
    answer(call, out ? 481 : 500);
    finish(call);
    return 0;
  }
  if (nta_incoming_method(irq) == sip_method_bye) {
    const auto it = dialogs_.find(call.callId);
    if (it != dialogs_.end()) {
      emit(it->second.callRef, it->second.parties, CallEvent::kDisconnected, 0, "BYE");
      dialogs_.erase(it);
    }
  }
  if (!forward(call)) {
    answer(call, 503);
    finish(call);
  }
  return 0;
}

// A 2xx's ACK (NTA absorbs the others): forwarded statelessly along its route.
int CallProxyRole::relayAck(sip_t const* sip, nta_incoming_t* irq) {
  if (!sip || !sip->sip_request) return 200;
  MsgRef copy(prepareForward(irq));
  sip_t* out = copy ? sip_object(copy.get()) : nullptr;
  if (!out || (!out->sip_route && isOwn(out->sip_request->rq_url))) return 200;
  // No callback: NTA frees the stateless transaction itself.
  if (nta_outgoing_mcreate(agent_.agent(), nullptr, nullptr, nullptr, copy.release(),
                           NTATAG_STATELESS(1), TAG_END())) {
    counters_.acksRelayed++;
  }
  return 200;  // no answer to an ACK; NTA just releases it
}

// A 2xx retransmission whose client transaction is gone (it lingers only a few T1, see
// linger_): a proxy forwards it statelessly (RFC 6026 §8.2) to the next Via. Anything else is left
// to the other roles (and dropped).
bool CallProxyRole::takeStrayResponse(msg_t* msg, sip_t* sip) {
  if (!sip || !sip->sip_status || sip->sip_status->st_status < 200 ||
      sip->sip_status->st_status >= 300 || !sip->sip_cseq ||
      sip->sip_cseq->cs_method != sip_method_invite || !sip->sip_via || !sip->sip_via->v_next) {
    return false;
  }
  url_t own[1] = {};
  own->url_type = url_sip;
  own->url_host = sip->sip_via->v_host;
  own->url_port = sip->sip_via->v_port;
  if (!isOwn(own)) return false;
  // nta_msg_tsend pops our Via itself and sends to the next one.
  if (nta_msg_tsend(agent_.agent(), msg, nullptr, TAG_END()) == 0) {
    counters_.retransmitted2xx++;
    publish();
  }
  return true;  // nta_msg_tsend took the message, sent or not
}

// Our host and port: bindHost (any host when bound to a wildcard address) and the agent's port.
bool CallProxyRole::isOwn(const url_t* url) const {
  if (!url || !url->url_host) return false;
  const std::string port = url->url_port ? url->url_port : "5060";
  if (port != std::to_string(agent_.port())) return false;
  const std::string& host = config_.calls.bindHost;
  if (host.empty() || host == "0.0.0.0" || host == "::") return true;
  return ascii::lowered(url->url_host) == ascii::lowered(hostForUri(host)) ||
         ascii::lowered(url->url_host) == ascii::lowered(host);
}

msg_t* CallProxyRole::prepareForward(nta_incoming_t* irq) {
  msg_t* received = nta_incoming_getrequest(irq);  // a reference
  if (!received) return nullptr;
  msg_t* copy = msg_copy(received);
  msg_destroy(received);
  if (!copy) return nullptr;
  sip_t* sip = sip_object(copy);
  while (sip->sip_route && isOwn(sip->sip_route->r_url)) sip_route_remove(copy, sip);
  // NTA never decrements Max-Forwards itself (RFC 3261 §16.6 step 3).
  if (sip->sip_max_forwards) {
    msg_fragment_clear(sip->sip_max_forwards->mf_common);
    sip->sip_max_forwards->mf_count--;
  } else {
    sip_add_make(copy, sip, sip_max_forwards_class, std::to_string(kDefaultMaxForwards).c_str());
  }
  return copy;
}

bool CallProxyRole::forward(ProxyCall& call) {
  if (!call.request) return false;
  // The template stays for a later Route; NTA takes a copy.
  msg_t* outgoing = msg_copy(call.request.get());
  if (!outgoing) return false;
  // route_url NULL: NTA goes to the top ;lr Route (the S-CSCF's return mark), else the R-URI.
  call.orq.reset(nta_outgoing_mcreate(agent_.agent(), &CallProxyRole::onResponse,
                                      reinterpret_cast<nta_outgoing_magic_t*>(&call), nullptr,
                                      outgoing, TAG_END()));
  if (!call.orq) return false;
  counters_.clientTransactions++;
  counters_.forwarded++;
  call.state = ProxyCall::State::kProceeding;
  return true;
}

bool CallProxyRole::setRequestUri(msg_t* msg, const std::string& target) {
  const AddressParseResult parsed = parseAddress(target, AddressUse::kTerminal);
  if (!parsed.ok()) return false;
  const std::string uri = toSipRequestUri(parsed.address, config_.sip.telDomain);
  sip_t* sip = sip_object(msg);
  if (!sip || !sip->sip_request) return false;
  sip_request_t* rq =
      sip_request_create(msg_home(msg), sip->sip_request->rq_method,
                         sip->sip_request->rq_method_name, URL_STRING_MAKE(uri.c_str()), nullptr);
  if (!rq) return false;
  return msg_header_insert(msg, reinterpret_cast<msg_pub_t*>(sip),
                           reinterpret_cast<msg_header_t*>(rq)) == 0;
}

// ---- responses ----------------------------------------------------------------------------------

int CallProxyRole::onResponse(nta_outgoing_magic_t* magic, nta_outgoing_t*, sip_t const* sip) {
  auto* call = reinterpret_cast<ProxyCall*>(magic);
  CallProxyRole* self = call->role;
  try {
    self->response(*call, sip);
  } catch (...) {
  }
  self->publish();
  return 0;
}

void CallProxyRole::response(ProxyCall& call, sip_t const* sip) {
  const int status =
      sip && sip->sip_status ? sip->sip_status->st_status : nta_outgoing_status(call.orq.get());
  const bool internal = nta_sip_is_internal(sip);
  if (status < 200) {
    if (call.state != ProxyCall::State::kProceeding) return;
    if (call.initialInvite && isRinging(status) && !call.ringing) {
      call.ringing = true;
      const auto& calls = config_.calls;
      uint32_t timeoutMs = 0;
      if (call.interest.direct.has(CallEvent::kNoAnswer)) {
        timeoutMs = calls.directionNoAnswerTimeoutMs;
      } else if (call.interest.notify.has(CallEvent::kNoAnswer)) {
        timeoutMs = calls.noAnswerTimeoutMs;
      }
      if (timeoutMs > 0) arm(call, TimerKind::kRingTimeout, std::chrono::milliseconds(timeoutMs));
    }
    if (!internal) relay(call);
    return;
  }
  if (status < 300) {
    if (call.state == ProxyCall::State::kAnswered) {
      counters_.retransmitted2xx++;
      relay(call);
      return;
    }
    if (call.state != ProxyCall::State::kProceeding) return;
    relay(call);
    if (!call.invite) {
      finish(call);
      return;
    }
    counters_.finalResponses++;
    call.state = ProxyCall::State::kAnswered;
    if (call.initialInvite) {
      report(call, CallEvent::kAnswer, status,
             describe(status, sip ? sip->sip_status->st_phrase : nullptr));
      if (call.recordRoute && call.interest.notify.has(CallEvent::kDisconnected)) {
        rememberDialog(call);
      }
    }
    // Keep both transactions for linger_: the callee retransmits its 2xx until the ACK comes.
    arm(call, TimerKind::kLinger, linger_);
    return;
  }
  if (call.state != ProxyCall::State::kProceeding) return;
  if (!call.invite) {
    if (internal) {
      answer(call, status);
    } else {
      relay(call);
    }
    finish(call);
    return;
  }
  call.heldStatus = status;
  finalResponse(call, status, internal);
}

void CallProxyRole::finalResponse(ProxyCall& call, int status, bool internal) {
  FinalCause cause = call.cause;
  if (cause == FinalCause::kResponse && internal) cause = FinalCause::kInternal;
  std::optional<CallEvent> event;
  if (call.interest.any()) {
    event = call::outcomeEvent(config_.calls, call::FinalOutcome{status, call.ringing, cause});
  }
  std::string description = std::to_string(status) + " " + sip_status_phrase(status);
  if (!internal && call.orq) {
    MsgRef response(nta_outgoing_getresponse(call.orq.get()));
    const sip_t* sip = response ? sip_object(response.get()) : nullptr;
    if (sip && sip->sip_status) description = describe(status, sip->sip_status->st_phrase);
  }
  if (event) report(call, *event, status, description);
  if (event && call.interest.direct.has(*event) && cause != FinalCause::kCallerCancel &&
      call.decisions < kMaxDecisions) {
    // Hold the final response; NTA already ACKed it downstream (hop by hop).
    call.heldStatus = status;
    if (!internal && call.orq) {
      call.heldResponse.reset(nta_outgoing_getresponse(call.orq.get()));
      if (call.heldResponse) {
        sip_via_remove(call.heldResponse.get(), sip_object(call.heldResponse.get()));
      }
    }
    if (call.orq) {
      call.orq.reset();
      counters_.clientTransactions--;
    }
    call.state = ProxyCall::State::kHeldFinal;
    askDecision(call, *event, status);
    return;
  }
  if (internal || !call.orq) {
    answer(call, cause == FinalCause::kCallerCancel ? 487 : status);
  } else {
    relay(call);
  }
  counters_.finalResponses++;
  finish(call);
}

void CallProxyRole::relay(ProxyCall& call) {
  if (!call.orq || !call.irq) return;
  msg_t* response = nta_outgoing_getresponse(call.orq.get());  // a reference: mreply takes it
  if (!response) return;
  const sip_t* sip = sip_object(response);
  const int status = sip && sip->sip_status ? sip->sip_status->st_status : 500;
  sip_via_remove(response, sip_object(response));
  if (nta_incoming_mreply(call.irq.get(), response) < 0 && status >= 200 &&
      nta_incoming_status(call.irq.get()) < 200) {
    // Not relayable as it came (e.g. no Via left for the caller): the caller still gets the
    // status.
    answer(call, status);
  }
}

// The final response held for handle<Event> (or NTA's own status when none) reaches the caller.
void CallProxyRole::relayHeldFinal(ProxyCall& call) {
  if (call.heldResponse) {
    nta_incoming_mreply(call.irq.get(), call.heldResponse.release());
  } else {
    answer(call, call.heldStatus);
  }
  counters_.finalResponses++;
  finish(call);
}

void CallProxyRole::answer(ProxyCall& call, int status) {
  if (call.irq) nta_incoming_treply(call.irq.get(), status, nullptr, TAG_END());
}

void CallProxyRole::finish(ProxyCall& call) {
  if (call.orq) {
    call.orq.reset();
    counters_.clientTransactions--;
  }
  calls_.erase(call.ref);  // `call` is gone from here on
}

void CallProxyRole::rememberDialog(const ProxyCall& call) {
  if (call.callId.empty()) return;
  if (dialogs_.emplace(call.callId, Dialog{call.parties, call.ref}).second) {
    dialogOrder_.push_back(call.callId);
  }
  while (dialogOrder_.size() > config_.calls.maxCalls) {
    dialogs_.erase(dialogOrder_.front());
    dialogOrder_.pop_front();
  }
  // Entries whose BYE went elsewhere would fill the order list: drop names already gone.
  while (!dialogOrder_.empty() && dialogs_.count(dialogOrder_.front()) == 0) {
    dialogOrder_.pop_front();
  }
}

// ---- CANCEL -------------------------------------------------------------------------------------

int CallProxyRole::onCancel(nta_incoming_magic_t* magic, nta_incoming_t*, sip_t const* sip) {
  auto* call = reinterpret_cast<ProxyCall*>(magic);
  if (!call || !sip || !sip->sip_request || sip->sip_request->rq_method != sip_method_cancel) {
    return 0;  // Timer H or an ACK: NTA handles those
  }
  CallProxyRole* self = call->role;
  try {
    self->cancelled(*call);
  } catch (...) {
  }
  self->publish();
  return 0;
}

void CallProxyRole::cancelled(ProxyCall& call) {
  counters_.cancels++;
  switch (call.state) {
    case ProxyCall::State::kHeld:
      call.decisionId = 0;
      answer(call, 487);
      counters_.finalResponses++;
      finish(call);
      return;
    case ProxyCall::State::kHeldFinal:
      // The outcome is known: the caller gets it rather than a 487.
      call.decisionId = 0;
      relayHeldFinal(call);
      return;
    case ProxyCall::State::kProceeding:
      call.cause = FinalCause::kCallerCancel;
      // NTA holds the CANCEL back until a provisional came (RFC 3261 §9.1); the 487 is relayed.
      if (call.orq) nta_outgoing_tcancel(call.orq.get(), nullptr, nullptr, TAG_END());
      return;
    case ProxyCall::State::kAnswered:
      return;
  }
}

// ---- timers, shutdown, counters -----------------------------------------------------------------

void CallProxyRole::arm(ProxyCall& call, TimerKind kind, std::chrono::milliseconds after) {
  call.timerKind = kind;
  call.timerGen++;
  stack_.timers().schedule(std::chrono::steady_clock::now() + after, *this, call.ref,
                           call.timerGen);
}

bool CallProxyRole::timerLive(uint64_t key, uint32_t gen) const {
  const auto it = calls_.find(key);
  return it != calls_.end() && it->second->timerGen == gen &&
         it->second->timerKind != TimerKind::kOff;
}

void CallProxyRole::onTimer(uint64_t key, uint32_t gen, std::chrono::steady_clock::time_point) {
  const auto it = calls_.find(key);
  if (it == calls_.end() || it->second->timerGen != gen) return;
  ProxyCall& call = *it->second;
  const TimerKind kind = call.timerKind;
  call.timerKind = TimerKind::kOff;
  try {
    switch (kind) {
      case TimerKind::kDecision: {
        counters_.decisionsTimedOut++;
        CallAction fallback;
        fallback.kind = call::callActionFromString(config_.calls.defaultAction)
                            .value_or(CallAction::Kind::kContinue);
        if (fallback.kind == CallAction::Kind::kRoute) fallback.kind = CallAction::Kind::kContinue;
        carryOut(call, fallback);
        break;
      }
      case TimerKind::kRingTimeout:
        if (call.state == ProxyCall::State::kProceeding && call.orq &&
            call.cause == FinalCause::kResponse) {
          call.cause = FinalCause::kNoAnswerTimer;
          counters_.noAnswerTimeouts++;
          nta_outgoing_tcancel(call.orq.get(), nullptr, nullptr, TAG_END());
        }
        break;
      case TimerKind::kLinger:
        finish(call);
        break;
      case TimerKind::kOff:
        break;
    }
  } catch (...) {
  }
  publish();
}

void CallProxyRole::onShutdown() {
  shuttingDown_ = true;
  std::vector<ProxyCall*> open;
  open.reserve(calls_.size());
  for (auto& entry : calls_) open.push_back(entry.second.get());
  for (ProxyCall* call : open) {
    if (call->state == ProxyCall::State::kProceeding && call->orq && call->invite) {
      nta_outgoing_tcancel(call->orq.get(), nullptr, nullptr, TAG_END());
    }
    if (call->state == ProxyCall::State::kHeldFinal && call->heldResponse) {
      // The outcome is known: the caller gets it rather than a 503.
      nta_incoming_mreply(call->irq.get(), call->heldResponse.release());
    } else if (call->state != ProxyCall::State::kAnswered) {
      answer(*call, 503);
    }
    finish(*call);
  }
  dialogs_.clear();
  dialogOrder_.clear();
  publish();
  stack_.roleDrained(*this);
}

void CallProxyRole::publish() {
  counters_.callsInFlight = calls_.size();
  sink_.counters(counters_);
}

}  // namespace px

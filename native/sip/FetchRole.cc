#include "sip/FetchRole.h"

#include <utility>
#include <vector>

#include "sip/SipIds.h"

namespace px {

FetchRole::FetchRole(SipStack& stack, SipAgent& agent, const GatewayConfig& config,
                     const NotifySources& sources, PresenceSink& sink, EventPackage package)
    : stack_(stack),
      agent_(agent),
      config_(config),
      sources_(sources),
      sink_(sink),
      package_(std::move(package)),
      builder_(config.sip, config.presence.subscriptionExpiresSec, package_),
      host_(config.sip.bindHost),
      tagPrefix_(randomPrefix()),
      timeout_(std::chrono::milliseconds(config.presence.fetchTimeoutMs)) {}

// Transactions first: NTA must not call back into a half-destroyed role.
FetchRole::~FetchRole() {
  byTransaction_.clear();
  pending_.clear();
}

FetchOutcome FetchRole::unstarted(uint64_t id, FetchOutcome::Kind kind, std::string detail,
                                  uint32_t elapsedMs) {
  FetchOutcome outcome;
  outcome.id = id;
  outcome.kind = kind;
  outcome.detail = std::move(detail);
  outcome.elapsedMs = elapsedMs;
  return outcome;
}

uint32_t FetchRole::elapsedSince(Clock::time_point started) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
  return ms < 0 ? 0 : static_cast<uint32_t>(ms);
}

void FetchRole::finishUnstarted(uint64_t id, Clock::time_point deadline, FetchOutcome::Kind kind,
                                std::string detail) {
  sink_.outcome(unstarted(id, kind, std::move(detail), elapsedSince(deadline - timeout_)));
}

void FetchRole::start(uint64_t id, const std::string& requestUri, Clock::time_point deadline) {
  if (Clock::now() >= deadline) {
    finishUnstarted(id, deadline, FetchOutcome::Kind::kTimeout,
                    "fetch timed out before it was sent");
    return;
  }
  // Counted before the SUBSCRIBE leaves, so stats never lag what the network has seen.
  counters_.started++;
  counters_.inFlight++;
  publish();
  Pending pending;
  pending.started = deadline - timeout_;
  pending.fromTag = hex16(tagPrefix_ ^ id);
  pending.callId = pending.fromTag + "-" + std::to_string(id) + "@" + host_;
  SubscribeRequest request;
  request.uri = requestUri;
  request.callId = pending.callId;
  request.fromTag = pending.fromTag;
  request.cseq = 1;
  request.expiresSec = 0;
  pending.subscribe.reset(builder_.send(agent_.agent(), agent_.leg(), &FetchRole::onResponse,
                                        reinterpret_cast<nta_outgoing_magic_t*>(this), request));
  if (!pending.subscribe) {
    counters_.started--;
    counters_.inFlight--;
    publish();
    finishUnstarted(id, deadline, FetchOutcome::Kind::kSipError,
                    "cannot send SUBSCRIBE to " + requestUri);
    return;
  }
  byCallId_.emplace(pending.callId, id);
  byTransaction_.emplace(pending.subscribe.get(), id);
  pending_.emplace(id, std::move(pending));
  stack_.timers().schedule(deadline, *this, id, 0);
}

void FetchRole::finish(uint64_t id, FetchOutcome outcome) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  outcome.id = id;
  outcome.elapsedMs = elapsedSince(it->second.started);
  byCallId_.erase(it->second.callId);
  byTransaction_.erase(it->second.subscribe.get());
  pending_.erase(it);
  counters_.completed++;
  counters_.inFlight--;
  if (outcome.kind == FetchOutcome::Kind::kTimeout) counters_.timeouts++;
  if (outcome.kind == FetchOutcome::Kind::kSipError) counters_.sipErrors++;
  publish();
  sink_.outcome(std::move(outcome));
}

int FetchRole::onResponse(nta_outgoing_magic_t* magic, nta_outgoing_t* orq, sip_t const* sip) {
  auto* self = reinterpret_cast<FetchRole*>(magic);
  try {
    auto found = self->byTransaction_.find(orq);
    if (found != self->byTransaction_.end()) self->handleResponse(found->second, orq, sip);
  } catch (...) {
    // Never let an exception cross a Sofia C frame.
  }
  return 0;
}

void FetchRole::handleResponse(uint64_t id, nta_outgoing_t* orq, sip_t const* sip) {
  const int status = nta_outgoing_status(orq);
  if (status < 200) return;
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  if (status < 300) {
    // Final 2xx: the transaction is done; the fetch waits for its NOTIFY (which may have come
    // first).
    it->second.peer = responseSource(orq);
    return;
  }
  FetchOutcome outcome;
  outcome.kind = FetchOutcome::Kind::kSipError;
  outcome.sipStatus = status;
  outcome.detail = sip && sip->sip_status && sip->sip_status->st_phrase
                       ? sip->sip_status->st_phrase
                       : (status == 408 ? "Request Timeout" : "");
  finish(id, std::move(outcome));
}

int FetchRole::onRequest(const IncomingRequest& request) {
  sip_t const* sip = request.sip;
  auto found = byCallId_.find(sip->sip_call_id->i_id);
  const char* toTag = sip->sip_to ? sip->sip_to->a_tag : nullptr;
  if (found == byCallId_.end() || !toTag) return kNotMine;
  const Pending& pending = pending_.at(found->second);
  if (pending.fromTag != std::string_view(toTag)) return kNotMine;
  if (!sources_.allowed(request.source, pending.peer, nullptr, nullptr)) {
    // 403, not 481: see docs/architecture.md, Hostile SIP input.
    counters_.notifySourceRefused++;
    publish();
    return 403;
  }
  return handleNotify(found->second, sip);
}

int FetchRole::handleNotify(uint64_t id, sip_t const* sip) {
  if (!isEvent(sip, package_.event)) return 489;
  const PresenceMapping mapping = package_.mapper->map(contentTypeOf(sip), bodyOf(sip));
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

bool FetchRole::timerLive(uint64_t id, uint32_t) const {
  return pending_.count(id) != 0;
}

void FetchRole::onTimer(uint64_t id, uint32_t, Clock::time_point) {
  FetchOutcome outcome;
  outcome.kind = FetchOutcome::Kind::kTimeout;
  outcome.detail = "no " + package_.event + " document within " +
                   std::to_string(config_.presence.fetchTimeoutMs) + " ms";
  finish(id, std::move(outcome));
}

void FetchRole::onShutdown() {
  std::vector<uint64_t> ids;
  ids.reserve(pending_.size());
  for (const auto& entry : pending_) ids.push_back(entry.first);
  for (uint64_t id : ids) {
    FetchOutcome outcome;
    outcome.kind = FetchOutcome::Kind::kShutdown;
    outcome.detail = "gateway is closing";
    finish(id, std::move(outcome));
  }
  stack_.roleDrained(*this);
}

}  // namespace px

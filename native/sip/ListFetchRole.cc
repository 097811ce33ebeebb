#include "sip/ListFetchRole.h"

#include <algorithm>
#include <utility>

#include "presence/PresenceDocument.h"
#include "sip/SipIds.h"

namespace px {

namespace {
// Timer ids: 2 * key is a fetch's deadline, 2 * key + 1 its settle timer (generation settleGen).
constexpr std::chrono::seconds kTombstoneLifetime{32};
}  // namespace

EventPackage resourceListPackage(std::vector<std::string> busyActivities) {
  EventPackage package = presencePackage(std::move(busyActivities));
  package.accept = "multipart/related, application/rlmi+xml, application/pidf+xml";
  package.supported = "eventlist";
  return package;
}

ListFetchRole::ListFetchRole(SipStack& stack, SipAgent& agent, const GatewayConfig& config,
                             const NotifySources& sources, PresenceSink& sink,
                             EventPackage presence, FetchRole& fallback)
    : stack_(stack),
      agent_(agent),
      config_(config),
      sources_(sources),
      sink_(sink),
      presence_(std::move(presence)),
      fallback_(fallback),
      // The list dialog lives as long as the fetch, at most: Expires just above its timeout.
      builder_(config.sip, config.presence.resourceLists.fetchTimeoutMs / 1000 + 30, presence_),
      host_(config.sip.bindHost),
      tagPrefix_(randomPrefix()) {}

ListFetchRole::~ListFetchRole() {
  byTransaction_.clear();
  fetches_.clear();
}

void ListFetchRole::start(const std::string& listUri,
                          std::vector<std::pair<uint64_t, std::string>> members,
                          Clock::time_point deadline) {
  const uint64_t key = nextKey_++;
  ListFetch fetch;
  fetch.key = key;
  fetch.listUri = listUri;
  fetch.started = Clock::now();
  fetch.deadline = deadline;
  for (auto& [id, uri] : members) {
    fetch.byUri[normalizeMemberUri(uri)].push_back(fetch.members.size());
    fetch.members.push_back(Member{id, std::move(uri), false});
  }
  fetch.remaining = fetch.members.size();
  counters_.listFetches++;
  auto [it, inserted] = fetches_.emplace(key, std::move(fetch));
  (void)inserted;
  if (it->second.remaining == 0) {
    fetches_.erase(it);
    publish();
    return;
  }
  if (!sendInitial(it->second)) {
    fallBack(it->second, false, "cannot send the list SUBSCRIBE");
    finishIfDone(key);
    return;
  }
  stack_.timers().schedule(deadline, *this, 2 * key, 0);
}

bool ListFetchRole::sendInitial(ListFetch& fetch) {
  if (!fetch.callId.empty()) byCallId_.erase(fetch.callId);
  if (fetch.subscribe) byTransaction_.erase(fetch.subscribe.get());
  fetch.subscribe.reset();
  fetch.fromTag = hex16(tagPrefix_ ^ (fetch.key * 31 + fetch.restarts));
  fetch.callId = fetch.fromTag + "-l" + std::to_string(fetch.key) + "-" +
                 std::to_string(fetch.restarts) + "@" + host_;
  fetch.toTag.clear();
  fetch.remoteTarget.clear();
  fetch.peer.reset();
  fetch.cseq = 1;
  fetch.state.reset();
  SubscribeRequest request;
  request.uri = fetch.listUri;
  request.callId = fetch.callId;
  request.fromTag = fetch.fromTag;
  request.cseq = 1;
  request.expiresSec = 1;  // any non-zero value: the builder's requested duration
  counters_.listSubscribes++;
  publish();
  fetch.subscribe.reset(builder_.send(agent_.agent(), agent_.leg(), &ListFetchRole::onResponse,
                                      reinterpret_cast<nta_outgoing_magic_t*>(this), request));
  if (!fetch.subscribe) return false;
  byCallId_.emplace(fetch.callId, fetch.key);
  byTransaction_.emplace(fetch.subscribe.get(), fetch.key);
  return true;
}

int ListFetchRole::onResponse(nta_outgoing_magic_t* magic, nta_outgoing_t* orq, sip_t const* sip) {
  auto* self = reinterpret_cast<ListFetchRole*>(magic);
  try {
    auto found = self->byTransaction_.find(orq);
    if (found != self->byTransaction_.end()) self->handleResponse(found->second, orq, sip);
  } catch (...) {
    // Never let an exception cross a Sofia C frame.
  }
  return 0;
}

void ListFetchRole::handleResponse(uint64_t key, nta_outgoing_t* orq, sip_t const* sip) {
  const int status = nta_outgoing_status(orq);
  if (status < 200) return;
  auto it = fetches_.find(key);
  if (it == fetches_.end()) return;
  ListFetch& fetch = it->second;
  if (status < 300) {
    fetch.peer = responseSource(orq);
    if (fetch.toTag.empty() && sip && sip->sip_to && sip->sip_to->a_tag) {
      fetch.toTag = sip->sip_to->a_tag;
    }
    if (fetch.remoteTarget.empty() && sip && sip->sip_contact) {
      fetch.remoteTarget = reader_.usableUri(sip->sip_contact->m_url);
    }
    return;
  }
  // 421 Extension Required, 489 Bad Event, 404 (no such list)...: no list here.
  byTransaction_.erase(fetch.subscribe.get());
  byCallId_.erase(fetch.callId);
  fetch.subscribe.reset();
  fetch.toTag.clear();
  counters_.listFallbacks++;
  fallBack(fetch, false, "the server answered the list SUBSCRIBE with a non-2xx");
  finishIfDone(key);
}

int ListFetchRole::onRequest(const IncomingRequest& request) {
  sip_t const* sip = request.sip;
  const std::string callId = sip->sip_call_id->i_id;
  auto found = byCallId_.find(callId);
  if (found == byCallId_.end()) {
    // The last NOTIFYs of a list dialog this role ended.
    const auto now = Clock::now();
    while (!tombstoneOrder_.empty() && tombstoneOrder_.front().first <= now) {
      tombstones_.erase(tombstoneOrder_.front().second);
      tombstoneOrder_.pop_front();
    }
    return tombstones_.count(callId) ? 200 : kNotMine;
  }
  ListFetch& fetch = fetches_.at(found->second);
  const char* toTag = sip->sip_to ? sip->sip_to->a_tag : nullptr;
  if (!toTag || fetch.fromTag != std::string_view(toTag)) return kNotMine;
  if (!sources_.allowed(request.source, fetch.peer, nullptr, nullptr)) return 403;
  const uint64_t key = fetch.key;
  const int code = handleNotify(fetch, sip);
  finishIfDone(key);
  return code;
}

int ListFetchRole::handleNotify(ListFetch& fetch, sip_t const* sip) {
  if (!isEvent(sip, presence_.event)) return 489;
  if (fetch.toTag.empty() && sip->sip_from && sip->sip_from->a_tag) {
    fetch.toTag = sip->sip_from->a_tag;
  }
  if (fetch.remoteTarget.empty() && sip->sip_contact) {
    fetch.remoteTarget = reader_.usableUri(sip->sip_contact->m_url);
  }
  const bool terminated =
      sip->sip_subscription_state && sip->sip_subscription_state->ss_substate &&
      std::string_view(sip->sip_subscription_state->ss_substate) == "terminated";
  const std::string contentType = fullContentTypeOf(sip);
  if (!isMultipartRelated(contentType)) {
    // A presence server that took the list URI for a presentity (no eventlist support).
    counters_.listFallbacks++;
    fallBack(fetch, false, "the NOTIFY is not a resource list");
    return 200;
  }
  const ListNotification notification =
      parseListNotification(contentType, bodyOf(sip), *presence_.mapper);
  if (!notification.ok) {
    fallBack(fetch, false, "list NOTIFY not usable");
    return 200;
  }
  switch (fetch.state.apply(notification)) {
    case ResourceListState::Applied::kStale:
      return 200;
    case ResourceListState::Applied::kGap:
      counters_.versionGaps++;
      if (fetch.restarts == 0) {
        // A new dialog brings a full state again.
        fetch.restarts++;
        tombstone(fetch.callId);
        end(fetch.key);  // not really: see below
        return 200;
      }
      fallBack(fetch, false, "list versions keep skipping");
      return 200;
    case ResourceListState::Applied::kApplied:
      break;
  }
  for (const std::string& key : fetch.state.changed()) {
    const auto member = fetch.state.members().find(key);
    const auto listed = fetch.byUri.find(key);
    if (member == fetch.state.members().end() || listed == fetch.byUri.end()) continue;
    const ListMemberState& state = member->second;
    if (state.kind == ListMemberState::Kind::kUnknown) continue;
    for (size_t index : listed->second) {
      FetchOutcome outcome;
      if (state.kind == ListMemberState::Kind::kStatus) {
        outcome.kind = FetchOutcome::Kind::kStatus;
        outcome.status = state.status;
        outcome.sipStatus = 200;
        outcome.detail = state.detail;
      } else {
        outcome.kind = FetchOutcome::Kind::kBadDocument;
        outcome.detail = state.detail;
      }
      answer(fetch, fetch.members[index], std::move(outcome));
    }
  }
  // Members the list does not hold are fetched per terminal at once.
  if (notification.fullState) fallBack(fetch, true, "not in the resource list");
  if (terminated) {
    settle(fetch);
  } else if (fetch.remaining > 0) {
    fetch.settleGen++;
    stack_.timers().schedule(
        Clock::now() + std::chrono::milliseconds(config_.presence.resourceLists.settleMs), *this,
        2 * fetch.key + 1, fetch.settleGen);
  }
  return 200;
}

void ListFetchRole::answer(ListFetch& fetch, Member& member, FetchOutcome outcome) {
  if (member.done) return;
  member.done = true;
  fetch.remaining--;
  counters_.membersFromLists++;
  outcome.id = member.id;
  outcome.elapsedMs = FetchRole::elapsedSince(fetch.started);
  sink_.outcome(std::move(outcome));
}

void ListFetchRole::fallBack(ListFetch& fetch, bool onlyUnlisted, const char*) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(config_.presence.fetchTimeoutMs);
  for (Member& member : fetch.members) {
    if (member.done) continue;
    if (onlyUnlisted && fetch.state.members().count(normalizeMemberUri(member.uri))) continue;
    member.done = true;
    fetch.remaining--;
    counters_.memberFallbacks++;
    fallback_.start(member.id, member.uri, deadline);
  }
  publish();
}

// Quiet since the last NOTIFY: members the list holds without any state are Unreachable (the
// RLS has no document for them), as a per-terminal fetch answered without one.
void ListFetchRole::settle(ListFetch& fetch) {
  for (Member& member : fetch.members) {
    if (member.done) continue;
    if (!fetch.state.members().count(normalizeMemberUri(member.uri))) continue;
    FetchOutcome outcome;
    outcome.kind = FetchOutcome::Kind::kStatus;
    outcome.status = TerminalStatus::kUnreachable;
    outcome.sipStatus = 200;
    outcome.detail = "no document in the resource list";
    answer(fetch, member, std::move(outcome));
  }
  // Left: not listed by any full state yet.
  fallBack(fetch, false, "no full state from the resource list server");
}

void ListFetchRole::finishIfDone(uint64_t key) {
  auto it = fetches_.find(key);
  if (it == fetches_.end()) return;
  if (it->second.remaining == 0) {
    end(key);
    return;
  }
  publish();
}

void ListFetchRole::end(uint64_t key) {
  auto it = fetches_.find(key);
  if (it == fetches_.end()) return;
  ListFetch& fetch = it->second;
  if (!fetch.toTag.empty()) {
    SubscribeRequest request;
    request.uri = fetch.listUri;
    request.callId = fetch.callId;
    request.fromTag = fetch.fromTag;
    request.toTag = fetch.toTag;
    request.remoteTarget = fetch.remoteTarget;
    request.cseq = ++fetch.cseq;
    request.expiresSec = 0;
    request.inDialog = true;
    counters_.listSubscribes++;
    builder_.send(agent_.agent(), agent_.leg(), nullptr, nullptr, request);
  }
  tombstone(fetch.callId);
  byCallId_.erase(fetch.callId);
  if (fetch.subscribe) byTransaction_.erase(fetch.subscribe.get());
  const bool restart = fetch.remaining > 0 && fetch.restarts > 0 && fetch.toTag != "" &&
                       Clock::now() < fetch.deadline;
  if (restart) {
    // A version gap: a new dialog for a new full state (once per fetch).
    if (!sendInitial(fetch)) {
      fallBack(fetch, false, "cannot send the list SUBSCRIBE");
      fetches_.erase(it);
    }
    publish();
    return;
  }
  fetches_.erase(it);
  publish();
}

void ListFetchRole::tombstone(const std::string& callId) {
  if (callId.empty() || !tombstones_.insert(callId).second) return;
  tombstoneOrder_.emplace_back(Clock::now() + kTombstoneLifetime, callId);
}

bool ListFetchRole::timerLive(uint64_t id, uint32_t gen) const {
  const auto it = fetches_.find(id / 2);
  if (it == fetches_.end()) return false;
  return id % 2 == 0 || gen == it->second.settleGen;
}

void ListFetchRole::onTimer(uint64_t id, uint32_t gen, Clock::time_point) {
  if (!timerLive(id, gen)) return;
  const uint64_t key = id / 2;
  ListFetch& fetch = fetches_.at(key);
  if (id % 2 == 1) {
    settle(fetch);
  } else {
    for (Member& member : fetch.members) {
      if (member.done) continue;
      FetchOutcome outcome;
      outcome.kind = FetchOutcome::Kind::kTimeout;
      outcome.detail = "no resource list state within " +
                       std::to_string(config_.presence.resourceLists.fetchTimeoutMs) + " ms";
      answer(fetch, member, std::move(outcome));
      counters_.membersFromLists--;
    }
  }
  finishIfDone(key);
}

void ListFetchRole::onShutdown() {
  std::vector<uint64_t> keys;
  for (const auto& entry : fetches_) keys.push_back(entry.first);
  for (uint64_t key : keys) {
    ListFetch& fetch = fetches_.at(key);
    for (Member& member : fetch.members) {
      if (member.done) continue;
      FetchOutcome outcome;
      outcome.kind = FetchOutcome::Kind::kShutdown;
      outcome.detail = "gateway is closing";
      answer(fetch, member, std::move(outcome));
    }
    byCallId_.erase(fetch.callId);
    if (fetch.subscribe) byTransaction_.erase(fetch.subscribe.get());
  }
  fetches_.clear();
  stack_.roleDrained(*this);
}

}  // namespace px

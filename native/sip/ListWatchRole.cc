#include "sip/ListWatchRole.h"

#include <algorithm>
#include <utility>

#include "sip/SipIds.h"

namespace px {

namespace {
constexpr std::chrono::seconds kTombstoneLifetime{32};
}  // namespace

std::vector<SubscriptionEvent> listStatusEvents(
    const ResourceListState& state, bool fullState,
    const std::map<std::string, std::vector<std::string>>& members) {
  std::vector<SubscriptionEvent> events;
  auto report = [&](const std::string& uri, TerminalStatus status) {
    const auto keys = members.find(uri);
    if (keys == members.end()) return;
    for (const std::string& key : keys->second) {
      SubscriptionEvent event;
      event.kind = SubscriptionEvent::Kind::kStatus;
      event.requestUri = key;
      event.status = status;
      events.push_back(std::move(event));
    }
  };
  if (fullState) {
    // A full state is a baseline for every member it holds a state for. One without state (no
    // instance, or pending: the RLS has nothing yet) is left to settle (ListWatchRole).
    for (const auto& [uri, member] : state.members()) {
      if (member.kind == ListMemberState::Kind::kStatus) report(uri, member.status);
    }
    return events;
  }
  for (const std::string& uri : state.changed()) {
    const auto member = state.members().find(uri);
    if (member == state.members().end()) continue;
    if (member->second.kind == ListMemberState::Kind::kStatus) report(uri, member->second.status);
  }
  return events;
}

ListWatchRole::ListWatchRole(SipStack& stack, SipAgent& agent, const GatewayConfig& config,
                             const NotifySources& sources, PresenceSink& sink,
                             EventPackage presence, SubscriptionRole& fallback)
    : stack_(stack),
      agent_(agent),
      config_(config),
      sources_(sources),
      sink_(sink),
      presence_(std::move(presence)),
      fallback_(fallback),
      builder_(config.sip, config.presence.subscriptionExpiresSec, presence_),
      host_(config.sip.bindHost),
      tagPrefix_(randomPrefix()) {}

ListWatchRole::~ListWatchRole() {
  byTransaction_.clear();
  lists_.clear();
}

void ListWatchRole::watch(const std::string& listUri, const std::vector<std::string>& members) {
  if (byListUri_.count(listUri)) return;
  const uint64_t key = nextKey_++;
  ListWatch list;
  list.key = key;
  list.listUri = listUri;
  for (const std::string& member : members)
    list.byUri[normalizeMemberUri(member)].push_back(member);
  auto& stored = lists_.emplace(key, std::move(list)).first->second;
  byListUri_.emplace(listUri, key);
  if (!sendInitial(stored)) fallBack(stored, false);
}

void ListWatchRole::unwatch(const std::string& listUri) {
  const auto found = byListUri_.find(listUri);
  if (found == byListUri_.end()) return;
  ListWatch& list = lists_.at(found->second);
  endDialog(list);
  for (const std::string& key : list.fallenBack) fallback_.unwatch(key);
  lists_.erase(found->second);
  byListUri_.erase(found);
}

bool ListWatchRole::sendInitial(ListWatch& list) {
  list.fromTag = hex16(tagPrefix_ ^ (list.key * 31 + list.dialogs));
  list.callId = list.fromTag + "-w" + std::to_string(list.key) + "-" +
                std::to_string(list.dialogs) + "@" + host_;
  list.dialogs++;
  list.toTag.clear();
  list.remoteTarget.clear();
  list.peer.reset();
  list.cseq = 1;
  list.refreshing = false;
  list.state.reset();
  SubscribeRequest request;
  request.uri = list.listUri;
  request.callId = list.callId;
  request.fromTag = list.fromTag;
  request.cseq = 1;
  request.expiresSec = config_.presence.subscriptionExpiresSec;
  list.subscribe.reset(builder_.send(agent_.agent(), agent_.leg(), &ListWatchRole::onResponse,
                                     reinterpret_cast<nta_outgoing_magic_t*>(this), request));
  if (!list.subscribe) return false;
  byCallId_.emplace(list.callId, list.key);
  byTransaction_.emplace(list.subscribe.get(), list.key);
  return true;
}

void ListWatchRole::sendRefresh(ListWatch& list) {
  if (list.toTag.empty() || list.subscribe) return;
  SubscribeRequest request;
  request.uri = list.listUri;
  request.callId = list.callId;
  request.fromTag = list.fromTag;
  request.toTag = list.toTag;
  request.remoteTarget = list.remoteTarget;
  request.cseq = ++list.cseq;
  request.expiresSec = config_.presence.subscriptionExpiresSec;
  request.inDialog = true;
  list.refreshing = true;
  list.subscribe.reset(builder_.send(agent_.agent(), agent_.leg(), &ListWatchRole::onResponse,
                                     reinterpret_cast<nta_outgoing_magic_t*>(this), request));
  if (!list.subscribe) {
    restart(list);
    return;
  }
  byTransaction_.emplace(list.subscribe.get(), list.key);
}

int ListWatchRole::onResponse(nta_outgoing_magic_t* magic, nta_outgoing_t* orq, sip_t const* sip) {
  auto* self = reinterpret_cast<ListWatchRole*>(magic);
  try {
    auto found = self->byTransaction_.find(orq);
    if (found != self->byTransaction_.end()) self->handleResponse(found->second, orq, sip);
  } catch (...) {
    // Never let an exception cross a Sofia C frame.
  }
  return 0;
}

void ListWatchRole::handleResponse(uint64_t key, nta_outgoing_t* orq, sip_t const* sip) {
  const int status = nta_outgoing_status(orq);
  if (status < 200) return;
  auto it = lists_.find(key);
  if (it == lists_.end()) return;
  ListWatch& list = it->second;
  byTransaction_.erase(orq);
  list.subscribe.reset();
  const bool refresh = list.refreshing;
  list.refreshing = false;
  if (status < 300) {
    list.peer = responseSource(orq);
    if (list.toTag.empty() && sip && sip->sip_to && sip->sip_to->a_tag) {
      list.toTag = sip->sip_to->a_tag;
    }
    if (list.remoteTarget.empty() && sip && sip->sip_contact) {
      list.remoteTarget = reader_.usableUri(sip->sip_contact->m_url);
    }
    uint32_t granted = config_.presence.subscriptionExpiresSec;
    if (sip && sip->sip_expires) {
      granted = std::clamp<uint32_t>(static_cast<uint32_t>(sip->sip_expires->ex_delta), 2, granted);
    }
    stack_.timers().schedule(Clock::now() + std::chrono::seconds(granted / 2), *this, 2 * key,
                             ++list.timerGen);
    return;
  }
  if (refresh) {
    // The dialog is gone: a new one brings a new full state.
    restart(list);
    return;
  }
  // 421 Extension Required, 489 Bad Event, 404 (no such list)...: no list here.
  byCallId_.erase(list.callId);
  list.toTag.clear();
  fallBack(list, false);
}

int ListWatchRole::onRequest(const IncomingRequest& request) {
  sip_t const* sip = request.sip;
  const std::string callId = sip->sip_call_id->i_id;
  auto found = byCallId_.find(callId);
  if (found == byCallId_.end()) {
    const auto now = Clock::now();
    while (!tombstoneOrder_.empty() && tombstoneOrder_.front().first <= now) {
      tombstones_.erase(tombstoneOrder_.front().second);
      tombstoneOrder_.pop_front();
    }
    return tombstones_.count(callId) ? 200 : kNotMine;
  }
  ListWatch& list = lists_.at(found->second);
  const char* toTag = sip->sip_to ? sip->sip_to->a_tag : nullptr;
  if (!toTag || list.fromTag != std::string_view(toTag)) return kNotMine;
  if (!sources_.allowed(request.source, list.peer, nullptr, nullptr)) return 403;
  return handleNotify(list, sip);
}

int ListWatchRole::handleNotify(ListWatch& list, sip_t const* sip) {
  if (!isEvent(sip, presence_.event)) return 489;
  if (list.toTag.empty() && sip->sip_from && sip->sip_from->a_tag) {
    list.toTag = sip->sip_from->a_tag;
  }
  if (list.remoteTarget.empty() && sip->sip_contact) {
    list.remoteTarget = reader_.usableUri(sip->sip_contact->m_url);
  }
  const bool terminated =
      sip->sip_subscription_state && sip->sip_subscription_state->ss_substate &&
      std::string_view(sip->sip_subscription_state->ss_substate) == "terminated";
  const std::string contentType = fullContentTypeOf(sip);
  if (!bodyOf(sip).empty() || !terminated) {
    if (!isMultipartRelated(contentType)) {
      // A presence server that took the list URI for a presentity (no eventlist support).
      endDialog(list);
      fallBack(list, false);
      return 200;
    }
    const ListNotification notification =
        parseListNotification(contentType, bodyOf(sip), *presence_.mapper);
    if (!notification.ok) {
      endDialog(list);
      fallBack(list, false);
      return 200;
    }
    switch (list.state.apply(notification)) {
      case ResourceListState::Applied::kStale:
        return 200;
      case ResourceListState::Applied::kGap:
        restart(list);
        return 200;
      case ResourceListState::Applied::kApplied:
        break;
    }
    for (SubscriptionEvent& event :
         listStatusEvents(list.state, notification.fullState, list.byUri)) {
      if (list.fallenBack.count(event.requestUri)) continue;
      list.reported.insert(event.requestUri);
      sink_.event(std::move(event));
    }
    if (notification.fullState) fallBack(list, true);
    stack_.timers().schedule(
        Clock::now() + std::chrono::milliseconds(config_.presence.resourceLists.settleMs), *this,
        2 * list.key + 1, ++list.settleGen);
  }
  if (terminated) restart(list);
  return 200;
}

void ListWatchRole::endDialog(ListWatch& list) {
  if (!list.toTag.empty()) {
    SubscribeRequest request;
    request.uri = list.listUri;
    request.callId = list.callId;
    request.fromTag = list.fromTag;
    request.toTag = list.toTag;
    request.remoteTarget = list.remoteTarget;
    request.cseq = ++list.cseq;
    request.expiresSec = 0;
    request.inDialog = true;
    builder_.send(agent_.agent(), agent_.leg(), nullptr, nullptr, request);
  }
  tombstone(list.callId);
  byCallId_.erase(list.callId);
  if (list.subscribe) byTransaction_.erase(list.subscribe.get());
  list.subscribe.reset();
  list.toTag.clear();
  list.timerGen++;
}

void ListWatchRole::restart(ListWatch& list) {
  endDialog(list);
  if (list.allFallenBack) return;
  if (!sendInitial(list)) fallBack(list, false);
}

void ListWatchRole::fallBack(ListWatch& list, bool onlyUnlisted) {
  if (!onlyUnlisted) {
    list.allFallenBack = true;
    list.timerGen++;
  }
  for (const auto& [uri, keys] : list.byUri) {
    if (onlyUnlisted && list.state.members().count(uri)) continue;
    for (const std::string& key : keys) {
      if (list.fallenBack.insert(key).second) fallback_.watch(key);
    }
  }
}

bool ListWatchRole::timerLive(uint64_t id, uint32_t gen) const {
  const auto it = lists_.find(id / 2);
  if (it == lists_.end() || it->second.allFallenBack) return false;
  return gen == (id % 2 == 0 ? it->second.timerGen : it->second.settleGen);
}

void ListWatchRole::onTimer(uint64_t id, uint32_t gen, Clock::time_point) {
  if (!timerLive(id, gen)) return;
  ListWatch& list = lists_.at(id / 2);
  if (id % 2 == 0) {
    sendRefresh(list);
  } else {
    settle(list);
  }
}

void ListWatchRole::settle(ListWatch& list) {
  for (const auto& [uri, member] : list.state.members()) {
    if (member.kind != ListMemberState::Kind::kUnknown) continue;
    const auto keys = list.byUri.find(uri);
    if (keys == list.byUri.end()) continue;
    for (const std::string& key : keys->second) {
      if (list.fallenBack.count(key) || !list.reported.insert(key).second) continue;
      SubscriptionEvent event;
      event.kind = SubscriptionEvent::Kind::kStatus;
      event.requestUri = key;
      event.status = TerminalStatus::kUnreachable;
      sink_.event(std::move(event));
    }
  }
}

void ListWatchRole::tombstone(const std::string& callId) {
  if (callId.empty() || !tombstones_.insert(callId).second) return;
  tombstoneOrder_.emplace_back(Clock::now() + kTombstoneLifetime, callId);
}

void ListWatchRole::onShutdown() {
  for (auto& entry : lists_) endDialog(entry.second);
  lists_.clear();
  byListUri_.clear();
  stack_.roleDrained(*this);
}

}  // namespace px

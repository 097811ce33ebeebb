#include "cluster/ClusterNode.h"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <utility>

namespace px::cluster {
namespace {

// 128 random bits: an instance id is never reused, so it can fence (PgRegistrations.h).
std::string newInstanceId() {
  std::random_device random;
  char text[40];
  std::snprintf(text, sizeof text, "%08x%08x%08x%08x", random(), random(), random(), random());
  return text;
}

std::string defaultName() {
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return std::string(host) + ":" + std::to_string(getpid());
}

struct NotifyFree {
  void operator()(PGnotify* n) const noexcept { pq::PQfreemem(n); }
};

}  // namespace

ClusterNode::ClusterNode(ClusterOptions options, Signal signal)
    : options_(std::move(options)),
      signal_(std::move(signal)),
      wakeFd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      lease_(options_.timing),
      backoff_(options_.reconnectBackoffMs, options_.reconnectBackoffMaxMs) {
  if (!wakeFd_) throw std::runtime_error("cluster: eventfd failed");
  if (options_.instanceName.empty()) options_.instanceName = defaultName();
  try {
    connectAndListen();
    store::PgRegistrations sql(conn_.get());
    register_(steadyMs());
    initialCalls_ = sql.loadCalls(&quarantinedCalls_);
  } catch (const std::exception& e) {
    throw std::runtime_error("PostgreSQL " + pg::describe(options_.url) + ": " + e.what());
  }
  status_.instanceName = options_.instanceName;
  status_.instanceId = instanceId_;
  status_.connected = true;
  status_.leaseHeld = true;
  thread_ = std::thread([this] { run(); });
}

ClusterNode::~ClusterNode() {
  close(true);
}

int64_t ClusterNode::steadyMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void ClusterNode::wake() {
  const uint64_t one = 1;
  // A full counter (never, at 2^64) or EAGAIN still leaves the fd readable: nothing to do.
  [[maybe_unused]] ssize_t n = ::write(wakeFd_.get(), &one, sizeof one);
}

// --- producers (any thread) -------------------------------------------------------------------

void ClusterNode::write(NotificationWrites writes, Committed committed) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!stopping_) {
      requests_.writes.emplace_back(std::move(writes), std::move(committed));
      wake();
      return;
    }
  }
  if (committed) committed(false, "notification store closed");
}

void ClusterNode::saveCallRegistration(const call::CallRegistration& registration,
                                       Committed committed) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!stopping_) {
      requests_.callSaves.emplace_back(registration, std::move(committed));
      wake();
      return;
    }
  }
  if (committed) committed(false, "notification store closed");
}

void ClusterNode::removeCallRegistration(call::RegistrationKind kind, const std::string& correlator,
                                         Committed committed) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!stopping_) {
      requests_.callRemoves.emplace_back(kind, correlator, std::move(committed));
      wake();
      return;
    }
  }
  if (committed) committed(false, "notification store closed");
}

void ClusterNode::deliveryDone(const NotificationKey& id, uint64_t sequence) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_) return;
  requests_.settled.emplace_back(id, sequence);
  wake();
}

void ClusterNode::release(std::vector<NotificationKey> keys) {
  std::lock_guard<std::mutex> lock(mutex_);
  // Also while stopping: the thread serves what is queued before it leaves.
  requests_.releases.insert(requests_.releases.end(), keys.begin(), keys.end());
  wake();
}

void ClusterNode::endElsewhere(RemoteEnd request) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!stopping_) {
      requests_.ends.push_back(std::move(request));
      wake();
      return;
    }
  }
  request.error = "notification store closed";
  post([&](ClusterEvents& e) { e.ends.push_back(std::move(request)); });
}

void ClusterNode::read(StoredRead request) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!stopping_) {
      requests_.reads.push_back(std::move(request));
      wake();
      return;
    }
  }
  request.error = "notification store closed";
  post([&](ClusterEvents& e) { e.reads.push_back(std::move(request)); });
}

ClusterEvents ClusterNode::takeEvents() {
  std::lock_guard<std::mutex> lock(eventsMutex_);
  return std::exchange(events_, ClusterEvents{});
}

ClusterStatus ClusterNode::status() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return status_;
}

void ClusterNode::close(bool handOver) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!thread_.joinable()) return;
    stopping_ = true;
    handOver_ = handOver;
  }
  wake();
  thread_.join();
}

void ClusterNode::post(const std::function<void(ClusterEvents&)>& fill) {
  bool wasEmpty;
  {
    std::lock_guard<std::mutex> lock(eventsMutex_);
    wasEmpty = events_.empty();
    fill(events_);
    if (events_.empty()) return;
  }
  if (wasEmpty && signal_) signal_();
}

// --- the node's thread ------------------------------------------------------------------------

void ClusterNode::connectAndListen() {
  pg::Conn conn = pg::connect(options_.url, options_.connectTimeoutSec);
  store::PgRegistrations sql(conn.get());
  sql.migrate();
  sql.prepare();
  pg::exec(conn.get(), std::string("LISTEN ") + store::kClusterChannel, "listen");
  conn_ = std::move(conn);
}

void ClusterNode::register_(int64_t nowMs) {
  instanceId_ = newInstanceId();
  store::PgRegistrations(conn_.get())
      .registerInstance(instanceId_, options_.instanceName, options_.timing.leaseMs);
  lease_.acknowledged(nowMs);
  balanceNow_ = true;
  std::lock_guard<std::mutex> lock(mutex_);
  status_.instanceId = instanceId_;
}

void ClusterNode::loseLease() {
  lease_.refused();
  owned_.clear();
  handOverPending_ = 0;
  post([](ClusterEvents& e) {
    // Everything adopted but not yet taken is no longer ours either.
    e.adopted = {};
    e.handOver = 0;
    e.dropAll = true;
  });
  std::lock_guard<std::mutex> lock(mutex_);
  status_.leaseLosses++;
  status_.leaseHeld = false;
  status_.owned = 0;
}

void ClusterNode::disconnected(const std::exception& e, int64_t nowMs) {
  conn_.reset();
  backoff_.failed(std::chrono::steady_clock::now());
  lastError_ = e.what();
  (void)nowMs;
  std::lock_guard<std::mutex> lock(mutex_);
  status_.connected = false;
}

bool ClusterNode::ensureConnected(int64_t nowMs) {
  if (conn_) return true;
  if (!backoff_.due(std::chrono::steady_clock::now())) return false;
  try {
    connectAndListen();
    backoff_.succeeded();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      status_.connected = true;
    }
    // Back: the lease is renewed at once (or found lost) before anything is written.
    const int64_t sent = steadyMs();
    if (!instanceId_.empty() && lease_.held(sent) &&
        store::PgRegistrations(conn_.get()).renew(instanceId_, options_.timing.leaseMs)) {
      lease_.acknowledged(sent);
    } else {
      if (lease_.heldUntil() || !owned_.empty()) loseLease();
      register_(steadyMs());
    }
    balanceNow_ = true;
    return true;
  } catch (const pg::Error& e) {
    disconnected(e, nowMs);
    return false;
  }
}

void ClusterNode::failAll(Requests& requests, const std::string& error) {
  for (auto& [writes, committed] : requests.writes) {
    if (committed) committed(false, error);
  }
  for (auto& [registration, committed] : requests.callSaves) {
    if (committed) committed(false, error);
  }
  for (auto& [kind, correlator, committed] : requests.callRemoves) {
    if (committed) committed(false, error);
  }
  // Settled deliveries stay in the outbox: sent again by whoever restores them (at-least-once).
  // Releases are kept for the next connection: the consumer already forgot those notifications.
  pendingReleases_.insert(pendingReleases_.end(), requests.releases.begin(),
                          requests.releases.end());
  for (RemoteEnd& end : requests.ends) end.error = error;
  for (StoredRead& read : requests.reads) read.error = error;
  if (!requests.ends.empty() || !requests.reads.empty()) {
    post([&](ClusterEvents& e) {
      for (RemoteEnd& end : requests.ends) e.ends.push_back(std::move(end));
      for (StoredRead& read : requests.reads) e.reads.push_back(std::move(read));
    });
  }
  requests = Requests{};
}

void ClusterNode::serve(Requests& requests) {
  store::PgRegistrations sql(conn_.get());
  // Releases first (also those a lost connection left): the consumer forgot them already.
  if (!requests.releases.empty() || !pendingReleases_.empty()) {
    std::vector<NotificationKey> keys = std::move(pendingReleases_);
    pendingReleases_.clear();
    keys.insert(keys.end(), requests.releases.begin(), requests.releases.end());
    requests.releases.clear();
    try {
      sql.release(instanceId_, keys);
    } catch (...) {
      pendingReleases_ = std::move(keys);
      throw;
    }
    for (const NotificationKey& key : keys) owned_.erase(key);
    handOverPending_ = 0;
    std::lock_guard<std::mutex> lock(mutex_);
    status_.handedOver += keys.size();
  }
  while (!requests.writes.empty()) {
    // Queued writes go out together, one transaction for a burst (group commit), cut where a
    // key removed earlier in the batch is created again: the merged transaction inserts before
    // it deletes. A data error (not the connection) writes them one by one, so that only the
    // write at fault fails.
    size_t n = 0;
    NotificationWrites merged;
    std::set<NotificationKey> removedInBatch;
    for (; n < requests.writes.size() && n < kMaxWritesPerTransaction; ++n) {
      const NotificationWrites& w = requests.writes[n].first;
      const bool recreated = std::any_of(w.created.begin(), w.created.end(),
                                         [&](const auto& k) { return removedInBatch.count(k); });
      if (recreated && n > 0) break;
      merged.saves.insert(merged.saves.end(), w.saves.begin(), w.saves.end());
      merged.removes.insert(merged.removes.end(), w.removes.begin(), w.removes.end());
      merged.deliveries.insert(merged.deliveries.end(), w.deliveries.begin(), w.deliveries.end());
      merged.created.insert(merged.created.end(), w.created.begin(), w.created.end());
      removedInBatch.insert(w.removes.begin(), w.removes.end());
    }
    store::FencedWriteResult result;
    try {
      result = sql.write(instanceId_, n == 1 ? requests.writes[0].first : merged);
    } catch (const pg::Error& e) {
      if (e.connectionLost()) throw;
      if (n > 1) {
        n = 1;
        try {
          result = sql.write(instanceId_, requests.writes[0].first);
        } catch (const pg::Error& single) {
          if (single.connectionLost()) throw;
          Committed done = std::move(requests.writes[0].second);
          requests.writes.erase(requests.writes.begin());
          if (done) done(false, single.what());
          continue;
        }
      } else {
        Committed done = std::move(requests.writes[0].second);
        requests.writes.erase(requests.writes.begin());
        if (done) done(false, e.what());
        continue;
      }
    }
    const std::set<NotificationKey> duplicates(result.duplicates.begin(), result.duplicates.end());
    const std::set<NotificationKey> lost(result.lost.begin(), result.lost.end());
    std::set<NotificationKey> refused = duplicates;
    refused.insert(lost.begin(), lost.end());
    for (size_t i = 0; i < n; ++i) {
      const NotificationWrites& writes = requests.writes[i].first;
      for (const NotificationKey& key : writes.created) {
        if (refused.count(key) == 0) owned_.insert(key);
      }
      for (const NotificationKey& key : writes.removes) owned_.erase(key);
    }
    for (const NotificationKey& key : lost) owned_.erase(key);
    if (!refused.empty()) {
      // Lost keys were taken over or ended elsewhere; a duplicate start is another instance's
      // correlator: the consumer forgets both without a word.
      post([&](ClusterEvents& e) {
        e.dropped.insert(e.dropped.end(), refused.begin(), refused.end());
      });
      // A duplicate start's save of the same key comes back lost too: not a fenced write.
      size_t fenced = 0;
      for (const NotificationKey& key : lost) fenced += duplicates.count(key) == 0 ? 1 : 0;
      std::lock_guard<std::mutex> lock(mutex_);
      status_.fencedWrites += fenced;
    }
    std::vector<std::pair<Committed, const char*>> answers;
    for (size_t i = 0; i < n; ++i) {
      const NotificationWrites& writes = requests.writes[i].first;
      const char* error = nullptr;
      if (std::any_of(writes.created.begin(), writes.created.end(),
                      [&](const auto& k) { return duplicates.count(k) != 0; })) {
        error = kDuplicateError;
      } else if (std::any_of(writes.removes.begin(), writes.removes.end(),
                             [&](const auto& k) { return lost.count(k) != 0; })) {
        error = kLostError;
      }
      answers.emplace_back(std::move(requests.writes[i].second), error);
    }
    requests.writes.erase(requests.writes.begin(),
                          requests.writes.begin() + static_cast<std::ptrdiff_t>(n));
    for (auto& [done, error] : answers) {
      if (done) done(error == nullptr, error == nullptr ? "" : error);
    }
    // A long burst must not starve the lease: renew between transactions when it is due.
    renewIfDue(steadyMs());
  }
  // Served in order; each is taken out only once done, so that a failure fails the rest.
  for (; !requests.callSaves.empty(); requests.callSaves.pop_front()) {
    sql.saveCall(requests.callSaves.front().first);
    if (Committed& done = requests.callSaves.front().second) done(true, "");
  }
  for (; !requests.callRemoves.empty(); requests.callRemoves.pop_front()) {
    auto& [kind, correlator, committed] = requests.callRemoves.front();
    sql.removeCall(kind, correlator);
    if (committed) committed(true, "");
  }
  // One statement for every settled delivery of the turn.
  sql.deliveryDone(requests.settled);
  requests.settled.clear();
  while (!requests.ends.empty()) {
    RemoteEnd end = std::move(requests.ends.front());
    requests.ends.pop_front();
    try {
      std::string api = end.api;
      if (end.kind == RemoteEnd::Kind::kTerminate) {
        // The operator ends a notification of any API.
        const std::optional<NotificationState> found = sql.find(end.key);
        api = found ? found->spec.api : std::string();
      }
      end.found = sql.takeForEnd(end.key, api);
    } catch (const std::exception& e) {
      end.error = e.what();
      post([&](ClusterEvents& ev) { ev.ends.push_back(std::move(end)); });
      throw;
    }
    if (end.found && end.found->owner == instanceId_) {
      // Ours after all (adopted after the consumer looked): it must forget it as well.
      owned_.erase(end.key);
      post([&](ClusterEvents& e) { e.dropped.push_back(end.key); });
    }
    post([&](ClusterEvents& e) { e.ends.push_back(std::move(end)); });
  }
  while (!requests.reads.empty()) {
    StoredRead read = std::move(requests.reads.front());
    requests.reads.pop_front();
    try {
      if (read.key) {
        if (std::optional<NotificationState> found = sql.find(*read.key)) {
          read.states.push_back(std::move(*found));
        }
      } else {
        for (NotificationState& state : sql.list()) {
          if (!read.requester || state.spec.id.requester == *read.requester) {
            read.states.push_back(std::move(state));
          }
        }
      }
    } catch (const std::exception& e) {
      read.error = e.what();
      read.states.clear();
      post([&](ClusterEvents& ev) { ev.reads.push_back(std::move(read)); });
      throw;
    }
    post([&](ClusterEvents& e) { e.reads.push_back(std::move(read)); });
  }
}

void ClusterNode::reloadCalls() {
  std::vector<QuarantinedCallRegistration> quarantined;
  std::vector<call::CallRegistration> calls =
      store::PgRegistrations(conn_.get()).loadCalls(&quarantined);
  post([&](ClusterEvents& e) { e.calls = std::move(calls); });
}

void ClusterNode::consumeNotifies(bool* balanceNow) {
  if (pq::PQconsumeInput(conn_.get()) == 0) {
    throw pg::Error(std::string("PostgreSQL connection lost: ") + pq::PQerrorMessage(conn_.get()),
                    true);
  }
  bool callsChanged = false;
  std::vector<NotificationKey> ended;
  for (;;) {
    std::unique_ptr<PGnotify, NotifyFree> n(pq::PQnotifies(conn_.get()));
    if (!n) break;
    const store::ClusterMessage message = store::parseClusterMessage(n->extra);
    switch (message.kind) {
      case store::ClusterMessage::Kind::kEnded:
        if (message.owner == instanceId_) ended.push_back(message.key);
        break;
      case store::ClusterMessage::Kind::kReleased:
        *balanceNow = true;
        break;
      case store::ClusterMessage::Kind::kCalls:
        callsChanged = true;
        break;
      case store::ClusterMessage::Kind::kUnknown:
        break;
    }
  }
  if (!ended.empty()) {
    for (const NotificationKey& key : ended) owned_.erase(key);
    post([&](ClusterEvents& e) { e.dropped.insert(e.dropped.end(), ended.begin(), ended.end()); });
  }
  if (callsChanged) reloadCalls();
}

void ClusterNode::renewIfDue(int64_t nowMs) {
  if (!lease_.renewalDue(nowMs)) return;
  store::PgRegistrations sql(conn_.get());
  if (!lease_.held(nowMs)) {
    if (!owned_.empty() || lease_.heldUntil()) loseLease();
    register_(steadyMs());
  } else if (sql.renew(instanceId_, options_.timing.leaseMs)) {
    lease_.acknowledged(nowMs);
    if (++renewals_ % 10 == 0) sql.forgetLapsed(options_.timing.leaseMs * 10);
  } else {
    loseLease();
    register_(steadyMs());
  }
  balanceNow_ = true;
}

void ClusterNode::tick(int64_t nowMs) {
  store::PgRegistrations sql(conn_.get());
  renewIfDue(nowMs);
  if (!balanceNow_ || !lease_.held(steadyMs())) return;
  balanceNow_ = false;
  const store::ClusterCounts counts = sql.counts(instanceId_);
  ClusterView view;
  view.live = counts.live;
  view.total = counts.total;
  view.mine = counts.mine;
  view.orphans = counts.orphans;
  Share share = balance(view, options_.balance);
  // Balancing: orphans beyond this instance's fair share are left, for one renew period, to the
  // instances that have room (they claim on the "released" NOTIFY at once, or at their next
  // renewal). Taking them at once (balance() allows it when this instance's own room is 0) made
  // an instance that had just claimed its share, or had just handed its excess over, grab every
  // remaining orphan back before the others could, and hand the excess over again at its next
  // renewal: ownership churned (claimed and handed over hundreds of times, each a re-SUBSCRIBE
  // and an outbox resent by the next owner) instead of settling. Orphans still there a renew
  // period later are claimed as before: none is left unwatched for want of room.
  const int64_t liveNow = std::max<int64_t>(1, view.live);
  const int64_t fair = (view.total + liveNow - 1) / liveNow;
  if (options_.balance && share.claim > 0 && view.mine >= fair) {
    const int64_t now = steadyMs();
    if (!orphansOverShareSinceMs_) orphansOverShareSinceMs_ = now;
    if (now - *orphansOverShareSinceMs_ < options_.timing.renewMs) share.claim = 0;
  } else {
    orphansOverShareSinceMs_.reset();
  }
  uint64_t claimed = 0;
  if (share.claim > 0) {
    store::ClaimedNotifications taken = sql.claim(instanceId_, share.claim);
    claimed = taken.states.size();
    for (const NotificationState& state : taken.states) owned_.insert(state.spec.id);
    if (!taken.states.empty() || !taken.quarantined.empty()) {
      post([&](ClusterEvents& e) {
        auto& a = e.adopted;
        a.states.insert(a.states.end(), std::make_move_iterator(taken.states.begin()),
                        std::make_move_iterator(taken.states.end()));
        a.outbox.insert(a.outbox.end(), std::make_move_iterator(taken.outbox.begin()),
                        std::make_move_iterator(taken.outbox.end()));
        a.quarantined.insert(a.quarantined.end(), taken.quarantined.begin(),
                             taken.quarantined.end());
      });
    }
    // Orphans may remain (another instance took some meanwhile): look again soon.
    if (static_cast<int64_t>(claimed) == share.claim) balanceNow_ = true;
  }
  if (share.release > 0 && handOverPending_ == 0) {
    handOverPending_ = share.release;
    post([&](ClusterEvents& e) { e.handOver = share.release; });
  }
  std::lock_guard<std::mutex> lock(mutex_);
  status_.leaseHeld = true;
  status_.live = counts.live;
  status_.total = counts.total;
  status_.owned = counts.mine + static_cast<int64_t>(claimed);
  status_.claimed += claimed;
}

void ClusterNode::run() {
  pthread_setname_np(pthread_self(), "px-cluster");
  for (;;) {
    Requests requests;
    bool stopping;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      std::swap(requests, requests_);
      stopping = stopping_;
    }
    const int64_t now = steadyMs();
    // The local view of the lease ended (no renewal got through): stop watching at once.
    if (lease_.heldUntil() && !lease_.held(now)) loseLease();
    if (!ensureConnected(now)) {
      failAll(requests, "PostgreSQL unreachable: " + lastError_);
    } else {
      try {
        serve(requests);
        if (!stopping) {
          consumeNotifies(&balanceNow_);
          tick(steadyMs());
        }
      } catch (const pg::Error& e) {
        if (e.connectionLost()) {
          disconnected(e, now);
          failAll(requests, e.what());
        } else {
          // The database refused a statement for its data: fail what was being served, keep
          // the connection.
          lastError_ = e.what();
          failAll(requests, e.what());
        }
      } catch (const std::exception& e) {
        lastError_ = e.what();
        failAll(requests, e.what());
      }
    }
    if (stopping) {
      bool empty;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        empty = requests_.empty();
      }
      if (!empty) continue;  // serve what arrived while stopping
      if (handOver_ && conn_ && !instanceId_.empty()) {
        try {
          if (!pendingReleases_.empty()) {
            store::PgRegistrations(conn_.get()).release(instanceId_, pendingReleases_);
          }
          store::PgRegistrations(conn_.get()).leave(instanceId_);
        } catch (const std::exception&) {
          // The lease lapses by itself: the others take over a lease period later.
        }
      }
      conn_.reset();
      return;
    }
    // Sleep until the lease needs attention, a request arrives or the database notifies.
    const int64_t after = steadyMs();
    int64_t waitMs =
        std::min<int64_t>(lease_.nextAttentionMs(after) - after, options_.timing.renewMs);
    if (!conn_) {
      const auto next = backoff_.next() - std::chrono::steady_clock::now();
      waitMs = std::min<int64_t>(
          waitMs, std::chrono::duration_cast<std::chrono::milliseconds>(next).count());
    }
    if (balanceNow_) waitMs = 0;
    pollfd fds[2] = {{wakeFd_.get(), POLLIN, 0},
                     {conn_ ? pq::PQsocket(conn_.get()) : -1, POLLIN, 0}};
    ::poll(fds, conn_ ? 2 : 1, static_cast<int>(std::max<int64_t>(0, waitMs)));
    uint64_t count;
    while (::read(wakeFd_.get(), &count, sizeof count) > 0) {
    }
  }
}

}  // namespace px::cluster

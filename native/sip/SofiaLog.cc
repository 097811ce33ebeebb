#include "sip/SofiaLog.h"

#include <sofia-sip/su_log.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <utility>
#include <vector>

namespace px {

namespace {

struct Entry {
  uint64_t id;
  unsigned level;
  SofiaLog::Listener listener;
};

// The process-wide state behind su_log_default (see SofiaLog.h): guarded by mutex.
struct State {
  std::mutex mutex;
  std::vector<Entry> listeners;
  uint64_t nextId = 1;
  bool toStderr = std::getenv("PARLAYX_SIP_LOG") != nullptr;
};

State& state() {
  static State* const s = new State;  // never destroyed: a SIP thread may log at exit
  return *s;
}

// Sofia writes a line in pieces at times (message dumps): each thread keeps its own partial line.
thread_local std::string partial;

void logger(void*, char const* format, va_list args) {
  State& s = state();
  char buffer[1024];
  va_list copy;
  va_copy(copy, args);
  const int n = std::vsnprintf(buffer, sizeof buffer, format, copy);
  va_end(copy);
  if (n < 0) return;
  if (static_cast<size_t>(n) < sizeof buffer) {
    partial.append(buffer, static_cast<size_t>(n));
  } else {
    std::string big(static_cast<size_t>(n) + 1, '\0');
    std::vsnprintf(big.data(), big.size(), format, args);
    big.resize(static_cast<size_t>(n));
    partial += big;
  }
  std::lock_guard<std::mutex> lock(s.mutex);
  for (size_t end = partial.find('\n'); end != std::string::npos; end = partial.find('\n')) {
    std::string line = partial.substr(0, end);
    partial.erase(0, end + 1);
    if (line.empty()) continue;
    if (s.listeners.empty()) {
      if (s.toStderr) std::fprintf(stderr, "%s\n", line.c_str());
      continue;
    }
    for (size_t i = 0; i + 1 < s.listeners.size(); ++i) s.listeners[i].listener(line);
    s.listeners.back().listener(std::move(line));
  }
}

// Sofia's level: the highest a listener asked for; without one, its default (3) only when the
// lines go to stderr, else 0 (nothing is formatted for nobody).
void applyLevel(const State& s) {
  unsigned level = s.toStderr ? 3 : 0;
  for (const Entry& e : s.listeners) level = std::max(level, e.level);
  su_log_set_level(su_log_default, level);
}

}  // namespace

void SofiaLog::install() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  su_log_redirect(su_log_default, &logger, nullptr);
  applyLevel(s);
}

std::unique_ptr<SofiaLog::Attachment> SofiaLog::attach(unsigned level, Listener listener) {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  const uint64_t id = s.nextId++;
  s.listeners.push_back(Entry{id, std::clamp(level, 1u, 9u), std::move(listener)});
  su_log_redirect(su_log_default, &logger, nullptr);
  applyLevel(s);
  return std::unique_ptr<Attachment>(new Attachment(id));
}

SofiaLog::Attachment::~Attachment() {
  State& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.listeners.erase(std::remove_if(s.listeners.begin(), s.listeners.end(),
                                   [this](const Entry& e) { return e.id == id_; }),
                    s.listeners.end());
  applyLevel(s);
}

const char* SofiaLog::pinoLevel(unsigned level) {
  if (level <= 2) return "error";
  if (level <= 4) return "warn";
  if (level <= 6) return "info";
  return "debug";
}

}  // namespace px

// Sofia-SIP's own log (su_log) as lines for the gateway's log.
//
// Sofia has one log per process: su_log_redirect() and su_log_set_level() change global state
// that every Sofia stack of the process shares. This file is the only place that touches it
// (sofiaInit() installs the same redirect). Its owner is the process: a gateway that wants
// Sofia's lines attaches a listener for as long as it runs; while none is attached the lines are
// dropped (or written to stderr when PARLAYX_SIP_LOG is set, for debugging). With several
// listeners every one gets every line, and Sofia logs at the highest level any asked for: Sofia
// does not tell which stack or which level a line came from.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace px {

class SofiaLog {
 public:
  // Called with each complete line (no trailing newline) on the thread Sofia logged it from
  // (mostly a SIP thread), under the log's lock: it must only hand the line over (a queue post).
  using Listener = std::function<void(std::string line)>;

  // Attached until destroyed; destroying it waits for a line being handed to it.
  class Attachment {
   public:
    Attachment(const Attachment&) = delete;
    Attachment& operator=(const Attachment&) = delete;
    ~Attachment();

   private:
    friend class SofiaLog;
    explicit Attachment(uint64_t id) : id_(id) {}
    uint64_t id_;
  };

  // Lines at Sofia levels 1..level (1..9) go to `listener` until the attachment is destroyed.
  static std::unique_ptr<Attachment> attach(unsigned level, Listener listener);

  // Installs the redirect (from sofiaInit(), once su_init() ran): nothing reaches stderr unasked.
  static void install();

  // What Sofia logs below `level`, as one pino level name: Sofia passes no level with a line,
  // so every line gets the one of the most verbose kind the level lets through.
  static const char* pinoLevel(unsigned level);
};

}  // namespace px

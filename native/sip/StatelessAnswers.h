// Stateless answers to incoming requests: the one place that decides what a request gets before
// (and when) no role takes it, and that sends the answer.
//
// Requests are answered without a server transaction: a transaction would keep each NOTIFY and its
// answer for 64*T1 = 32 s (Timer J), about 10 KB per NOTIFY: 1 GB while 100,000 subscriptions
// start. Without one a retransmitted request (its answer was lost) is handled again; roles are
// written for that.
#pragma once

#include <string>
#include <vector>

#include "sip/Sofia.h"

namespace px {

struct AnswerPolicy {
  std::vector<sip_method_t> methods;  // what the agent's roles take (besides OPTIONS and ACK)
  std::string allow;                  // Allow of a 405
  std::string allowEvents;            // Allow-Events of a 489
};

inline constexpr int kNoAnswer = 0;   // an ACK: never answered
inline constexpr int kAskRoles = -2;  // for the agent's roles to answer

// The answer every role shares, or kAskRoles: OPTIONS 200; ACK kNoAnswer; other methods the
// roles do not take 405; no Call-ID 400.
int screenRequest(const AnswerPolicy& policy, sip_method_t method, sip_t const* sip);

// Answers statelessly (kNoAnswer: drops the message). Takes the message over.
void answerStatelessly(nta_agent_t* agent, msg_t* msg, sip_t* sip, int status,
                       const AnswerPolicy& policy);

}  // namespace px

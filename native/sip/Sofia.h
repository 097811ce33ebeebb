// Sofia-SIP includes and RAII owners for the Sofia objects the SIP layer creates.
// Every owner must be released on the SIP thread that created the object.
#pragma once

#include <unistd.h>

#include <memory>
#include <utility>

// sofia_features.h and friends need su_config.h first (sofia-sip notes §5.4).
#include <sofia-sip/su_config.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/msg_addr.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/nta_stateless.h>
#include <sofia-sip/nta_tag.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_status.h>
#include <sofia-sip/su.h>
#include <sofia-sip/su_tag.h>
#include <sofia-sip/su_wait.h>
#include <sofia-sip/tport_tag.h>

#include "common/UniqueFd.h"

namespace px {

struct SuRootDeleter {
  void operator()(su_root_t* root) const { su_root_destroy(root); }
};
using SuRoot = std::unique_ptr<su_root_t, SuRootDeleter>;

struct NtaAgentDeleter {
  void operator()(nta_agent_t* agent) const { nta_agent_destroy(agent); }
};
using NtaAgent = std::unique_ptr<nta_agent_t, NtaAgentDeleter>;

struct NtaLegDeleter {
  void operator()(nta_leg_t* leg) const { nta_leg_destroy(leg); }
};
using NtaLeg = std::unique_ptr<nta_leg_t, NtaLegDeleter>;

// Destroying a client transaction stops its retransmissions and drops late responses.
struct NtaOutgoingDeleter {
  void operator()(nta_outgoing_t* orq) const { nta_outgoing_destroy(orq); }
};
using NtaOutgoing = std::unique_ptr<nta_outgoing_t, NtaOutgoingDeleter>;

// Destroying a server transaction lets NTA finish it (retransmitted answers, ACK) and free it.
struct NtaIncomingDeleter {
  void operator()(nta_incoming_t* irq) const { nta_incoming_destroy(irq); }
};
using NtaIncoming = std::unique_ptr<nta_incoming_t, NtaIncomingDeleter>;

struct MsgDeleter {
  void operator()(msg_t* msg) const { msg_destroy(msg); }
};
using MsgRef = std::unique_ptr<msg_t, MsgDeleter>;

struct SuHomeDeleter {
  void operator()(su_home_t* home) const { su_home_unref(home); }
};
using SuHome = std::unique_ptr<su_home_t, SuHomeDeleter>;

struct SuTimerDeleter {
  void operator()(su_timer_t* timer) const { su_timer_destroy(timer); }
};
using SuTimer = std::unique_ptr<su_timer_t, SuTimerDeleter>;

// su_init() once per process, before any other Sofia call. su_deinit() is never called: other
// users (worker threads, other addons) may still run Sofia, and it does nothing on Linux.
void sofiaInit();

}  // namespace px

#include "sip/StatelessAnswers.h"

#include <algorithm>

// After Sofia.h, which includes su_config.h first.
#include <sofia-sip/nta_stateless.h>

namespace px {

int screenRequest(const AnswerPolicy& policy, sip_method_t method, sip_t const* sip) {
  if (method == sip_method_options) return 200;
  if (method == sip_method_ack) return kNoAnswer;
  if (std::find(policy.methods.begin(), policy.methods.end(), method) == policy.methods.end()) {
    return 405;
  }
  if (!sip || !sip->sip_call_id || !sip->sip_call_id->i_id) return 400;
  return kAskRoles;
}

void answerStatelessly(nta_agent_t* agent, msg_t* msg, sip_t* sip, int status,
                       const AnswerPolicy& policy) {
  if (status == kNoAnswer) {
    msg_destroy(msg);
    return;
  }
  // The answer goes back where the request came from, never to a host its top Via names in
  // maddr: that would let anyone aim the gateway's answers at a third host (reflection).
  if (sip->sip_via) msg_header_remove_param(sip->sip_via->v_common, "maddr");
  // nta_msg_treply takes the request message over.
  nta_msg_treply(agent, msg, status, sip_status_phrase(status),
                 SIPTAG_ALLOW_STR(status == 405 ? policy.allow.c_str() : nullptr),
                 SIPTAG_ALLOW_EVENTS_STR(status == 489 ? policy.allowEvents.c_str() : nullptr),
                 TAG_END());
}

}  // namespace px

// Who calls whom, read off an INVITE for the call events: the forms of the called party that a
// registration may name, and the caller (P-Asserted-Identity, else From). Pure: runs on the SIP
// thread but keeps nothing.
#pragma once
#include <string>
#include <vector>

#include "sip/Sofia.h"

namespace px {

// The canonical forms of the called party, most specific first (see CallMatcher::interest).
std::vector<std::string> calledPartyForms(const url_t* requestUri);

struct CallerId {
  std::string uri;   // canonical when our parser takes it
  std::string name;  // display name, unquoted
};

// P-Asserted-Identity (the first), else From.
CallerId callerOf(sip_t const* sip);

}  // namespace px

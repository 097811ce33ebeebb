// Fuzz target: Sofia-SIP's message parser (the sip_default_mclass NTA uses for every datagram)
// and the header accessors the presence watcher applies to what it parses: request line, Call-ID,
// tags, Event, Subscription-State, Contact and Record-Route rendered back to text, the body handed
// to the PIDF mapper. Also re-encodes the parsed message and parses that again. fuzz_sip_watcher
// runs the same bytes through the real watcher; this one is ~100x faster and needs no sockets.
//
// Sofia itself is the Debian build, not instrumented: the fuzzer steers by the coverage of our
// code only, ASan sees Sofia's heap through its malloc/free and string interceptors.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "FuzzCheck.h"
#include "presence/PresenceDocument.h"
#include "sip/Sofia.h"

namespace {

struct MsgDeleter {
  void operator()(msg_t* msg) const { msg_destroy(msg); }
};
using Msg = std::unique_ptr<msg_t, MsgDeleter>;

// Touches every byte of a C string Sofia gave us, so ASan sees a read past its end.
size_t touch(const char* s) {
  return s ? std::string_view(s).size() : 0;
}

std::string asText(su_home_t* home, const sip_header_t* h) {
  char* text = sip_header_as_string(home, h);
  std::string out = text ? text : "";
  su_free(home, text);
  return out;
}

size_t inspect(su_home_t* home, msg_t* msg, const px::PresenceDocumentMapper& mapper) {
  sip_t* sip = sip_object(msg);
  if (!sip) return 0;
  size_t n = 0;
  if (sip->sip_request) {
    n += touch(sip->sip_request->rq_method_name);
    char* uri = url_as_string(home, sip->sip_request->rq_url);
    n += touch(uri);
    su_free(home, uri);
  }
  if (sip->sip_status) n += touch(sip->sip_status->st_phrase) + sip->sip_status->st_status;
  if (sip->sip_call_id) n += touch(sip->sip_call_id->i_id);
  if (sip->sip_from) n += touch(sip->sip_from->a_tag);
  if (sip->sip_to) n += touch(sip->sip_to->a_tag);
  if (sip->sip_event) n += touch(sip->sip_event->o_type);
  if (const sip_subscription_state_t* ss = sip->sip_subscription_state) {
    n += touch(ss->ss_substate) + touch(ss->ss_reason);
    if (ss->ss_expires) n += std::strtoull(ss->ss_expires, nullptr, 10);
    if (ss->ss_retry_after) n += std::strtoull(ss->ss_retry_after, nullptr, 10);
  }
  for (const sip_contact_t* m = sip->sip_contact; m; m = m->m_next) {
    char* uri = url_as_string(home, m->m_url);
    n += touch(uri);
    su_free(home, uri);
  }
  for (const sip_record_route_t* rr = sip->sip_record_route; rr; rr = rr->r_next) {
    n += asText(home, reinterpret_cast<const sip_header_t*>(rr)).size();
  }
  for (const sip_via_t* v = sip->sip_via; v; v = v->v_next) {
    n += touch(v->v_host) + touch(v->v_port) + touch(v->v_maddr) + touch(v->v_received);
  }
  if (sip->sip_expires) n += sip->sip_expires->ex_delta;
  if (sip->sip_cseq) n += sip->sip_cseq->cs_seq;
  const std::string_view contentType =
      sip->sip_content_type && sip->sip_content_type->c_type ? sip->sip_content_type->c_type : "";
  std::string_view body;
  if (sip->sip_payload && sip->sip_payload->pl_data) {
    body = std::string_view(sip->sip_payload->pl_data, sip->sip_payload->pl_len);
  }
  const px::PresenceMapping mapping = mapper.map(contentType, body);
  PX_FUZZ_CHECK(mapping.ok || !mapping.error.empty());
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  px::sofiaInit();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const px::PresenceDocumentMapper mapper({"on-the-phone", "busy"});
  px::SuHome home(static_cast<su_home_t*>(su_home_new(sizeof(su_home_t))));
  if (!home) return 0;

  Msg msg(msg_make(sip_default_mclass(), 0, data, static_cast<ssize_t>(size)));
  if (!msg) return 0;
  volatile size_t sink = inspect(home.get(), msg.get(), mapper);
  (void)sink;

  // Encode what was parsed (as NTA does for a reply built from a request) and parse it again.
  size_t len = 0;
  char* text = msg_as_string(home.get(), msg.get(), nullptr, 0, &len);
  if (text) {
    Msg again(msg_make(sip_default_mclass(), 0, text, static_cast<ssize_t>(len)));
    if (again) sink = inspect(home.get(), again.get(), mapper);
    su_free(home.get(), text);
  }
  return 0;
}

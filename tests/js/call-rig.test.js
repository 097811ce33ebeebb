'use strict';
// The Call Notification rig without the gateway: a Kamailio S-CSCF emulating ISC routes each
// INVITE to an application server and back, then to a SIPp callee. Every call outcome the E2E
// suite uses must reach the SIPp caller as the callee (or the S-CSCF) produced it, whether the
// AS is a plain Kamailio proxy (the INVITE really makes the round trip), a closed port (the
// S-CSCF's failure route continues without it), or absent (no filter).
const { startCallRig, STANDARD_CALLS } = require('../support/callRig');

jest.setTimeout(120000);

describe.each([
  ['a Kamailio proxy as the AS', 'proxy'],
  ['the AS down (closed port)', 'closed'],
  ['no AS (direct routing)', 'none'],
])('call rig with %s', (_label, as) => {
  let rig;

  beforeAll(async () => {
    rig = await startCallRig({ as });
  });

  afterAll(async () => {
    if (rig) await rig.stop();
  });

  test.each(Object.keys(STANDARD_CALLS))('%s: the caller sees the callee\'s outcome', async (name) => {
    const { call, saw } = STANDARD_CALLS[name];
    const result = await rig.placeCall(call);
    const context = `${name}: ${JSON.stringify({ ...result, messages: undefined, logs: undefined })}\n`
      + `${result.messages.map((m) => `${m.dir} ${m.startLine}`).join('\n')}`;
    expect({ context, ...pick(result, Object.keys(saw)) }).toEqual({ context, ...saw });
    expect({ context, passed: result.passed }).toEqual({ context, passed: true });
    if (as === 'closed') {
      // The S-CSCF waited for the AS (asTimeoutMs = 1 s) before continuing without it.
      expect(result.durationMs).toBeGreaterThanOrEqual(900);
    }
  });

  if (as === 'proxy') {
    test('an AS that changes the Request-URI: the S-CSCF routes the call to the new user', async () => {
      const result = await rig.placeCall({ to: 'divert', expect: 'answer' });
      expect(pick(result, ['final', 'byeReceived', 'byeAnswered', 'passed']))
        .toEqual({ final: 200, byeReceived: true, byeAnswered: true, passed: true });
      // carol's SIPp answered: its Contact is in the 200 the caller got.
      const ok = result.messages.find((m) => m.dir === 'received' && m.status === 200 && m.cseqMethod === 'INVITE');
      expect(ok.raw).toContain(`Contact: <${rig.callees.carol.uri}`);
    });

    test('every INVITE went through the AS proxy and came back', () => {
      const relayed = rig.asProxy.logs().split('\n').filter((l) => l.includes('as-proxy: INVITE'));
      // One per call of the table (the unknown user's INVITE too: the filter runs first).
      expect(relayed.length).toBeGreaterThanOrEqual(Object.keys(STANDARD_CALLS).length);
    });
  }
  if (as === 'closed') {
    test('the S-CSCF logged each failover', () => {
      const failovers = rig.scscf.logs().split('\n').filter((l) => l.includes('the AS did not answer'));
      expect(failovers.length).toBeGreaterThanOrEqual(Object.keys(STANDARD_CALLS).length);
    });
  }
});

function pick(object, keys) {
  return Object.fromEntries(keys.map((k) => [k, object[k]]));
}

'use strict';
// The Call Notification rig: SIPp callees (one process per user, each with one behaviour), a
// Kamailio S-CSCF that knows them (scripts/kamailio/scscf.js) and whose INVITE filter sends
// calls to an application server (the gateway, a plain Kamailio proxy, a closed port, or none),
// and SIPp callers. placeCall() runs one call and says what the caller saw.
const { startScscf, startAsProxy } = require('../../scripts/kamailio/scscf');
const { freePort } = require('../../scripts/kamailio/kamailio');
const { startSippUas, runSippUac } = require('./sipp');

/**
 * The callees of the standard rig: user -> startSippUas options. "ringing" serves both the
 * caller's CANCEL and the no-answer cases (the S-CSCF or the gateway cancels it).
 */
const STANDARD_CALLEES = {
  answer: { scenario: 'callee-answer-bye', pauseMs: 100 },
  carol: { scenario: 'callee-answer-bye', pauseMs: 100 },
  talker: { scenario: 'callee-answer' },
  busy: { scenario: 'callee-final', keys: { code: '486' } },
  unavailable: { scenario: 'callee-final', keys: { code: '480' } },
  notfound: { scenario: 'callee-final', keys: { code: '404' } },
  ringtimeout: { scenario: 'callee-ring-final', keys: { code: '408' }, pauseMs: 300 },
  ringing: { scenario: 'callee-ring-cancel' },
  silent: { scenario: 'callee-silent' },
};

/**
 * What the caller saw of one call, from SIPp's message trace.
 * @param {Array<object>} messages runSippUac().messages
 * @returns {{provisional:number[], final:number|null, ackSent:boolean, cancelSent:boolean,
 *   cancelAnswered:number|null, byeReceived:boolean, byeAnswered:boolean, byeSent:boolean,
 *   byeAcknowledged:boolean}} byeAcknowledged: the caller's BYE got its 200; provisional: the
 *   distinct 1xx codes other than 100 (hop by hop, not part of what the call did)
 */
function summarize(messages) {
  const invite = messages.filter((m) => m.dir === 'received' && m.status && m.cseqMethod === 'INVITE');
  const finalResponse = invite.find((m) => m.status >= 200);
  const provisional = [...new Set(invite.filter((m) => m.status > 100 && m.status < 200).map((m) => m.status))];
  const cancelOk = messages.find((m) => m.dir === 'received' && m.status && m.cseqMethod === 'CANCEL');
  return {
    provisional,
    final: finalResponse ? finalResponse.status : null,
    ackSent: messages.some((m) => m.dir === 'sent' && m.method === 'ACK'),
    cancelSent: messages.some((m) => m.dir === 'sent' && m.method === 'CANCEL'),
    cancelAnswered: cancelOk ? cancelOk.status : null,
    byeReceived: messages.some((m) => m.dir === 'received' && m.method === 'BYE'),
    byeAnswered: messages.some((m) => m.dir === 'sent' && m.status === 200 && m.cseqMethod === 'BYE'),
    byeSent: messages.some((m) => m.dir === 'sent' && m.method === 'BYE'),
    byeAcknowledged: messages.some((m) => m.dir === 'received' && m.status === 200 && m.cseqMethod === 'BYE'),
  };
}

/**
 * Starts the rig.
 * @param {object} [opts]
 * @param {Object<string,object>} [opts.callees=STANDARD_CALLEES] user -> startSippUas options
 * @param {'proxy'|'closed'|'none'|string} [opts.as='proxy'] the AS: a plain Kamailio proxy, a
 *   closed port (the S-CSCF continues without it), no filter at all, or an AS address
 *   ('sip:127.0.0.1:<port>', e.g. the gateway's calls port)
 * @param {object} [opts.scscf] more startScscf options (ringTimeoutMs, answerTimeoutMs,
 *   asTimeoutMs, log, debug)
 * @param {Object<string,string>} [opts.rewrites] as 'proxy': R-URI user -> user the AS routes
 *   the INVITE to instead (default: divert -> carol)
 * @returns {Promise<{scscf:object, asProxy:object|null, asUri:string|null,
 *   callees:Object<string,object>, placeCall:(call:object)=>Promise<object>,
 *   stop:()=>Promise<void>}>}
 */
async function startCallRig({
  callees = STANDARD_CALLEES, as = 'proxy', scscf: scscfOptions = {}, rewrites = { divert: 'carol' },
} = {}) {
  const started = [];
  const stop = async () => {
    for (const p of started.reverse()) await p.stop().catch(() => {});
  };
  try {
    const uas = {};
    for (const [user, options] of Object.entries(callees)) {
      uas[user] = await startSippUas(options);
      started.push(uas[user]);
    }
    let asProxy = null;
    let asUri = null;
    if (as === 'proxy') {
      asProxy = await startAsProxy({ debug: 1, rewrites, children: 1 });
      started.push(asProxy);
      asUri = asProxy.uri;
    } else if (as === 'closed') {
      asUri = `sip:127.0.0.1:${await freePort()}`;
    } else if (as !== 'none') {
      asUri = as;
    }
    const users = Object.fromEntries(Object.entries(uas).map(([user, u]) => [user, u.uri]));
    // One UDP worker: with two, a callee's 180 and the 200 right behind it can be relayed by
    // different workers and reach the caller in the other order (legal over UDP, but the tests
    // assert the exact sequence the callee produced). bench/calls.js keeps two.
    const scscf = await startScscf({ asTimeoutMs: 1000, ringTimeoutMs: 2000, answerTimeoutMs: 1500, children: 1,
      ...scscfOptions, users, as: asUri });
    started.push(scscf);

    /**
     * Places one call and resolves with what the caller saw.
     * @param {{to:string, expect?:'answer'|'hangup'|'cancel'|number, ringMs?:number,
     *   holdMs?:number, caller?:string, timeoutMs?:number}} call expect: the caller's scenario:
     *   answer (caller-answer: 200, ACK, the callee's BYE), hangup (caller-answer-bye: 200, ACK,
     *   its own BYE after holdMs), cancel (caller-cancel after ringMs of ringing) or a final code
     *   (caller-final)
     */
    const placeCall = async ({
      to, expect = 'answer', ringMs = 300, holdMs = 100, caller = 'alice', timeoutMs = 15000,
    }) => {
      let scenario = 'caller-final';
      if (expect === 'answer') scenario = 'caller-answer';
      else if (expect === 'hangup') scenario = 'caller-answer-bye';
      else if (expect === 'cancel') scenario = 'caller-cancel';
      const startedAt = Date.now();
      const run = await runSippUac({
        scenario, target: scscf, service: to, caller, timeoutMs,
        ...(typeof expect === 'number' ? { code: expect } : {}),
        ...(expect === 'cancel' ? { pauseMs: ringMs } : {}),
        ...(expect === 'hangup' ? { pauseMs: holdMs } : {}),
      });
      return { ...summarize(run.messages), passed: run.ok, sippExit: run.code, durationMs: Date.now() - startedAt,
        messages: run.messages, logs: run.logs };
    };
    return { scscf, asProxy, asUri, callees: uas, placeCall, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * The caller-visible outcome of every standard call, as the S-CSCF alone produces it (with
 * STANDARD_CALLEES and the default timers): what the gateway must not change.
 */
const STANDARD_CALLS = {
  'answer+BYE': { call: { to: 'answer', expect: 'answer' },
    saw: { provisional: [180], final: 200, ackSent: true, byeReceived: true, byeAnswered: true } },
  'answer+caller BYE': { call: { to: 'talker', expect: 'hangup' },
    saw: { provisional: [180], final: 200, ackSent: true, byeSent: true, byeAcknowledged: true } },
  486: { call: { to: 'busy', expect: 486 }, saw: { provisional: [], final: 486, ackSent: true } },
  480: { call: { to: 'unavailable', expect: 480 }, saw: { provisional: [], final: 480, ackSent: true } },
  '180+408': { call: { to: 'ringtimeout', expect: 408 }, saw: { provisional: [180], final: 408, ackSent: true } },
  404: { call: { to: 'notfound', expect: 404 }, saw: { provisional: [], final: 404, ackSent: true } },
  '180+caller CANCEL': { call: { to: 'ringing', expect: 'cancel', ringMs: 300 },
    saw: { provisional: [180], final: 487, ackSent: true, cancelSent: true, cancelAnswered: 200 } },
  'no answer': { call: { to: 'ringing', expect: 408 }, saw: { provisional: [180], final: 408, ackSent: true } },
  'never answers': { call: { to: 'silent', expect: 408 }, saw: { provisional: [], final: 408, ackSent: true } },
  'unknown user': { call: { to: 'nobody', expect: 404 }, saw: { provisional: [], final: 404, ackSent: true } },
};

module.exports = { startCallRig, summarize, STANDARD_CALLEES, STANDARD_CALLS };

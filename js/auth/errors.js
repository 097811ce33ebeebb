'use strict';
// The one error type of requester authentication. Its message and fields never carry a
// password: they go to the log; the client only ever sees the fixed WS-Security fault.

/**
 * Why a request was refused (the client is told none of this):
 * - missing: no credentials and authentication is required
 * - malformed: undecodable Basic credentials or UsernameToken
 * - unsupportedScheme: an Authorization header with another scheme than Basic
 * - unknownRequester / badPassword: no such requester / wrong password or digest
 * - digestNotAllowed: PasswordDigest for a requester without a digestSecret
 * - expiredToken / createdInFuture: wsu:Created outside ±tokenMaxAgeSec of now
 * - replayedNonce: the (username, nonce) pair was already accepted within the window
 * - replayCacheFull: the nonce cache is full of live entries (fails closed rather than forget)
 * - requesterMismatch: Basic and UsernameToken name different requesters
 * - throttledClient / throttledRequester: too many failures from this client address / for this
 *   requester name; refused before any password check (HTTP 429, the client is told to wait)
 * - overloaded: the password verification queue is full (HTTP 503, the client is told to wait)
 * @typedef {'missing'|'malformed'|'unsupportedScheme'|'unknownRequester'|'badPassword'|
 *   'digestNotAllowed'|'expiredToken'|'createdInFuture'|'replayedNonce'|'replayCacheFull'|
 *   'requesterMismatch'|'throttledClient'|'throttledRequester'|'overloaded'} AuthenticationFailureReason
 */

const MAX_LOGGED_NAME = 256;

class AuthenticationError extends Error {
  /**
   * @param {AuthenticationFailureReason} reason
   * @param {string} [requester] the requester name claimed by the client, '' if none
   *   (cut to MAX_LOGGED_NAME characters: it is client input on its way to the log)
   * @param {{ retryAfterSec?: number }} [options] for throttled/overloaded: when to try again
   */
  constructor(reason, requester = '', { retryAfterSec } = {}) {
    requester = String(requester).slice(0, MAX_LOGGED_NAME);
    super(`authentication failed: ${reason}${requester ? ` (requester ${JSON.stringify(requester)})` : ''}`);
    this.name = 'AuthenticationError';
    this.code = 'ERR_PX_AUTH';
    this.reason = reason;
    this.requester = requester;
    if (retryAfterSec !== undefined) this.retryAfterSec = Math.max(1, Math.ceil(retryAfterSec));
  }
}

module.exports = { AuthenticationError };

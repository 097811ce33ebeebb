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
 * @typedef {'missing'|'malformed'|'unsupportedScheme'|'unknownRequester'|'badPassword'|
 *   'digestNotAllowed'|'expiredToken'|'createdInFuture'|'replayedNonce'|'replayCacheFull'|
 *   'requesterMismatch'} AuthenticationFailureReason
 */

const MAX_LOGGED_NAME = 256;

class AuthenticationError extends Error {
  /**
   * @param {AuthenticationFailureReason} reason
   * @param {string} [requester] the requester name claimed by the client, '' if none
   *   (cut to MAX_LOGGED_NAME characters: it is client input on its way to the log)
   */
  constructor(reason, requester = '') {
    requester = String(requester).slice(0, MAX_LOGGED_NAME);
    super(`authentication failed: ${reason}${requester ? ` (requester ${JSON.stringify(requester)})` : ''}`);
    this.name = 'AuthenticationError';
    this.code = 'ERR_PX_AUTH';
    this.reason = reason;
    this.requester = requester;
  }
}

module.exports = { AuthenticationError };

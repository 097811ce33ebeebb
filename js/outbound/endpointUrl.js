'use strict';
// The syntax of an application's endpoint URL (TerminalStatusNotification endpoint today), one
// rule for where it enters (startNotification: SVC0002) and where it is used (delivery), so that
// nothing accepted at the door can fail later: an absolute http:/https: URL with a host, no
// control characters or white space, and user information (sent as HTTP Basic) whose
// percent-escapes decode.
const ABSOLUTE_HTTP = /^https?:\/\//i;
const CONTROL_OR_SPACE = /[\u0000-\u0020\u007f]/;

/**
 * @param {unknown} value
 * @returns {{ url: URL, authorization: string | null } | null} null when it is not a usable
 *   endpoint; authorization: the Basic credentials of the URL's user information, if any
 */
function parseEndpointUrl(value) {
  if (typeof value !== 'string' || !ABSOLUTE_HTTP.test(value) || CONTROL_OR_SPACE.test(value)) return null;
  let url;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') return null;
  let authorization = null;
  if (url.username || url.password) {
    let credentials;
    try {
      credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    } catch {
      return null; // a malformed percent-escape (e.g. "a%ZZ")
    }
    // RFC 7617: the user-id cannot contain ':' and neither may carry control characters.
    if (/[\u0000-\u001f\u007f]/.test(credentials) || decodeURIComponent(url.username).includes(':')) return null;
    authorization = `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`;
  }
  return { url, authorization };
}

module.exports = { parseEndpointUrl };

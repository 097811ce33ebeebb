'use strict';
// Which requested group is fetched through a resource list server (RFC 4662), and at which list
// URI: the one place that maps a group to its list (presence.resourceLists.listUriTemplate,
// "{user}" and "{host}" of the group URI glmgroup:user@host). The group's members are still
// the gateway's (the policy's expansion and rules); the list only answers their statuses.

/**
 * @param {any} config the gateway configuration
 * @param {string} group a requested group URI
 * @returns {string|null} the list URI, or null when the group is fetched per member
 */
function listUriFor(config, group) {
  const lists = config.presence && config.presence.resourceLists;
  if (!lists || !lists.enabled || !lists.listUriTemplate) return null;
  const m = /^[a-z][a-z0-9+.-]*:([^@]+)@(.+)$/i.exec(group);
  if (!m) return null;
  const [, user, host] = m;
  if (/[\s<>"]/.test(user + host)) return null;
  return lists.listUriTemplate.split('{user}').join(user).split('{host}').join(host);
}

/** True for a requested address that names a group (one of groups.schemes). */
function isGroup(config, address) {
  const colon = address.indexOf(':');
  if (colon <= 0) return false;
  const scheme = address.slice(0, colon).toLowerCase();
  return (config.groups && config.groups.schemes || []).includes(scheme);
}

/**
 * The list URI of a getStatusForGroup request: the request holds exactly one group with a list
 * (other addresses are fetched per terminal: those the list does not hold, the RLS's answer
 * sends to per-terminal fetches). null: no list fetch.
 * @param {any} config
 * @param {string[]} requested
 */
function listForRequest(config, requested) {
  const lists = requested.filter((a) => isGroup(config, a)).map((g) => listUriFor(config, g)).filter(Boolean);
  return lists.length === 1 ? lists[0] : null;
}

module.exports = { listUriFor, listForRequest };

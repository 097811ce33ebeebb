'use strict';
// Readiness (GET /readyz): the gateway can answer requests now. Three checks:
// - not shutting down (SIGTERM flips this at once, before the drain);
// - the usage store is writable: no append has failed since the last commit went through (a
//   gateway that cannot record usage must not serve, see js/gateway.js), and, with
//   store.backend postgresql, PostgreSQL is reachable now (while it is not, durable appends fail
//   and batched ones go to the local spool: either way the gateway is not fully in service);
// - the presence server is reachable: a real SIP probe, a presence fetch (SUBSCRIBE Expires: 0)
//   of sip.watcherUri through the core's command queue, its outcome through the outcome queue,
//   like every getStatus. Any SIP answer proves reachability (a NOTIFY, or a final response such
//   as 403/404/489); no answer within presence.fetchTimeoutMs, 408, a 5xx (503 is also what
//   Sofia reports when ICMP says the server is down) or a request that cannot be sent do not.
//   A fetch, not OPTIONS: it exercises what getStatus needs (routing, the server's presence
//   service), and adds no new SIP code to the core.
// - clustered (store.backend postgresql): this instance holds its lease, i.e. it is a member
//   that may own notifications (while it does not, it watches nothing and others take over).
// The probe runs at most once per presence.fetchTimeoutMs: concurrent and repeated /readyz
// calls share its result, so probes cannot flood the presence server. It is counted in the SIP
// fetch metrics like any fetch.

/**
 * @typedef {object} ReadinessReport
 * @property {boolean} ready
 * @property {string[]} reasons why not ready (empty when ready)
 * @property {{ shuttingDown: boolean, usageStoreWritable: boolean, presenceServerReachable: boolean, clusterMember: boolean }} checks
 *   (clusterMember: always true unless clustered)
 * @property {string} checkedAt when the presence probe last ran (ISO-8601)
 */

/** Whether a fetch outcome shows that the presence server answered. */
function answered(outcome) {
  if (outcome.kind === 'status' || outcome.kind === 'badDocument') return true;
  if (outcome.kind === 'sipError') return outcome.sipStatus > 0 && outcome.sipStatus < 500 && outcome.sipStatus !== 408;
  return false;
}

/** What a failed probe says in the reasons. */
function probeFailure(outcome) {
  if (outcome.kind === 'timeout') return `presence server did not answer within ${outcome.elapsedMs} ms`;
  if (outcome.kind === 'sipError') return `presence server probe got ${outcome.sipStatus} ${outcome.detail}`.trim();
  return `presence server probe ended: ${outcome.kind} ${outcome.detail || ''}`.trim();
}

class Readiness {
  /**
   * @param {{ core: any, usage: import('../usage').UsageLog, config: any, now?: () => number }} options
   */
  constructor({ core, usage, config, now = Date.now }) {
    this.core = core;
    this.usage = usage;
    this.probeUri = config.sip.watcherUri;
    this.cacheMs = config.presence.fetchTimeoutMs;
    this.now = now;
    this.shuttingDown = false;
    /** @type {{ at: number, reachable: boolean, reason: string } | null} */
    this.presence = null;
    /** @type {Promise<void> | null} */
    this.probing = null;
    const s = usage.stats();
    this.store = { writeErrors: s.writeErrors, commits: s.commits, failing: false, unreachable: false };
  }

  /** SIGTERM: not ready from now on. */
  beginShutdown() {
    this.shuttingDown = true;
  }

  /**
   * Appends failed and none has been committed since: failing. A commit after the failures
   * clears it (the store writes again).
   */
  storeWritable() {
    const { writeErrors, commits, reachable } = this.usage.stats();
    // Both moved since the last look: the order is unknown, and a commit went through.
    if (writeErrors > this.store.writeErrors && commits === this.store.commits) this.store.failing = true;
    else if (commits > this.store.commits) this.store.failing = false;
    this.store.writeErrors = writeErrors;
    this.store.commits = commits;
    this.store.unreachable = reachable === false;
    return !this.store.failing && !this.store.unreachable;
  }

  /** The presence probe's result, probing again when the last one is older than the fetch timeout. */
  async presenceReachable() {
    const fresh = this.presence !== null && this.now() - this.presence.at < this.cacheMs;
    if (!fresh) {
      if (this.probing === null) {
        this.probing = this.probe().finally(() => { this.probing = null; });
      }
      await this.probing;
    }
    return this.presence;
  }

  async probe() {
    let reachable = false;
    let reason = '';
    try {
      const outcome = await this.core.fetchStatus(this.probeUri, false);
      reachable = answered(outcome);
      if (!reachable) reason = probeFailure(outcome);
    } catch (error) {
      reason = `presence server probe failed: ${error.message}`;
    }
    this.presence = { at: this.now(), reachable, reason };
  }

  /** @returns {Promise<ReadinessReport>} */
  async check() {
    const reasons = [];
    if (this.shuttingDown) reasons.push('shutting down');
    const usageStoreWritable = this.storeWritable();
    if (this.store.unreachable) reasons.push('usage store: database unreachable (durable records fail, batched ones are spooled)');
    else if (!usageStoreWritable) reasons.push('usage store: appends fail and nothing was committed since');
    const cluster = this.core.stats().cluster;
    const clusterMember = cluster === undefined || (cluster.connected && cluster.leaseHeld);
    if (!clusterMember) reasons.push(cluster.connected ? 'cluster: lease not held' : 'cluster: registration database unreachable');
    let presenceServerReachable;
    if (this.shuttingDown) {
      // No probe: the core may be closing, and the answer is 503 anyway.
      presenceServerReachable = this.presence !== null && this.presence.reachable;
    } else {
      const presence = await this.presenceReachable();
      presenceServerReachable = presence.reachable;
      if (!presence.reachable) reasons.push(presence.reason);
    }
    return {
      ready: reasons.length === 0,
      reasons,
      checks: { shuttingDown: this.shuttingDown, usageStoreWritable, presenceServerReachable, clusterMember },
      checkedAt: new Date(this.presence ? this.presence.at : this.now()).toISOString(),
    };
  }
}

module.exports = { Readiness, answered };

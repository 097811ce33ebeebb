'use strict';
// The usage record of a Parlay X operation (seeds/004 tables 2-6), shared by every service:
// run the operation, then write one record with the common attributes (REQUESTER, RESPONSE_TIME,
// START_TIME, SERVICE), the operation's own ones, and on a fault the exception attributes.
const { randomUUID } = require('node:crypto');
const { ParlayxFault } = require('./parlayx/faults');
const { UsageStatus } = require('./usage');
const { statusName } = require('./policy');

/**
 * A Parlay X fault carrying the usage STATUSCODE of the failure.
 * @param {string} messageId catalogue id, e.g. 'SVC0002'
 * @param {string[]} variables values of the template's %1, %2 ...
 * @param {number} statusCode a UsageStatus value
 * @returns {ParlayxFault}
 */
function failure(messageId, variables, statusCode) {
  const fault = new ParlayxFault(messageId, variables);
  fault.usageStatus = statusCode;
  return fault;
}

/**
 * Told of every finished operation (the metrics, the request log): its API, its event type, the
 * name of its record's STATUSCODE, its time until the record was written, in seconds, its
 * requester and its GLOBALID (the request id).
 * @typedef {{ api: string, operation: string, outcome: string, seconds: number, requester: string,
 *   requestId: string }} OperationEvent
 * @typedef {(o: OperationEvent) => void} OperationObserver
 */

/**
 * What an operation may add to its record while it runs: a status other than VALID without a
 * fault (a partial result), and the targets of a group request that were refused on their own
 * (each gets its own record under the same GLOBALID, with its status and fault).
 * @typedef {object} RecordNotes
 * @property {number} [statusCode]
 * @property {Array<{target: string, fault: ParlayxFault}>} targetFailures
 */

/**
 * Runs an operation and writes its usage record before the answer leaves: in durable mode the
 * record is committed first. A record that cannot be queued fails the request with SVC0001
 * (STATUSCODE FAILED_JMS_ENQUEUE) instead of being lost silently. Errors that are not
 * ParlayxFaults are rethrown without a record (programming errors). Every outcome is counted in
 * sink.counters (when given) under the requester, sink.policyService and the event type, and told
 * to sink.onOperation (when given) under sink.api once its record is written.
 * @template T
 * @param {{ usage: import('./usage').UsageLog, serviceName: string, policyService?: string,
 *   counters?: import('./policy').PolicyCounters, api?: string, onOperation?: OperationObserver }} sink
 *   where records and counts go
 * @param {string} eventType e.g. 'getStatus'
 * @param {{ requester?: string, globalId?: string }} context GLOBALID generated when absent
 * @param {() => Record<string, string|undefined>} details the operation's own attributes, read
 *   once the operation has finished (undefined values are left out)
 * @param {(notes: RecordNotes) => Promise<T>} operation
 * @returns {Promise<T>}
 */
async function recordOperation(sink, eventType, context, details, operation) {
  const started = Date.now();
  const startedPrecise = performance.now();
  const globalId = context.globalId || randomUUID();
  const requester = context.requester || '';
  /** @type {RecordNotes} */
  const notes = { statusCode: undefined, targetFailures: [] };
  let result;
  let fault;
  try {
    result = await operation(notes);
  } catch (error) {
    if (!(error instanceof ParlayxFault)) throw error;
    fault = error;
  }
  const attributes = {
    REQUESTER: requester,
    RESPONSE_TIME: String(Date.now() - started),
    START_TIME: new Date(started).toISOString(),
    SERVICE: sink.serviceName,
    ...details(),
  };
  let statusCode = notes.statusCode ?? UsageStatus.VALID;
  if (fault) {
    statusCode = fault.usageStatus ?? UsageStatus.FAILED_OTHER;
    Object.assign(attributes, faultAttributes(fault));
  }
  // RECORDTIME is when the operation began (its START_TIME), so the record of a
  // startNotification sorts before the records of the deliveries it caused.
  const entries = [{ globalId, eventType, statusCode, attributes, recordTimeMs: started }];
  if (!fault) {
    for (const { target, fault: targetFault } of notes.targetFailures) {
      entries.push({
        globalId, eventType, statusCode: targetFault.usageStatus ?? UsageStatus.FAILED_OTHER, recordTimeMs: started,
        attributes: { ...attributes, TARGET: target, ...faultAttributes(targetFault) },
      });
    }
  }
  count(sink, requester, eventType, statusCode, fault ? [] : notes.targetFailures);
  const observe = (code) => {
    if (sink.onOperation) {
      sink.onOperation({
        api: sink.api || sink.serviceName, operation: eventType, outcome: statusName(code),
        seconds: (performance.now() - startedPrecise) / 1000, requester, requestId: globalId,
      });
    }
  };
  try {
    await sink.usage.record(entries);
  } catch (error) {
    if (error.code !== 'ERR_PX_USAGE_QUEUE_FULL' && error.code !== 'ERR_PX_USAGE_WRITE') throw error;
    // Best effort: FAILED_JMS_ENQUEUE marks the request whose record could not be queued.
    sink.usage.record([{ globalId, eventType, statusCode: UsageStatus.FAILED_JMS_ENQUEUE, recordTimeMs: started, attributes: {
      ...attributes, FAILURE_REASON: 'SVC0001', FAILURE_DETAIL: 'usage record queue full', ERROR_TYPE: 'ServiceException',
    } }]).catch(() => {});
    observe(UsageStatus.FAILED_JMS_ENQUEUE);
    throw failure('SVC0001', ['usage records cannot be written (queue full)'], UsageStatus.FAILED_JMS_ENQUEUE);
  }
  observe(statusCode);
  if (fault) throw fault;
  return result;
}

/** FAILURE_REASON / FAILURE_DETAIL / ERROR_TYPE of a fault (seeds/004 table 6). */
function faultAttributes(fault) {
  return { FAILURE_REASON: fault.messageId, FAILURE_DETAIL: fault.message, ERROR_TYPE: fault.kind };
}

function count(sink, requester, operation, statusCode, targetFailures) {
  if (!sink.counters) return;
  const service = sink.policyService || sink.serviceName;
  sink.counters.add({ requester, service, operation, outcome: statusName(statusCode) });
  for (const { fault } of targetFailures) {
    sink.counters.add({ requester, service, operation, outcome: statusName(fault.usageStatus), level: 'target' });
  }
}

module.exports = { failure, recordOperation };

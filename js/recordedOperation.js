'use strict';
// The usage record of a Parlay X operation (seeds/004 tables 2-6), shared by every service:
// run the operation, then write one record with the common attributes (REQUESTER, RESPONSE_TIME,
// START_TIME, SERVICE), the operation's own ones, and on a fault the exception attributes.
const { randomUUID } = require('node:crypto');
const { ParlayxFault } = require('./parlayx/faults');
const { UsageStatus } = require('./usage');

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
 * Runs an operation and writes its usage record before the answer leaves: in durable mode the
 * record is committed first. A record that cannot be queued fails the request with SVC0001
 * (STATUSCODE FAILED_JMS_ENQUEUE) instead of being lost silently. Errors that are not
 * ParlayxFaults are rethrown without a record (programming errors).
 * @template T
 * @param {{ usage: import('./usage').UsageLog, serviceName: string }} sink where records go
 * @param {string} eventType e.g. 'getStatus'
 * @param {{ requester?: string, globalId?: string }} context GLOBALID generated when absent
 * @param {() => Record<string, string|undefined>} details the operation's own attributes, read
 *   once the operation has finished (undefined values are left out)
 * @param {() => Promise<T>} operation
 * @returns {Promise<T>}
 */
async function recordOperation(sink, eventType, context, details, operation) {
  const started = Date.now();
  const globalId = context.globalId || randomUUID();
  let result;
  let fault;
  try {
    result = await operation();
  } catch (error) {
    if (!(error instanceof ParlayxFault)) throw error;
    fault = error;
  }
  const attributes = {
    REQUESTER: context.requester || '',
    RESPONSE_TIME: String(Date.now() - started),
    START_TIME: new Date(started).toISOString(),
    SERVICE: sink.serviceName,
    ...details(),
  };
  let statusCode = UsageStatus.VALID;
  if (fault) {
    statusCode = fault.usageStatus ?? UsageStatus.FAILED_OTHER;
    attributes.FAILURE_REASON = fault.messageId;
    attributes.FAILURE_DETAIL = fault.message;
    attributes.ERROR_TYPE = fault.kind;
  }
  try {
    // RECORDTIME is when the operation began (its START_TIME), so the record of a
    // startNotification sorts before the records of the deliveries it caused.
    await sink.usage.record([{ globalId, eventType, statusCode, attributes, recordTimeMs: started }]);
  } catch (error) {
    if (error.code !== 'ERR_PX_USAGE_QUEUE_FULL' && error.code !== 'ERR_PX_USAGE_WRITE') throw error;
    // Best effort: FAILED_JMS_ENQUEUE marks the request whose record could not be queued.
    sink.usage.record([{ globalId, eventType, statusCode: UsageStatus.FAILED_JMS_ENQUEUE, recordTimeMs: started, attributes: {
      ...attributes, FAILURE_REASON: 'SVC0001', FAILURE_DETAIL: 'usage record queue full', ERROR_TYPE: 'ServiceException',
    } }]).catch(() => {});
    throw failure('SVC0001', ['usage records cannot be written (queue full)'], UsageStatus.FAILED_JMS_ENQUEUE);
  }
  if (fault) throw fault;
  return result;
}

module.exports = { failure, recordOperation };

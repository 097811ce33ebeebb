// Public API of parlayx-gateway.
/// <reference types="node" />

/** Parlay X Terminal Status values (ES 202 391-8 §7.1). */
export type Status = 'Reachable' | 'Unreachable' | 'Busy';
export type RetrievalStatus = 'Retrieved' | 'NotRetrieved' | 'Error';
/** pino's level names, least severe first (config logging.level). */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
/**
 * The one entry point every part of the gateway logs through. The gateway's own is an adapter
 * onto its pino logger and has isLevelEnabled (the per-request line is only built when info is
 * on); a function without it is given every line.
 */
export type LogFunction = ((level: LogLevel, message: string, extra?: Record<string, unknown>) => void) & {
  isLevelEnabled?: (level: LogLevel) => boolean;
};
/** Where the gateway's pino logger writes: a pino destination, or anything taking whole lines. */
export interface LogDestination {
  write(line: string): unknown;
}
/** The part of the gateway's pino logger (a pino `Logger`) an operator or embedder uses. */
export interface GatewayLogger {
  /** The least severe level written; may be set at run time ('silent': nothing). */
  level: LogLevel | 'silent';
  isLevelEnabled(level: LogLevel): boolean;
  trace(extra: Record<string, unknown> | string, message?: string): void;
  debug(extra: Record<string, unknown> | string, message?: string): void;
  info(extra: Record<string, unknown> | string, message?: string): void;
  warn(extra: Record<string, unknown> | string, message?: string): void;
  error(extra: Record<string, unknown> | string, message?: string): void;
  fatal(extra: Record<string, unknown> | string, message?: string): void;
}

/**
 * The messageIds of the Parlay X common fault catalogue (ES 202 391-1), as the native core
 * declares them (native/parlayx/FaultCatalogue.cc; tests/js/schema-exports.test.js checks this list).
 */
export type FaultMessageId =
  | 'SVC0001' | 'SVC0002' | 'SVC0003' | 'SVC0004' | 'SVC0005' | 'SVC0006' | 'SVC0007' | 'SVC0008'
  | 'POL0001' | 'POL0002' | 'POL0003' | 'POL0004' | 'POL0005' | 'POL0006' | 'POL0007' | 'POL0008'
  | 'POL0009' | 'POL0010' | 'POL0011' | 'POL0012' | 'POL0013';

/** A Parlay X ServiceException or PolicyException (common fault catalogue, ES 202 391-1). */
export declare class ParlayxFault extends Error {
  /** Throws TypeError for a messageId the catalogue does not have; variables are coerced to strings. */
  constructor(messageId: string, variables?: Array<string | number | boolean | null | undefined>);
  readonly kind: 'ServiceException' | 'PolicyException';
  readonly messageId: string;
  readonly variables: readonly string[];
  /** The catalogue text with its %n markers, as sent in the <text> element. */
  readonly template: string;
  /** The filled text (same as message). */
  readonly text: string;
}

export interface StatusData {
  address: string;
  reportStatus: RetrievalStatus;
  currentStatus?: Status;
  errorInformation?: ParlayxFault;
}

export interface GatewayOptions {
  /** YAML configuration file; default: the package's config/gateway.yaml. */
  configPath?: string;
  /** YAML configuration text, instead of a file. */
  configText?: string;
  /** Name used for configText in configuration errors. */
  configName?: string;
  /**
   * Where the gateway logs, instead of its pino logger: every line (including the per-request
   * info lines, unless the function has isLevelEnabled) goes to this function, unredacted and
   * unfiltered by logging.level.
   */
  log?: LogFunction;
  /**
   * Destination of the gateway's pino logger (logging.level, credentials and tokens redacted,
   * one JSON object a line); default: stdout. Ignored when `log` is given.
   */
  logDestination?: LogDestination;
}

/** The configuration as validated by the native core (see config/gateway.yaml). */
/** CAMARA ConnectivityType (device-reachability-status.yaml). */
export type CamaraConnectivity = 'DATA' | 'SMS';

/** CAMARA ReachabilityStatusResponse: the answer of POST .../device-reachability-status/v1/retrieve. */
export interface CamaraReachabilityStatus {
  reachable: boolean;
  connectivity?: CamaraConnectivity[];
  /** RFC 3339 date-time: when the gateway learnt the status (docs/camara.md). */
  lastStatusTime: string;
}

/** CAMARA ErrorInfo: the body of every CAMARA error answer. */
export interface CamaraErrorInfo {
  status: number;
  code: string;
  message: string;
}

export interface GatewayConfig {
  sourcePath: string;
  service: { name: string };
  http: {
    host: string; port: number; basePath: string; maxBodyBytes: number;
    keepAliveTimeoutMs: number; requestTimeoutMs: number; headersTimeoutMs: number; idleTimeoutMs: number;
    maxConnections: number; maxConnectionsPerSource: number;
  };
  /** The operations listener (/metrics, /healthz, /readyz), apart from the SOAP port. */
  admin: {
    enabled: boolean; host: string; port: number; shutdownDeadlineMs: number;
    /** Admin page user name -> scrypt password hash; empty: no admin page. */
    users: Record<string, { passwordHash: string }>;
    authenticateMetrics: boolean;
  };
  logging: { level: LogLevel; sofiaLevel: number };
  sip: {
    bindHost: string; port: number; transports: Array<'udp' | 'tcp'>; watcherUri: string;
    presenceServerUri: string; telDomain: string; userAgent: string;
    tcp: { idleTimeoutMs: number; maxConnections: number; maxConnectionsPerSource: number };
    checkNotifySource: boolean; trustedNotifySources: string[];
  };
  presence: {
    source: 'presence' | 'reg' | 'both';
    fetchTimeoutMs: number; busyActivities: string[]; subscriptionExpiresSec: number; subscribeTimeoutMs: number;
    resubscribeBackoffMs: number; resubscribeBackoffMaxMs: number; maxSubscribeFailures: number;
    maxSubscribesInFlight: number; answerFromSubscriptions: boolean;
    resourceLists: { enabled: boolean; listUriTemplate: string; fetchTimeoutMs: number; settleMs: number };
  };
  groups: {
    schemes: string[]; members: Record<string, string[]>;
    /** Groups from an XDMS (RFC 4826 resource lists over XCAP); root "" = off. */
    xcap: {
      root: string; user: string; documentPath: string; timeoutMs: number; cacheSec: number;
      maxDepth: number; username: string; passwordFile: string;
    };
  };
  notifications: {
    database: string; defaultDurationSec: number; maxDurationSec: number;
    minFrequencyMs: number; unlimitedCountAllowed: boolean; maxCount: number; busyCriteriaAllowed: boolean;
    delivery: {
      timeoutMs: number; maxAttempts: number; retryBackoffMs: number; retryBackoffMaxMs: number;
      maxSocketsPerEndpoint: number; maxConnections: number;
    };
  };
  /** Outbound HTTP destinations allowed despite the SSRF guard (docs/security.md). */
  outbound: { allowCidrs: string[]; allowHosts: string[]; allowOwnListeners: boolean };
  /** Call Notification / Call Direction: the application-server SIP port and the outcome mapping (docs/calls.md). */
  calls: {
    enabled: boolean; bindHost: string; port: number;
    busyCodes: number[]; noAnswerCodes: number[]; notReachableCodes: number[];
    noAnswerTimeoutMs: number; directionNoAnswerTimeoutMs: number; decisionTimeoutMs: number;
    defaultAction: 'Continue' | 'EndCall'; endCallStatus: number; maxCalls: number;
    notificationServiceName: string; directionServiceName: string;
  };
  usage: {
    database: string; durability: 'durable' | 'batched'; flushIntervalMs: number;
    queueCapacity: number; maxServiceDataBytes: number; host: string;
  };
  /**
   * Where usage records and registrations go: SQLite (usage.database, notifications.database) or
   * PostgreSQL (url), shared by the instances of a clustered service (docs/cluster.md), with a
   * local spool for batched usage records.
   */
  store: {
    backend: 'sqlite' | 'postgresql'; url: string; spool: string; spoolCapacity: number;
    connectTimeoutSec: number; reconnectBackoffMs: number; reconnectBackoffMaxMs: number;
    instanceName: string; leaseMs: number; renewMs: number; leaseSafetyMs: number; balance: boolean;
  };
  /** The CAMARA front: Device Reachability Status with OAuth2 bearer tokens (docs/camara.md). */
  camara: {
    enabled: boolean; basePath: string; serviceName: string;
    auth: {
      issuer: string; audience: string; jwksFile: string; jwksUrl: string;
      clockToleranceSec: number; phoneNumberClaim: string;
    };
    /** Scopes a token needs, per operationId of the contract. */
    scopes: {
      getReachabilityStatus: string[];
      /** A scope naming an event type (":<type>:") is needed only for a subscription to that type. */
      createDeviceReachabilityStatusSubscription: string[];
      retrieveDeviceReachabilityStatusSubscriptionList: string[];
      retrieveDeviceReachabilityStatusSubscription: string[];
      deleteDeviceReachabilityStatusSubscription: string[];
    };
    /** Device Reachability Status Subscriptions v0.7 (docs/camara.md "Subscriptions"). */
    subscriptions: { maxPerRequester: number; defaultExpirySec: number; maxExpirySec: number };
    /** Token client (client_id, else azp, else sub) -> requester. */
    clients: Record<string, string>;
    connectivity: { reachable: CamaraConnectivity[]; busy: CamaraConnectivity[] };
  };
  authentication: {
    required: boolean; realm: string; tokenMaxAgeSec: number; verifiedCacheSec: number;
    throttle: {
      windowSec: number; maxFailuresPerClient: number; maxFailuresPerRequester: number; lockoutSec: number;
      maxLockoutSec: number; trustedSourceSec: number; verifyConcurrency: number; verifyQueueLength: number;
    };
  };
  /** Requester name -> credentials (the service policy itself stays in the native core). */
  requesters: Record<string, { passwordHash: string; digestSecret: string }>;
}

/** An HTTP request in the API-gateway proxy shape that `gateway.app` and the handlers take (handlers/README.md). */
export interface HttpEvent {
  /** Request method (serverless platforms). */
  httpMethod?: string;
  /** Request method (node:http adapter). */
  method?: string;
  /** URL path, without the query string. */
  path: string;
  queryStringParameters?: Record<string, string>;
  /** Lower-case header names. */
  headers?: Record<string, string>;
  body?: string | Buffer;
  isBase64Encoded?: boolean;
  /** sourceIp: the client address authentication throttling counts failures against. */
  requestContext?: { identity?: { sourceIp?: string } };
}

export interface HttpResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/** An endpoint (or the whole app) as a serverless-style function. */
export type HttpHandler = (event: HttpEvent) => Promise<HttpResponse>;

/**
 * An AWS API Gateway Lambda proxy event: REST API (payload format 1.0: httpMethod, path,
 * multiValueHeaders, ...) or HTTP API (payload format 2.0: version '2.0', rawPath,
 * rawQueryString, cookies, requestContext.http). Fields the adapter does not read are allowed.
 */
export interface ApiGatewayProxyEvent {
  version?: string;
  /** 1.0 */
  httpMethod?: string;
  /** 1.0 */
  path?: string;
  headers?: Record<string, string | undefined> | null;
  /** 1.0; takes precedence over headers. */
  multiValueHeaders?: Record<string, string[] | undefined> | null;
  queryStringParameters?: Record<string, string | undefined> | null;
  /** 1.0; a repeated parameter keeps its last value (as over node:http). */
  multiValueQueryStringParameters?: Record<string, string[] | undefined> | null;
  /** 2.0; a named stage's prefix is removed (createLambdaHandler's stripStage). */
  rawPath?: string;
  /** 2.0 */
  rawQueryString?: string;
  /** 2.0 */
  cookies?: string[];
  body?: string | null;
  isBase64Encoded?: boolean;
  requestContext?: {
    stage?: string;
    /** 1.0 */
    identity?: { sourceIp?: string };
    /** 2.0 */
    http?: { method: string; path?: string; sourceIp?: string };
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

/** The proxy response of createLambdaHandler. */
export interface ApiGatewayProxyResult {
  statusCode: number;
  /** Lower-case names. */
  headers: Record<string, string>;
  /** 1.0 only, for a header with several values. */
  multiValueHeaders?: Record<string, string[]>;
  /** 2.0 only: the Set-Cookie values. */
  cookies?: string[];
  /** Text for text/*, XML and JSON answers; base64 otherwise (then isBase64Encoded). */
  body: string;
  isBase64Encoded: boolean;
}

/**
 * An AWS Lambda handler (js/adapters/apiGateway.js): every endpoint of one gateway behind API
 * Gateway. `gateway()` is the gateway it serves, made at the first invocation when
 * createLambdaHandler was given options.
 */
export interface LambdaHandler {
  (event: ApiGatewayProxyEvent, context?: object): Promise<ApiGatewayProxyResult>;
  gateway(): Promise<Gateway>;
}

/**
 * The native half of a gateway (`gateway.core`): low-level, for benchmarks and diagnostics;
 * applications use the Gateway methods.
 */
export interface NativeCore {
  readonly config: GatewayConfig;
  /** The SIP port actually bound (sip.port may be 0). */
  readonly sipPort: number;
  /** The call application-server SIP port actually bound (0 when calls.enabled is false). */
  readonly callPort: number;
  /**
   * Counters of the SIP stack and the notification engine, e.g. subscriptionsActive. At run time
   * it also holds `calls`, an object: `NativeCoreCallStats`, and with store.backend postgresql
   * `cluster`: `NativeCoreClusterStats` (typed apart so that the numbers stay a
   * `Record<string, number>`).
   */
  stats(): Record<string, number>;
  /** One active notification (Parlay X or CAMARA subscription), or null. */
  getNotification(requester: string, correlator: string): NotificationInfo | null;
  /**
   * Clustered (store.backend postgresql): the stored notifications of every instance (one with
   * correlator; those of requester when it is a string); null when not clustered.
   */
  readStoredNotifications(requester?: string, correlator?: string): Promise<NotificationInfo[]> | null;
  /**
   * Resolves once stored. Rejects with .code ERR_PX_DUPLICATE_CORRELATOR, ERR_PX_OVERLAPPING_CRITERIA
   * (.address), ERR_PX_CALLS_DISABLED, ERR_PX_CLOSED or ERR_PX_NOTIFICATION_STORE (docs/calls.md).
   */
  startCallRegistration(spec: CallRegistrationSpec): Promise<'started'>;
  stopCallRegistration(kind: CallRegistrationKind, requester: string, correlator: string):
    Promise<'stopped' | 'unknown' | 'notOwner'>;
  listCallRegistrations(): Array<CallRegistrationSpec & { createdMs: number }>;
  setCallListener(listener: (batch: { notifications: CallNotificationDue[]; decisions: CallDecisionDue[] }) => void): void;
  /** false when the call no longer waits for this decision (the AS applied calls.defaultAction). */
  decideCall(callRef: number, decisionId: number,
    action: { action: 'Continue' | 'Route' | 'EndCall'; routingAddress?: string }): boolean;
}

/** Parlay X CallEvents (the native layer's name for CallEvent). */
export type CallEventName = CallEvent;
export type CallRegistrationKind = 'notification' | 'direction';

/** A Call Notification (kind notification) or Call Direction (kind direction) registration. */
export interface CallRegistrationSpec {
  kind: CallRegistrationKind; requester: string; correlator: string;
  /** Canonical addresses, exact or a prefix pattern ending in '*'. */
  addresses: string[];
  /** [] = every event. */
  criteria: CallEventName[];
  endpoint: string; interfaceName: string;
  /** The request's .../local namespace: answers and callbacks use its version. */
  ns: string;
}

export interface CallParticipants { caller: string; callerName: string; called: string; callSessionId: string }

/** One per (event, notification registration wanting it). */
export interface CallNotificationDue extends CallParticipants {
  callRef: number; event: CallEventName; sipStatus: number; description: string; atMs: number;
  correlator: string; requester: string; endpoint: string; interfaceName: string; ns: string;
}

/** One per Call Direction decision: call handle<Event> on the endpoint, then decideCall. */
export interface CallDecisionDue extends CallParticipants {
  callRef: number; decisionId: number; event: CallEventName; sipStatus: number; timeoutMs: number;
  correlator: string; requester: string; endpoint: string; interfaceName: string; ns: string;
}

/** `core.stats().cluster` (store.backend postgresql): this instance as a member of the service. */
export interface NativeCoreClusterStats {
  instanceId: string; instanceName: string; connected: boolean; leaseHeld: boolean;
  owned: number; liveInstances: number; storedNotifications: number;
  claimed: number; handedOver: number; leaseLosses: number; fencedWrites: number;
}

/** `core.stats().calls`: the AS role's counters and the live call registrations. */
export type NativeCoreCallStats = CallProxyCounters & { registrations: number };

/** The AS role's counters (native/sip/CallSink.h). */
export interface CallProxyCounters {
  invites: number; watchedCalls: number; callsInFlight: number; clientTransactions: number;
  forwarded: number; finalResponses: number; cancels: number; noAnswerTimeouts: number;
  acksRelayed: number; retransmitted2xx: number; events: number; decisionsAsked: number;
  decisionsTimedOut: number; decisionsLate: number; routed: number; endedByApplication: number;
  refused: number;
}

/**
 * STATUSCODE of a usage record (0 VALID ... 16 FAILED_TRAFFIC_SHAPING), as the native core declares
 * them (native/usage/UsageStatus.cc; tests/js/schema-exports.test.js checks this list).
 */
export declare const UsageStatus: Readonly<Record<
  'VALID' | 'FAILED_PRIVACY' | 'FAILED_ADDRESS_PLAN_VALIDATION' | 'EXCEEDED_MAX_TARGETS' | 'FAILED_PACER' |
  'FAILED_CALL_LEVEL_PRIVACY' | 'FAILED_PROCESS_UP_TO_LIMIT' | 'FAILED_ADMISSION_CONTROL' |
  'FAILED_SERVICE_NOT_RUNNING' | 'FAILED_JMS_ENQUEUE' | 'UNKNOWN_SCHEME' | 'FAILED_OPERATION' | 'FAILED_OTHER' |
  'INVALID' | 'GROUPS_NOT_ALLOWED' | 'UNRESOLVED_GROUPS' | 'FAILED_TRAFFIC_SHAPING', number>>;

/** A usage record, its SERVICEDATA reassembled from its segments. */
export interface UsageRecord {
  recordId: string;
  globalId: string;
  service: string;
  host: string;
  eventType: string;
  /** UTC, ISO-8601 with milliseconds. */
  recordTime: string;
  statusCode: number;
  /** The status code's name, e.g. 'VALID'. */
  status: string;
  /** The SERVICEDATA text: key=value;... with \\, \; and \= escapes. */
  serviceData: string;
  /** SERVICEDATA decoded. */
  attributes: Record<string, string>;
}

export interface UsageFilter {
  /** RECORDTIME >= from (Date, ISO string or ms). */
  from?: Date | string | number;
  /** RECORDTIME < to. */
  to?: Date | string | number;
  service?: string;
  eventType?: string;
  statusCode?: number;
  globalId?: string;
  requester?: string;
  /** Rows read per page (default 1000). */
  pageSize?: number;
}

export declare class UsageLog {
  /** True when record() resolves only after the records are committed. */
  readonly durable: boolean;
  /** Matching records, oldest first, read page by page. */
  records(filter?: UsageFilter): AsyncGenerator<UsageRecord>;
  /** All matching records at once. */
  query(filter?: UsageFilter): Promise<UsageRecord[]>;
  stats(): UsageStats;
  /**
   * Tells listener of the writer's problems (JS thread): failed appends (failedAppends > 0,
   * reason = SQLite's message(s); the gateway logs them at error) and the store's other reports
   * (failedAppends 0, no reason; logged at warn).
   */
  onError(listener: (message: string, failedAppends: number, reason?: string) => void): void;
}

/** Durations in seconds; counts per bucket (not cumulative), the last one above the last bound. */
export interface LatencyHistogram {
  bounds: number[];
  counts: number[];
  sum: number;
  count: number;
}

/** `usage.stats()`: the usage store's counters and commit latency (per committed transaction). */
export interface UsageStats {
  queued: number;
  written: number;
  commits: number;
  rejectedFull: number;
  writeErrors: number;
  /** The database behind: store.backend. */
  backend: 'sqlite' | 'postgresql';
  /** PostgreSQL: reachable now (SQLite: always true). */
  reachable: boolean;
  /** PostgreSQL, batched: rows waiting in the local spool, and rows replayed from it since start. */
  spooled: number;
  replayed: number;
  /** PostgreSQL: connections re-established after a loss. */
  reconnects: number;
  /** Writing and committing each transaction (retries included). */
  commitSeconds: LatencyHistogram;
  /** From each transaction's oldest append's submission to its commit. */
  commitWaitSeconds: LatencyHistogram;
}

/** A configuration problem; message is "<file>:<line>: <key>: <what is wrong>". */
export interface ConfigError extends Error {
  code: 'ERR_PX_CONFIG';
  file: string;
  line: number;
  key: string;
}

/**
 * Who asks, and the GLOBALID of the usage records of the request (generated when absent). The JS
 * API trusts its caller: the requester is not authenticated here (SOAP requests are), and gets
 * its policy from `requesters.<name>.policy`, or the global policy when it has none.
 */
export interface RequestContext {
  requester?: string;
  globalId?: string;
}

/** One policy outcome counter. */
export interface PolicyCounter {
  requester: string;
  /** Policy service name, e.g. 'terminalStatus'. */
  service: string;
  operation: string;
  /** A STATUSCODE name ('VALID', 'FAILED_PACER', ...) or 'UNAUTHENTICATED'. */
  outcome: string;
  /** 'request': whole requests; 'target': targets of group requests refused on their own. */
  level: 'request' | 'target';
  count: number;
}

/** common:TimeMetric; Month is 30 days, Year 365 days. */
export interface TimeMetric {
  metric: 'Millisecond' | 'Second' | 'Minute' | 'Hour' | 'Day' | 'Week' | 'Month' | 'Year';
  /** Non-negative integer. */
  units: number;
}

/** startNotification (TerminalStatusNotificationManager, ES 202 391-8 §8.2). */
export interface StartNotificationRequest {
  /** Where statusNotification/statusError/statusEnd are sent (absolute http: or https: URL), and the correlator. */
  reference: { endpoint: string; interfaceName?: string; correlator: string };
  /** Terminals (tel:, sip:, sips:) and groups, expanded to their members. */
  addresses: string[];
  /** Statuses that trigger a notification; empty or absent: any change. */
  criteria?: Status[];
  /** Report terminals that already match the criteria at once. */
  checkImmediate: boolean;
  /**
   * Minimum time between two statusNotifications (at least the requester's minFrequencyMs:
   * notifications.minFrequencyMs, tightened by its policy's `notifications:`, docs/policy.md).
   */
  frequency: TimeMetric;
  /** How long the notification lasts; absent or 0: the requester's defaultDurationSec. */
  duration?: TimeMetric;
  /** Most statusNotifications; absent: unlimited (if the requester's unlimitedCountAllowed). */
  count?: number;
}

/** Parlay X CallEvents; Answer and Disconnected are Parlay X 3.x only. */
export type CallEvent = 'Busy' | 'NotReachable' | 'NoAnswer' | 'CalledNumber' | 'Answer' | 'Disconnected';

/**
 * startCallNotification (CallNotificationManager) and startCallDirectionNotification
 * (CallDirectionManager), as over SOAP.
 */
export interface StartCallNotificationRequest {
  /** Where notify* (or handle*) are sent (absolute http: or https: URL), and the correlator. */
  reference: { endpoint: string; interfaceName?: string; correlator: string };
  /**
   * The called parties watched: tel:, sip:, sips: addresses, or a pattern `<address prefix>*`
   * with at least two characters after the scheme (`tel:+44*`).
   */
  addresses: string[];
  /**
   * Events wanted; empty or absent: every event of the request's generation. Call Direction:
   * Busy, NotReachable, NoAnswer, CalledNumber only; Parlay X 2.x: no Answer/Disconnected.
   */
  criteria?: CallEvent[];
  /** v3_8; only 'Called' is served ('Calling' is POL0001). */
  addressDirection?: 'Called' | 'Calling';
  /**
   * The manager's `.../local` namespace the request is taken in (its generation: allowed events,
   * the callbacks' namespace). Absent: Parlay X 3.x, the served WSDL's.
   */
  namespace?: string;
}

/** stopCallNotification / stopCallDirectionNotification. */
export interface StopCallRequest {
  correlator: string;
  namespace?: string;
}

/** An active notification, as the admin API lists it. */
export interface NotificationInfo {
  requester: string;
  correlator: string;
  endpoint: string;
  interfaceName: string;
  /** GLOBALID of its startNotification, shared by the usage records of its deliveries. */
  globalId: string;
  /** lastSeen: the last status seen for the address, if any. */
  addresses: Array<{ address: string; lastSeen?: Status }>;
  criteria: Status[];
  checkImmediate: boolean;
  frequencyMs: number;
  createdAtMs: number;
  expiresAtMs: number;
  countLimit?: number;
  /** statusNotifications sent so far. */
  sent: number;
  /** When the last one was sent (0: none yet). */
  lastSentAtMs: number;
  /** The API that made it: "" = Parlay X; "camara-device-reachability-status-subscriptions-v0.7". */
  api: string;
  /** The API's own fields (JSON text for CAMARA subscriptions, sink credential included). */
  extension: string;
}

/** Counters of the gateway's defences; what each counts is listed in docs/security.md. */
/** The answer of GET /readyz. */
export interface Readiness {
  ready: boolean;
  /** Why not ready (empty when ready). */
  reasons: string[];
  checks: {
    shuttingDown: boolean;
    usageStoreWritable: boolean;
    presenceServerReachable: boolean;
    /** Clustered: this instance holds its lease (always true otherwise). */
    clusterMember: boolean;
  };
  /** When the presence check last ran (ISO-8601); it runs at most once per presence.fetchTimeoutMs. */
  checkedAt: string;
}

export interface SecurityStats {
  /** SOAP endpoint connections, refusals and timeouts; null before listen(). */
  http: Record<string, number> | null;
  /** Authentication throttling and the bounded scrypt pool. */
  authentication: Record<string, number>;
  /** Outbound destinations the SSRF guard refused. */
  outbound: { refused: number; lookups: number; lookupsRefused: number };
  /** Notification delivery, including malformed deliveries skipped and connections held. */
  delivery: Record<string, number>;
  /** Call Direction decisions: decided by the application, defaulted, late, in flight. */
  decisions: { decided: number; defaulted: number; late: number; inFlight: number } | null;
  /** The SIP stack: fetches, strays, refused NOTIFY sources, TCP connections. */
  sip: Record<string, number>;
  /** File descriptors the configured caps allow in all, and the process limit (after listen()). */
  fdBudget: { total: number; limit: number | null; fits: boolean } | null;
  /** Exceptions the process guard of `parlayx-gateway serve` caught (null when not installed). */
  process: { uncaughtExceptions: number; unhandledRejections: number } | null;
}

export declare class Gateway {
  /** As createGateway(), without waiting; throws ConfigError on a bad configuration. */
  constructor(options?: GatewayOptions);
  readonly config: GatewayConfig;
  /** Every endpoint (SOAP and WSDL) as one serverless-style function, routed on event.path. */
  readonly app: HttpHandler;
  /** The native core (configuration, SIP stack, notification engine). */
  readonly core: NativeCore;
  /** The usage records this gateway writes. */
  readonly usage: UsageLog;
  /** The log entry point (options.log, or the adapter onto `logger`). */
  readonly log: LogFunction;
  /** The gateway's pino logger (null when options.log was given); its level may be changed at run time. */
  readonly logger: GatewayLogger | null;
  /** Status of one terminal (tel:, sip: or sips: URI), by a SIP presence fetch. Rejects with ParlayxFault. */
  getStatus(address: string, context?: RequestContext): Promise<Status>;
  /** Status of several terminals and groups, fetched in parallel; partial results within the fetch timeout. */
  getStatusForGroup(addresses: string[], context?: RequestContext): Promise<StatusData[]>;
  /** Starts a Terminal Status notification (as the SOAP startNotification). Rejects with ParlayxFault. */
  startNotification(request: StartNotificationRequest, context?: RequestContext): Promise<void>;
  /** Ends a notification without statusEnd. Rejects with ParlayxFault SVC0002 for an unknown correlator. */
  endNotification(correlator: string, context?: RequestContext): Promise<void>;
  /** Starts a Call Notification registration (as the SOAP startCallNotification). Rejects with ParlayxFault. */
  startCallNotification(request: StartCallNotificationRequest, context?: RequestContext): Promise<void>;
  /** Stops one; SVC0002 correlator when unknown or another requester's. */
  stopCallNotification(request: StopCallRequest | string, context?: RequestContext): Promise<void>;
  /** Starts a Call Direction registration (the application decides through handle*). Rejects with ParlayxFault. */
  startCallDirectionNotification(request: StartCallNotificationRequest, context?: RequestContext): Promise<void>;
  /** Stops one; SVC0002 correlator when unknown or another requester's. */
  stopCallDirectionNotification(request: StopCallRequest | string, context?: RequestContext): Promise<void>;
  /** Admin API for the active notifications. */
  readonly notifications: {
    /** The active notifications this instance runs; only those of one requester with { requester }. */
    list(filter?: { requester?: string }): NotificationInfo[];
    /**
     * The notifications of the whole service: clustered (store.backend postgresql) every
     * instance's as stored, else the same as list().
     */
    listService(filter?: { requester?: string }): Promise<NotificationInfo[]>;
    /**
     * Ends a notification on the operator's behalf: the application gets a statusError for the
     * whole notification. Resolves false when there is no such notification.
     */
    terminate(correlator: string, options?: { requester?: string; reason?: string }): Promise<boolean>;
  };
  /** Policy outcome counters per requester, service, operation and outcome. */
  policyCounters(filter?: { requester?: string }): PolicyCounter[];
  /** Counters of the defences against hostile input and floods (docs/security.md). */
  securityStats(): SecurityStats;
  /** Starts the SOAP endpoint (node:http) on the configured address, and the admin listener when admin.enabled. */
  listen(): Promise<{ host: string; port: number; url: string }>;
  /** Where the SOAP endpoint listens (after listen()). */
  address(): { host: string; port: number; url: string };
  /** Where the admin listener listens; null when it is not running. */
  adminAddress(): { host: string; port: number; url: string } | null;
  /** Prometheus text of this gateway's metrics (what GET /metrics on the admin listener serves). */
  metricsText(): Promise<string>;
  /** Readiness (what GET /readyz serves): not shutting down, usage store writable, presence server reachable. */
  readiness(): Promise<Readiness>;
  /**
   * Graceful stop (SIGTERM): readiness turns false at once, the SOAP listener stops accepting,
   * in-flight requests may finish for up to deadlineMs (default admin.shutdownDeadlineMs), then
   * what is left is force-closed and close() runs.
   */
  shutdown(deadlineMs?: number): Promise<void>;
  /**
   * Stops HTTP, then notification delivery (attempts in flight get a short grace, then are
   * aborted), ends in-flight fetches, shuts the SIP stack down, then commits queued usage records.
   */
  close(): Promise<void>;
}

/** Creates a gateway; the SIP stack starts at once. Throws ConfigError on a bad configuration. */
export declare function createGateway(options?: GatewayOptions): Promise<Gateway>;

/** Reads and validates a configuration file. Throws ConfigError. */
export declare function loadConfig(path: string): GatewayConfig;

/**
 * An AWS Lambda handler for API Gateway proxy events (REST API and HTTP API payloads), answering
 * as the HTTP server does (the same body cap and faults). Given options (default: configPath
 * $PARLAYX_CONFIG), the gateway is made at the first invocation and kept for the container's life;
 * a gateway that failed to start is tried again at the next invocation.
 */
export declare function createLambdaHandler(
  gatewayOrOptions?: Gateway | Promise<Gateway> | GatewayOptions,
  adapterOptions?: { /** 2.0: remove a named stage from rawPath (default true). */ stripStage?: boolean },
): LambdaHandler;

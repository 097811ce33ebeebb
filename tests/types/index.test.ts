// Type test of index.d.ts: uses what README.md and handlers/README.md tell users to use, as they
// write it, and marks misuse with @ts-expect-error (which fails when the misuse type-checks).
// Checked by `tsc --noEmit -p tests/types` in scripts/test.sh; never run.
import {
  createGateway, createLambdaHandler, Gateway, loadConfig, ParlayxFault, UsageStatus,
  type ApiGatewayProxyEvent, type ApiGatewayProxyResult, type LambdaHandler, type GatewayConfig, type HttpEvent, type HttpHandler, type HttpResponse, type NotificationInfo,
  type PolicyCounter, type SecurityStats, type Status, type StatusData, type UsageRecord, type LogFunction, type LogLevel,
  type CamaraConnectivity, type CamaraErrorInfo, type CamaraReachabilityStatus,
  type LatencyHistogram,
} from 'parlayx-gateway';

// An exact type equality, so that a widened or narrowed declaration is caught too.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
function expectType<T extends true>(): T | void { return undefined; }

async function readme(): Promise<void> {
  // README "Using it from Node.js".
  const gateway = await createGateway({ configPath: '/etc/parlayx/gateway.yaml' });
  const status = await gateway.getStatus('tel:+15551234567');
  expectType<Equal<typeof status, 'Reachable' | 'Unreachable' | 'Busy'>>();
  const entries: StatusData[] = await gateway.getStatusForGroup(['sip:alice@example.test', 'glmgroup:sales']);
  for (const e of entries) {
    const s: Status | undefined = e.currentStatus;
    if (e.reportStatus === 'Error' && e.errorInformation) {
      const id: string = e.errorInformation.messageId;
      void id;
    }
    void s;
  }
  const { host, port, url } = await gateway.listen();
  const listening: [string, number, string] = [host, port, url];
  void listening;
  // README "Operations": the admin listener, metrics, readiness and the graceful stop.
  const admin = gateway.adminAddress();
  if (admin !== null) {
    const adminUrl: string = admin.url;
    void adminUrl;
  }
  const exposition: string = await gateway.metricsText();
  void exposition;
  const readiness = await gateway.readiness();
  const ready: boolean = readiness.ready && readiness.checks.presenceServerReachable;
  const reasons: string[] = readiness.reasons;
  void ready; void reasons;
  const adminConfig: { enabled: boolean; port: number; shutdownDeadlineMs: number } = gateway.config.admin;
  void adminConfig;
  // README "Admin page": its users and whether /metrics needs them.
  const adminUsers: string[] = Object.keys(gateway.config.admin.users);
  const metricsBehindAuth: boolean = gateway.config.admin.authenticateMetrics;
  void adminUsers; void metricsBehindAuth;

  // Faults reject with ParlayxFault.
  try {
    await gateway.getStatus('bad', { requester: 'acme', globalId: 'g-1' });
  } catch (error) {
    if (error instanceof ParlayxFault) {
      const kind: 'ServiceException' | 'PolicyException' = error.kind;
      const variables: readonly string[] = error.variables;
      void kind; void variables;
      // @ts-expect-error the variables are frozen
      error.variables.push('x');
    }
  }
  const fault = new ParlayxFault('SVC0002', ['address', 5, null]);
  void fault.text;
  // @ts-expect-error the messageId is a string
  void new ParlayxFault(2);

  // Configuration, as validated by the core.
  const config: GatewayConfig = gateway.config;
  const basePath: string = config.http.basePath;
  const transports: Array<'udp' | 'tcp'> = config.sip.transports;
  const durability: 'durable' | 'batched' = config.usage.durability;
  const hosts: string[] = config.outbound.allowHosts;
  void basePath; void transports; void durability; void hosts;
  // @ts-expect-error ports are numbers
  const portText: string = config.http.port;
  // @ts-expect-error the policy stays in the native core
  void config.policy;
  // @ts-expect-error requesters carry credentials only
  void config.requesters.acme.policy;
  const loaded: GatewayConfig = loadConfig('config/gateway.yaml');
  void loaded; void portText;

  // Notifications (README "Terminal Status notifications").
  await gateway.startNotification({
    reference: { endpoint: 'http://app.example/notify', correlator: 'c-1' },
    addresses: ['tel:+15551234567'],
    criteria: ['Busy'],
    checkImmediate: true,
    frequency: { metric: 'Second', units: 10 },
    duration: { metric: 'Hour', units: 1 },
    count: 5,
  }, { requester: 'acme' });
  await gateway.startNotification({
    reference: { endpoint: 'http://app.example/notify', correlator: 'c-2' },
    addresses: ['tel:+15551234567'],
    checkImmediate: false,
    // @ts-expect-error 'Fortnight' is not a TimeMetric
    frequency: { metric: 'Fortnight', units: 1 },
  });
  // @ts-expect-error checkImmediate and frequency are required
  await gateway.startNotification({ reference: { endpoint: 'http://a', correlator: 'c' }, addresses: [] });
  await gateway.endNotification('c-1', { requester: 'acme' });
  const active: NotificationInfo[] = gateway.notifications.list({ requester: 'acme' });
  const everywhere: NotificationInfo[] = await gateway.notifications.listService({ requester: 'acme' });
  const stored: Promise<NotificationInfo[]> | null = gateway.core.readStoredNotifications('acme', 'c-1');
  const ended: boolean = await gateway.notifications.terminate('c-1', { requester: 'acme', reason: 'operator' });
  void active; void ended;
  // @ts-expect-error the admin API cannot be replaced
  gateway.notifications = { list: () => [], terminate: async () => false };

  // Call Notification / Call Direction.
  await gateway.startCallNotification({
    reference: { endpoint: 'http://app/cn', correlator: 'cn-1' }, addresses: ['tel:+44*'], criteria: ['Busy', 'Answer'],
  }, { requester: 'acme' });
  await gateway.stopCallNotification('cn-1', { requester: 'acme' });
  await gateway.startCallDirectionNotification({ reference: { endpoint: 'http://app/cd', correlator: 'cd-1' }, addresses: ['sip:bob@x'] });
  await gateway.stopCallDirectionNotification({ correlator: 'cd-1' });
  // @ts-expect-error criteria are CallEvents
  await gateway.startCallNotification({ reference: { endpoint: 'http://a', correlator: 'c' }, addresses: [], criteria: ['Ringing'] });

  // Stats and counters.
  const counters: PolicyCounter[] = gateway.policyCounters({ requester: 'acme' });
  const level: 'request' | 'target' = counters[0].level;
  const security: SecurityStats = gateway.securityStats();
  const refused: number = security.outbound.refused;
  const fits: boolean | undefined = security.fdBudget?.fits;
  const usageStats = gateway.usage.stats();
  const written: number = usageStats.written;
  const commitLatency: LatencyHistogram = usageStats.commitWaitSeconds;
  const waited: number = commitLatency.counts[0] + commitLatency.bounds[0] + usageStats.commitSeconds.sum;
  void waited;
  const coreStats: Record<string, number> = gateway.core.stats();
  const sipPort: number = gateway.core.sipPort;
  void level; void refused; void fits; void written; void coreStats; void sipPort;
  // @ts-expect-error securityStats() is a method, not a property
  void gateway.securityStats.http;

  // Usage records (README "Usage records").
  for await (const r of gateway.usage.records({ eventType: 'getStatus', statusCode: 11 })) {
    const record: UsageRecord = r;
    const requester: string | undefined = r.attributes.REQUESTER;
    void record; void requester;
  }
  const all: UsageRecord[] = await gateway.usage.query({ from: new Date(), to: '2026-12-01T00:00:00Z', pageSize: 100 });
  void all;
  // @ts-expect-error statusCode is a number (UsageStatus values)
  gateway.usage.records({ statusCode: 'VALID' });
  const valid: number = UsageStatus.VALID;
  void valid;
  // @ts-expect-error UsageStatus is read-only
  UsageStatus.VALID = 1;
  // @ts-expect-error no such status
  void UsageStatus.NOT_A_STATUS;

  await gateway.shutdown(5000);
  await gateway.close();
}

// handlers/README.md: "build a gateway once per container (createGateway()) and pass gateway.app
// as the function".
async function serverless(): Promise<HttpHandler> {
  const gateway = await createGateway();
  const handler: HttpHandler = gateway.app;
  const event: HttpEvent = {
    httpMethod: 'POST',
    path: '/parlayx/TerminalStatusService/services/TerminalStatus',
    headers: { 'content-type': 'text/xml' },
    body: Buffer.from('<x/>'),
    isBase64Encoded: false,
    requestContext: { identity: { sourceIp: '192.0.2.1' } },
  };
  const response: HttpResponse = await handler(event);
  const code: number = response.statusCode;
  void code;
  // @ts-expect-error an event needs a path
  await gateway.app({ httpMethod: 'GET' });
  return gateway.app;
}

// README "Packaging": the Lambda handler, one gateway per container.
export const handler: LambdaHandler = createLambdaHandler({ configPath: process.env.PARLAYX_CONFIG });
async function lambda(): Promise<void> {
  const v1: ApiGatewayProxyEvent = {
    httpMethod: 'POST', path: '/parlayx/TerminalStatusService/services/TerminalStatus',
    headers: { 'Content-Type': 'text/xml' }, multiValueHeaders: { 'Content-Type': ['text/xml'] },
    queryStringParameters: null, body: 'PHgvPg==', isBase64Encoded: true,
    requestContext: { stage: 'prod', identity: { sourceIp: '192.0.2.1' }, requestId: 'r1' },
    resource: '/{proxy+}',
  };
  const v2: ApiGatewayProxyEvent = {
    version: '2.0', rawPath: '/parlayx/TerminalStatusService/services/TerminalStatus', rawQueryString: 'wsdl',
    headers: { host: 'example.com' }, cookies: ['a=1'], requestContext: { http: { method: 'GET', sourceIp: '192.0.2.1' } },
  };
  const result: ApiGatewayProxyResult = await handler(v1, {});
  const code: number = result.statusCode;
  const text: string = result.body;
  const binary: boolean = result.isBase64Encoded;
  const repeated: string[] | undefined = result.multiValueHeaders && result.multiValueHeaders['set-cookie'];
  void code; void text; void binary; void repeated;
  await handler(v2);
  const served: Gateway = await handler.gateway();
  await served.close();
  // A gateway made elsewhere, and the stage option.
  const own = createLambdaHandler(await createGateway(), { stripStage: false });
  void own;
  // @ts-expect-error the body of a proxy event is a string (base64 when isBase64Encoded)
  await handler({ httpMethod: 'POST', path: '/', body: Buffer.from('x') });
  // @ts-expect-error no such option
  createLambdaHandler({ configFile: 'x.yaml' });
  // @ts-expect-error statusCode is a number
  const wrong: string = result.statusCode;
  void wrong;
}

// The class is exported as well; its options are createGateway's.
const direct = new Gateway({ configText: 'http: {port: 0}\n', configName: 'inline', log: (level, message) => { void level; void message; } });
// @ts-expect-error no such option
void new Gateway({ configFile: 'x.yaml' });
void direct; void readme; void serverless; void lambda;

// The log: a LogFunction (with or without isLevelEnabled), or a destination for the gateway's
// own pino logger, whose level can be changed at run time.
async function logging(): Promise<void> {
  const lines: string[] = [];
  const gateway = await createGateway({ logDestination: { write: (line: string) => lines.push(line) } });
  const level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' = gateway.config.logging.level;
  const sofia: number = gateway.config.logging.sofiaLevel;
  if (gateway.logger) {
    gateway.logger.level = 'debug';
    if (gateway.logger.isLevelEnabled('info')) gateway.logger.info({ requester: 'acme' }, 'hello');
  }
  gateway.log('warn', 'disk almost full', { freeBytes: 1 });
  const own: LogFunction = Object.assign((l: LogLevel, m: string) => { void l; void m; }, { isLevelEnabled: () => false });
  void new Gateway({ log: own });
  // @ts-expect-error 'verbose' is not a level
  gateway.log('verbose', 'x');
  // @ts-expect-error a destination takes lines
  void new Gateway({ logDestination: 'stdout' });
  gateway.usage.onError((message: string, failedAppends: number) => { void message; void failedAppends; });
  gateway.usage.onError((message: string, failedAppends: number, reason?: string) => { void message; void failedAppends; void reason; });
  void level; void sofia;
}
void logging;

// README "CAMARA Device Reachability Status": the camara section, the answer and error bodies.
async function camara(): Promise<void> {
  const gateway = await createGateway();
  const c = gateway.config.camara;
  const enabled: boolean = c.enabled;
  const scopes: string[] = c.scopes.getReachabilityStatus;
  const requester: string | undefined = c.clients['app-1'];
  const busy: CamaraConnectivity[] = c.connectivity.busy;
  // @ts-expect-error VOICE is no CAMARA connectivity type
  const voice: CamaraConnectivity = 'VOICE';
  const answer = (await (await fetch('http://127.0.0.1:8080/device-reachability-status/v1/retrieve')).json()) as
    CamaraReachabilityStatus | CamaraErrorInfo;
  if ('reachable' in answer) {
    const types: CamaraConnectivity[] | undefined = answer.connectivity;
    const at: string = answer.lastStatusTime;
    void types; void at;
  } else {
    const code: string = answer.code;
    const status: number = answer.status;
    void code; void status;
  }
  void enabled; void scopes; void requester; void busy; void voice;
}
void camara;

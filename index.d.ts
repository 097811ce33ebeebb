// Public API of parlayx-gateway.

/** Parlay X Terminal Status values (ES 202 391-8 §7.1). */
export type Status = 'Reachable' | 'Unreachable' | 'Busy';
export type RetrievalStatus = 'Retrieved' | 'NotRetrieved' | 'Error';

/** A Parlay X ServiceException or PolicyException (common fault catalogue, ES 202 391-1). */
export declare class ParlayxFault extends Error {
  constructor(messageId: string, variables?: string[]);
  readonly kind: 'ServiceException' | 'PolicyException';
  readonly messageId: string;
  readonly variables: string[];
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
  /** Structured log sink; default: JSON lines on stdout/stderr. */
  log?: (level: 'info' | 'warn' | 'error', message: string, extra?: Record<string, unknown>) => void;
}

/** The configuration as validated by the native core (see config/gateway.yaml). */
export interface GatewayConfig {
  sourcePath: string;
  service: { name: string };
  http: {
    host: string; port: number; basePath: string; maxBodyBytes: number;
    keepAliveTimeoutMs: number; requestTimeoutMs: number;
  };
  sip: {
    bindHost: string; port: number; transports: Array<'udp' | 'tcp'>; watcherUri: string;
    presenceServerUri: string; telDomain: string; userAgent: string;
  };
  presence: { fetchTimeoutMs: number; busyActivities: string[] };
  terminalStatus: { maxTargets: number };
  groups: { schemes: string[]; members: Record<string, string[]> };
}

/** A configuration problem; message is "<file>:<line>: <key>: <what is wrong>". */
export interface ConfigError extends Error {
  code: 'ERR_PX_CONFIG';
  file: string;
  line: number;
  key: string;
}

export declare class Gateway {
  readonly config: GatewayConfig;
  /** Status of one terminal (tel:, sip: or sips: URI), by a SIP presence fetch. Rejects with ParlayxFault. */
  getStatus(address: string): Promise<Status>;
  /** Status of several terminals and groups, fetched in parallel; partial results within the fetch timeout. */
  getStatusForGroup(addresses: string[]): Promise<StatusData[]>;
  /** Starts the SOAP endpoint (node:http) on the configured address. */
  listen(): Promise<{ host: string; port: number; url: string }>;
  /** Stops HTTP, then ends in-flight fetches and shuts the SIP stack down. */
  close(): Promise<void>;
}

/** Creates a gateway; the SIP stack starts at once. Throws ConfigError on a bad configuration. */
export declare function createGateway(options?: GatewayOptions): Promise<Gateway>;

/** Reads and validates a configuration file. Throws ConfigError. */
export declare function loadConfig(path: string): GatewayConfig;

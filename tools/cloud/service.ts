// What a cloud service is: a module that attaches to the bus (MQTT as the cloud
// identity), keeps its state in the store, and may answer HTTP operator requests.
// Built-in services are listed in services.ts; more can be added there or with
// registerService() / startCloud({ services }).
import type { Bus } from "./bus.ts";
import type { Logger } from "./log.ts";
import type { Registry } from "./registry.ts";
import type { Store } from "./store.ts";

export interface HttpRequest {
  method: string;
  /** Path split on "/", decoded, without empty parts: /things/t1/shadow -> ["things","t1","shadow"]. */
  path: string[];
  query: URLSearchParams;
  /** Parsed JSON body (undefined when empty). */
  body: unknown;
}
export interface HttpResult {
  status: number;
  body: unknown;
}

export interface CloudContext {
  bus: Bus;
  store: Store;
  registry: Registry;
  log: Logger;
  /** Wall clock in ms (tests may replace it). */
  now(): number;
  /** Milliseconds in one "minute" for service timers (stepTimeoutInMinutes); 60000 unless a test speeds time up. */
  minuteMs: number;
  /** Another started service by name (services start in list order). */
  service<T extends CloudService>(name: string): T | undefined;
}

export interface CloudService {
  readonly name: string;
  /** Subscribe to the bus, arm timers. Called once, in list order. */
  start(): Promise<void>;
  stop?(): Promise<void>;
  /** A device's request is still being worked on (its answer is not sent yet). */
  busy?(): boolean;
  /** Operator HTTP API: return a result for routes this service owns, undefined otherwise. */
  http?(req: HttpRequest): Promise<HttpResult | undefined> | HttpResult | undefined;
}

export type ServiceFactory = (ctx: CloudContext) => CloudService;

const registered: ServiceFactory[] = [];
/** Adds a service to every cloud started after this call. */
export function registerService(factory: ServiceFactory): void {
  if (!registered.includes(factory)) registered.push(factory);
}
export function registeredServices(): ServiceFactory[] {
  return [...registered];
}

/** An error with an HTTP status that the HTTP API reports as {code, message}. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

// The contract between the jobs agent and the job handlers built on it
// (the OTA agent, app handlers). Handlers see one execution and report
// through the context; the agent owns topics, versions and persistence.

export type JobStatus = "QUEUED" | "IN_PROGRESS" | "SUCCEEDED" | "FAILED" | "REJECTED" | "REMOVED" | "CANCELED" | "TIMED_OUT";

/** statusDetails: AWS allows string values only. */
export type StatusDetails = Record<string, string>;

export interface JobExecution {
  jobId: string;
  /** The job document, parsed; hostile until the handler validates it. */
  document: Record<string, unknown>;
  status: JobStatus;
  versionNumber: number;
  executionNumber?: number;
  statusDetails?: StatusDetails;
}

export interface JobContext {
  readonly execution: JobExecution;
  /** Merges details into statusDetails and reports IN_PROGRESS (the agent bounds the rate). */
  progress(details: StatusDetails): Promise<void>;
  succeed(details?: StatusDetails): Promise<void>;
  /** FAILED with a reason (statusDetails.reason). */
  fail(reason: string, details?: StatusDetails): Promise<void>;
  /** REJECTED: the device will not run this job (e.g. a downgrade). */
  reject(reason: string, details?: StatusDetails): Promise<void>;
  /** Durable per-execution state: survives deep sleep and reboot until the job ends. */
  load(): Record<string, unknown> | undefined;
  save(state: Record<string, unknown>): void;
  /** Set when the job was canceled or removed while the handler ran. */
  readonly canceled: boolean;
  /** Why `canceled` is set: the status the cloud reports (CANCELED, REMOVED, TIMED_OUT...) or the local step timeout. */
  readonly cancelReason?: string;
}

/**
 * Runs a job. Handlers are keyed by the document's "operation" field; an
 * AWS OTA document ({"afr_ota": ...}) has the operation "afr_ota".
 */
export type JobHandler = (job: JobContext) => void | Promise<void>;

/*
 * How the agent (sdk/jobs/agent.ts) runs a handler:
 * - A handler that returns (or resolves) without succeed/fail/reject leaves the
 *   execution IN_PROGRESS: it is resumed at the next start (next wake or reboot),
 *   with load() returning what it saved. This is how a job spans deep sleep.
 * - A handler that throws (or rejects) ends the execution FAILED with the message as reason.
 * - After `canceled` is set, progress/succeed/fail/reject reject without sending.
 */

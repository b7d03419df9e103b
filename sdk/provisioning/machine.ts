// The provisioning exchange as a sans-I/O state machine: events in (connected,
// message, timeout, connection lost), actions out (subscribe, publish, commit, fail).
// It never stores anything: the driver commits the identity it hands out.
import {
  CREATE_FROM_CSR_TOPIC,
  CREATE_TOPIC,
  checkParameters,
  isValidTemplateName,
  parseCreateAccepted,
  parseProvisionAccepted,
  parseRejected,
  provisionTopic,
  ProvisioningMessageError,
  type Rejection,
} from "./messages";

export type Phase = "idle" | "creating" | "provisioning" | "done" | "failed";

export interface Identity {
  thingName: string;
  certificate: string;
  key: string;
}

/** Why provisioning failed. `rejected`: the cloud said no (see rejection); others are transient. */
export type FailureKind = "rejected" | "bad-answer" | "timeout" | "connection";

export interface Failure {
  kind: FailureKind;
  /** Which step: "create" or "provision" (or "connect"). */
  step: string;
  message: string;
  rejection?: Rejection;
}

export type Action =
  | { type: "subscribe"; filters: string[] }
  | { type: "publish"; topic: string; payload: string }
  | { type: "commit"; identity: Identity; deviceConfiguration: Record<string, string> }
  | { type: "fail"; failure: Failure }
  | { type: "trace"; text: string };

export interface MachineOptions {
  templateName: string;
  parameters: Record<string, string>;
  /** create-from-csr: the PEM CSR and the key the device already holds. */
  csr?: { csr: string; key: string };
}

export class ProvisioningMachine {
  phase: Phase = "idle";
  private certificate = "";
  private key = "";
  private readonly createTopic: string;
  private readonly provisionTopic: string;

  constructor(private readonly o: MachineOptions) {
    if (!isValidTemplateName(o.templateName)) throw new ProvisioningMessageError(`template name ${JSON.stringify(o.templateName)}: 1-36 of [0-9A-Za-z_-]`);
    checkParameters(o.parameters);
    this.createTopic = o.csr ? CREATE_FROM_CSR_TOPIC : CREATE_TOPIC;
    this.provisionTopic = provisionTopic(o.templateName);
  }

  /** The topics whose answers the driver must hand to message(). */
  get answerFilters(): string[] {
    return [`${this.createTopic}/accepted`, `${this.createTopic}/rejected`, `${this.provisionTopic}/accepted`, `${this.provisionTopic}/rejected`];
  }

  /** The connection with the claim is up: subscribe to the answers, ask for a certificate. */
  connected(): Action[] {
    if (this.phase !== "idle") return [];
    this.phase = "creating";
    const payload = this.o.csr ? JSON.stringify({ certificateSigningRequest: this.o.csr.csr }) : "{}";
    return [
      { type: "subscribe", filters: this.answerFilters },
      { type: "trace", text: `provisioning: asking for a certificate (${this.o.csr ? "create-from-csr" : "create"})` },
      { type: "publish", topic: this.createTopic, payload },
    ];
  }

  message(topic: string, payload: ArrayBuffer): Action[] {
    if (this.phase === "creating" && topic.startsWith(this.createTopic + "/")) {
      if (topic === `${this.createTopic}/rejected`) return this.fail({ kind: "rejected", step: "create", message: "certificate refused", rejection: parseRejected(payload) });
      if (topic !== `${this.createTopic}/accepted`) return [];
      let answer;
      try {
        answer = parseCreateAccepted(payload, !this.o.csr);
      } catch (e) {
        return this.fail({ kind: "bad-answer", step: "create", message: (e as Error).message });
      }
      this.certificate = answer.certificatePem;
      this.key = this.o.csr ? this.o.csr.key : answer.privateKey!;
      this.phase = "provisioning";
      return [
        { type: "trace", text: `provisioning: certificate ${answer.certificateId.slice(0, 12)}… received; registering with template ${this.o.templateName}` },
        { type: "publish", topic: this.provisionTopic, payload: JSON.stringify({ certificateOwnershipToken: answer.certificateOwnershipToken, parameters: this.o.parameters }) },
      ];
    }
    if (this.phase === "provisioning" && topic.startsWith(this.provisionTopic + "/")) {
      if (topic === `${this.provisionTopic}/rejected`) return this.fail({ kind: "rejected", step: "provision", message: "provisioning refused", rejection: parseRejected(payload) });
      if (topic !== `${this.provisionTopic}/accepted`) return [];
      let answer;
      try {
        answer = parseProvisionAccepted(payload);
      } catch (e) {
        return this.fail({ kind: "bad-answer", step: "provision", message: (e as Error).message });
      }
      this.phase = "done";
      const identity = { thingName: answer.thingName, certificate: this.certificate, key: this.key };
      this.certificate = this.key = "";
      return [{ type: "commit", identity, deviceConfiguration: answer.deviceConfiguration }];
    }
    return [{ type: "trace", text: `provisioning: ignored a message on ${topic.slice(0, 96)} in phase ${this.phase}` }];
  }

  /** The overall deadline passed. */
  timeout(): Action[] {
    if (this.phase === "done" || this.phase === "failed") return [];
    return this.fail({ kind: "timeout", step: this.step(), message: `no answer in time (phase ${this.phase})` });
  }

  /** The connection ended before the end. */
  lost(reason: string): Action[] {
    if (this.phase === "done" || this.phase === "failed") return [];
    return this.fail({ kind: "connection", step: this.phase === "idle" ? "connect" : this.step(), message: reason });
  }

  private step(): string {
    return this.phase === "provisioning" ? "provision" : this.phase === "creating" ? "create" : "connect";
  }

  private fail(failure: Failure): Action[] {
    this.phase = "failed";
    this.certificate = this.key = "";
    return [{ type: "fail", failure }];
  }
}

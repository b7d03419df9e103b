// Contract check: AWS's own device SDK (aws-iot-device-sdk-v2, on aws-crt) drives the
// local cloud's shadow and jobs services over mutual TLS with certificates from our PKI.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { iot, iotjobs, iotshadow, mqtt as crtMqtt } from "aws-iot-device-sdk-v2";
import { issueDeviceCert } from "../../tools/pki/index.ts";
import type { Cloud } from "../../tools/cloud/index.ts";
import { tempDir, testCloud } from "./helpers.ts";

const THING = "contract-thing";
const tmp = tempDir();
let cloud: Cloud;
let connection: crtMqtt.MqttClientConnection;
let shadow: iotshadow.IotShadowClient;
let jobs: iotjobs.IotJobsClient;
const Q = crtMqtt.QoS.AtLeastOnce;

/** Resolves with the first response a subscription delivers (or rejects on its error). */
function once<T>(subscribe: (handler: (err?: Error, res?: T) => void) => Promise<unknown>): Promise<{ result: Promise<T> }> {
  let resolve!: (v: T) => void, reject!: (e: Error) => void;
  const p = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  const timer = setTimeout(() => reject(new Error("no response")), 4000);
  let done = false;
  return subscribe((err, res) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    err ? reject(err) : resolve(res as T);
  }).then(() => ({ result: p }));
}

before(async () => {
  cloud = await testCloud({ dir: tmp.dir, log: process.env.CLOUD_LOG ? (await import("../../tools/cloud/index.ts")).consoleLogger : undefined });
  cloud.registry.create(THING);
  const cert = await issueDeviceCert(cloud.pkiDir, THING);
  const config = iot.AwsIotMqttConnectionConfigBuilder.new_mtls_builder(cert.certPem, cert.keyPem)
    .with_certificate_authority(cloud.caPem)
    .with_endpoint("localhost")
    .with_port(cloud.ports.mqtts!)
    .with_client_id(`${THING}-sdk`)
    .with_clean_session(true)
    .build();
  connection = new crtMqtt.MqttClient().new_connection(config);
  await connection.connect();
  shadow = new iotshadow.IotShadowClient(connection);
  jobs = new iotjobs.IotJobsClient(connection);
});

after(async () => {
  await connection?.disconnect();
  await cloud?.close();
  tmp.cleanup();
});

test("aws sdk: classic shadow get (404), update, delta, get, delete", async () => {
  const rejected = await once<iotshadow.model.ErrorResponse>((h) => shadow.subscribeToGetShadowRejected({ thingName: THING }, Q, h));
  await shadow.publishGetShadow({ thingName: THING, clientToken: "g1" }, Q);
  const r = await rejected.result;
  assert.equal(r.code, 404);
  assert.equal(r.clientToken, "g1");

  const accepted = await once<iotshadow.model.UpdateShadowResponse>((h) => shadow.subscribeToUpdateShadowAccepted({ thingName: THING }, Q, h));
  const delta = await once<iotshadow.model.ShadowDeltaUpdatedEvent>((h) => shadow.subscribeToShadowDeltaUpdatedEvents({ thingName: THING }, Q, h));
  await shadow.publishUpdateShadow({ thingName: THING, state: { desired: { led: "on", rate: 5 }, reported: { led: "off", rate: 5 } }, clientToken: "u1" }, Q);
  const a = await accepted.result;
  assert.equal(a.version, 1);
  assert.equal(a.clientToken, "u1");
  assert.deepEqual(a.state?.desired, { led: "on", rate: 5 });
  const d = await delta.result;
  assert.deepEqual(d.state, { led: "on" }, "delta holds only desired keys that differ from reported");
  assert.equal(d.version, 1);

  const got = await once<iotshadow.model.GetShadowResponse>((h) => shadow.subscribeToGetShadowAccepted({ thingName: THING }, Q, h));
  await shadow.publishGetShadow({ thingName: THING }, Q);
  const g = await got.result;
  assert.equal(g.version, 1);
  assert.deepEqual(g.state?.delta, { led: "on" });
  assert.deepEqual(g.state?.reported, { led: "off", rate: 5 });
  assert.equal(typeof (g.metadata?.desired as any)?.led?.timestamp, "number");

  const deleted = await once<iotshadow.model.DeleteShadowResponse>((h) => shadow.subscribeToDeleteShadowAccepted({ thingName: THING }, Q, h));
  await shadow.publishDeleteShadow({ thingName: THING }, Q);
  assert.equal((await deleted.result).version, 1);
});

test("aws sdk: named shadow update and delta", async () => {
  const req = { thingName: THING, shadowName: "config" };
  const accepted = await once<iotshadow.model.UpdateShadowResponse>((h) => shadow.subscribeToUpdateNamedShadowAccepted(req, Q, h));
  const delta = await once<iotshadow.model.ShadowDeltaUpdatedEvent>((h) => shadow.subscribeToNamedShadowDeltaUpdatedEvents(req, Q, h));
  await shadow.publishUpdateNamedShadow({ ...req, state: { desired: { interval: 900 } } }, Q);
  assert.equal((await accepted.result).version, 1);
  assert.deepEqual((await delta.result).state, { interval: 900 });
  const rejected = await once<iotshadow.model.ErrorResponse>((h) => shadow.subscribeToUpdateNamedShadowRejected(req, Q, h));
  await shadow.publishUpdateNamedShadow({ ...req, state: { desired: { interval: 60 } }, version: 7 }, Q);
  assert.equal((await rejected.result).code, 409);
  assert.equal(cloud.shadows.get(THING, "config").version, 1);
});

test("aws sdk: jobs get pending, start-next, update, describe", async () => {
  await cloud.jobs.createJob({ jobId: "fw-1", targets: [THING], document: { op: "update", version: "1.2.0" } });
  const pending = await once<iotjobs.model.GetPendingJobExecutionsResponse>((h) => jobs.subscribeToGetPendingJobExecutionsAccepted({ thingName: THING }, Q, h));
  await jobs.publishGetPendingJobExecutions({ thingName: THING, clientToken: "p1" }, Q);
  const p = await pending.result;
  assert.deepEqual(p.queuedJobs?.map((j) => j.jobId), ["fw-1"]);
  assert.equal(p.clientToken, "p1");

  const started = await once<iotjobs.model.StartNextJobExecutionResponse>((h) => jobs.subscribeToStartNextPendingJobExecutionAccepted({ thingName: THING }, Q, h));
  await jobs.publishStartNextPendingJobExecution({ thingName: THING, statusDetails: { step: "download" } }, Q);
  const s = await started.result;
  assert.equal(s.execution?.jobId, "fw-1");
  assert.equal(s.execution?.status, iotjobs.model.JobStatus.IN_PROGRESS);
  assert.deepEqual(s.execution?.jobDocument, { op: "update", version: "1.2.0" });
  assert.deepEqual(s.execution?.statusDetails, { step: "download" });
  const version = s.execution!.versionNumber!;

  const conflict = await once<iotjobs.model.RejectedErrorResponse>((h) => jobs.subscribeToUpdateJobExecutionRejected({ thingName: THING, jobId: "fw-1" }, Q, h));
  await jobs.publishUpdateJobExecution({ thingName: THING, jobId: "fw-1", status: iotjobs.model.JobStatus.SUCCEEDED, expectedVersion: version + 5 }, Q);
  assert.equal((await conflict.result).code, iotjobs.model.RejectedErrorCode.VERSION_MISMATCH);

  const updated = await once<iotjobs.model.UpdateJobExecutionResponse>((h) => jobs.subscribeToUpdateJobExecutionAccepted({ thingName: THING, jobId: "fw-1" }, Q, h));
  await jobs.publishUpdateJobExecution(
    { thingName: THING, jobId: "fw-1", status: iotjobs.model.JobStatus.SUCCEEDED, expectedVersion: version, includeJobExecutionState: true },
    Q,
  );
  const u = await updated.result;
  assert.equal(u.executionState?.status, iotjobs.model.JobStatus.SUCCEEDED);

  const described = await once<iotjobs.model.DescribeJobExecutionResponse>((h) => jobs.subscribeToDescribeJobExecutionAccepted({ thingName: THING, jobId: "fw-1" }, Q, h));
  await jobs.publishDescribeJobExecution({ thingName: THING, jobId: "fw-1" }, Q);
  const e = (await described.result).execution!;
  assert.equal(e.status, iotjobs.model.JobStatus.SUCCEEDED);
  assert.equal(e.versionNumber, version + 1);
  assert.equal(cloud.jobs.getJob("fw-1")?.status, "COMPLETED");
});

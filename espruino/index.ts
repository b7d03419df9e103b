// The xsiot SDK for Espruino: one module (require("xsiot")) with the SDK's
// sans-I/O cores, unchanged, over the Espruino port layer in ./port.
import "./port/polyfills";
export { MQTTClient } from "../sdk/mqtt/client311";
export { default as TCP } from "./port/tcp";
export { default as TLS } from "./port/tls";
export { MqttProtocolError } from "../sdk/mqtt/error";
export { ShadowClient, ShadowError } from "../sdk/shadow/client";
export { JobsAgent, JobsError } from "../sdk/jobs/agent";
export { runWake } from "../sdk/sleep/scheduler";
export { planWake, afterUplink, sleepMsUntilNext } from "../sdk/sleep/plan";
export { encodeState, decodeState, initialState, RING_CAPACITY } from "../sdk/sleep/state";
export { encodeReading, decodeReadings } from "../sdk/sleep/record";
export { default as KeyValue } from "./port/kv";
export { deepSleep, wakeCause, resetReason, retained, retain } from "./port/esp32";
export { readMv, readThermistor, readBatteryMv, readPin, watchPin, i2cDevice } from "./port/io";
export { trace } from "./port/system";
export { useWifi, radioOff } from "./port/wifi";

// Version-aware app for boot-loader tests: mc/config says what to do on first boot of an image.
import config from "mc/config";
import { deepSleep, ota } from "xsiot/native/esp32";

const c = config as unknown as { version: string; selfTest: "pass" | "fail" | "hang" | "rollback" };
trace(`running ${c.version} on ${ota.running()} state=${ota.state()}`);
if (ota.state() === "pending-verify") {
  if (c.selfTest === "pass") ota.markValid();
  else if (c.selfTest === "fail") throw new Error("self-test failed");
  else if (c.selfTest === "rollback") ota.rollback();
}
deepSleep({ us: 60_000_000 });

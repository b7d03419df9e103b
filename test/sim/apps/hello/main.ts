import Timer from "timer";
import { deepSleep, retained, retain, resetReason, wakeCause } from "xsiot/native/esp32";
import config from "mc/config";

// RTC memory holds a boot counter across deep sleep; module state starts afresh each boot.
const counter = new Uint32Array(retained(), 0, 1);
let heapCounter = 0;
heapCounter++;
counter[0] = resetReason() === "deep-sleep" ? counter[0] + 1 : 1;
retain(counter);
trace(`hello boot ${counter[0]} reset=${resetReason()} wake=${wakeCause()} heap=${heapCounter} now=${Date.now()} v=${(config as unknown as { version: string }).version}`);
Timer.set(() => deepSleep({ us: 15 * 60 * 1_000_000 }), 20);

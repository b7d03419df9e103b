import Timer from "timer";
import { deepSleep, retained, resetReason, wakeCause } from "xsiot/native/esp32";
import config from "mc/config";

const mem = new Uint32Array(retained(), 0, 4);
let heapCounter = 0;
heapCounter++;
if (resetReason() !== "deep-sleep") mem[0] = 0;
mem[0]++;
trace(`hello boot ${mem[0]} reset=${resetReason()} wake=${wakeCause()} heap=${heapCounter} now=${Date.now()} v=${(config as { version: string }).version}`);
Timer.set(() => deepSleep({ us: 15 * 60 * 1_000_000 }), 20);

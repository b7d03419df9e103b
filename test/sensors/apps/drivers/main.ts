// The SDK's sensor drivers on the virtual ESP32: SHT3x and BME280 over I2C,
// the thermistor and battery over the ADC, and a debounced door contact.
import config from "mc/config";
import { openAdc, openBme280, openDebouncedInput, openSht3x } from "xsiot/sensors/device";
import { BatterySensor, NtcSensor, type AdcCalibration } from "xsiot/sensors/index";

const board = (config as unknown as { board: { adc: { calibration: AdcCalibration } } }).board;
const bus = { data: 21, clock: 22 };
const out = (v: unknown) => trace(JSON.stringify(v) + "\n");
const failure = (e: unknown) => String(e);

async function main(): Promise<void> {
  const ntc = new NtcSensor({
    input: openAdc(36, board.adc.calibration),
    divider: { topology: "ntc-to-ground", fixedOhms: 10000, supplyMv: 3000 },
    model: { beta: { r0: 10000, beta: 3950 } },
  });
  const battery = new BatterySensor(openAdc(39, board.adc.calibration), { topOhms: 1_000_000, bottomOhms: 1_000_000, minMv: 1800, maxMv: 3700 });
  const sht = await openSht3x(bus).measure();
  const bme = await openBme280(bus).measure();
  let missing = "";
  try {
    openBme280(bus, { address: 0x77 });
  } catch (e) {
    missing = failure(e);
  }
  out({ ntc: ntc.read(), battery: battery.read(), sht, bme, missing });
  const edges: string[] = [];
  openDebouncedInput({ pin: 4, debounceMs: 50, onEdge: (level, edge) => edges.push(`${edge}:${level}`) });
  // System is a global on Moddable's esp32 (modules/io/system/system.js), not an importable module.
  System.setTimeout(() => out({ edges }), 60_000);
}
main().catch((e) => out({ error: failure(e) }));

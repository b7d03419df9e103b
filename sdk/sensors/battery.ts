import { SensorError } from "./error";

/**
 * Battery voltage measured through a resistor divider:
 *   V+ - topOhms - ADC pin - bottomOhms - GND,  Vbat = Vpin * (top + bottom) / bottom
 * `minMv`/`maxMv` bound what the battery can physically read; outside that the
 * divider is open, the battery is absent, or the reading is wrong.
 */
export interface BatteryDivider {
  topOhms: number;
  bottomOhms: number;
  minMv: number;
  maxMv: number;
}

export function batteryMillivolts(pinMv: number, d: BatteryDivider): number {
  if (!(d.topOhms >= 0 && d.bottomOhms > 0 && Number.isFinite(d.topOhms) && Number.isFinite(d.bottomOhms))) {
    throw new SensorError("config", "battery divider needs topOhms >= 0 and bottomOhms > 0");
  }
  if (!(d.minMv >= 0 && d.maxMv > d.minMv)) throw new SensorError("config", "battery range needs 0 <= minMv < maxMv");
  const mv = (pinMv * (d.topOhms + d.bottomOhms)) / d.bottomOhms;
  if (!(mv >= d.minMv && mv <= d.maxMv)) {
    throw new SensorError("out-of-range", `battery ${Number.isFinite(mv) ? mv.toFixed(0) : mv} mV outside ${d.minMv}..${d.maxMv} mV`);
  }
  return mv;
}

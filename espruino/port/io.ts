// Espruino's pins and buses for the app: analogRead for the thermistor and the
// battery divider, digitalRead/setWatch for a contact, I2C for bus sensors.
import { betaTemperature, ntcResistance, type NtcDivider } from "../../sdk/sensors/thermistor";

/** Millivolts at an ADC pin: Espruino's analogRead gives 0..1 of the reference (3.3 V, 11 dB attenuation on ESP32). */
export function readMv(pin: unknown, samples = 8, fullScaleMv = 3300): number {
  let sum = 0;
  for (let i = 0; i < samples; i++) sum += analogRead(pin);
  return (sum / samples) * fullScaleMv;
}

export interface ThermistorWiring {
  pin: unknown;
  /** Pin that powers the divider only while sampling. */
  enable?: unknown;
  r25: number;
  beta: number;
  divider: NtcDivider;
}

/** °C from an NTC divider, with the SDK's own conversion (sdk/sensors/thermistor). */
export function readThermistor(w: ThermistorWiring): number {
  if (w.enable !== undefined) digitalWrite(w.enable, 1);
  try {
    return betaTemperature(ntcResistance(readMv(w.pin), w.divider), { r0: w.r25, beta: w.beta });
  } finally {
    if (w.enable !== undefined) digitalWrite(w.enable, 0);
  }
}

/** Battery millivolts behind a resistor divider. */
export function readBatteryMv(pin: unknown, topOhms: number, bottomOhms: number): number {
  return Math.round((readMv(pin) * (topOhms + bottomOhms)) / bottomOhms);
}

export function readPin(pin: unknown): number {
  return digitalRead(pin) ? 1 : 0;
}

/** Calls f(level) on each debounced change while awake; returns the remover. */
export function watchPin(pin: unknown, f: (level: number) => void, debounceMs = 50): () => void {
  const id = setWatch((e) => f(e.state ? 1 : 0), pin, { repeat: true, edge: "both", debounce: debounceMs });
  return () => clearWatch(id);
}

/** The SDK drivers' I2CLike (sdk/sensors/i2c) over an Espruino I2C bus (I2C1.setup({ sda, scl }) first). */
export function i2cDevice(bus: { writeTo(a: number, d: unknown): void; readFrom(a: number, n: number): Uint8Array }, address: number) {
  return {
    read(n: number): ArrayBuffer {
      const r = bus.readFrom(address, n);
      return new Uint8Array(r).buffer;
    },
    write(buffer: ArrayBuffer | ArrayBufferView): void {
      const b = buffer instanceof ArrayBuffer ? new Uint8Array(buffer) : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
      bus.writeTo(address, b);
    },
    close(): void {},
  };
}

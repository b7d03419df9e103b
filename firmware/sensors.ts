// The node's sensors, wired from the board description in mc/config: an NTC
// thermistor (powered only while sampling), the battery divider, and an
// optional SHT3x on I2C. A sensor that fails yields an error code, not a number.
import Digital from "embedded:io/digital";
import { openAdc, openSht3x } from "xsiot/sensors/device";
import { NtcSensor, BatterySensor, SensorError, type AdcCalibration } from "xsiot/sensors/index";

export interface BoardConfig {
  id: string;
  pins: Record<string, number>;
  adc: { resolution: number; calibration: AdcCalibration };
  sensors: {
    thermistor?: { r25: number; beta: number; seriesResistor: number; topology: "ntc-to-ground" | "ntc-to-supply"; supplyMv: number };
    battery?: { rTop: number; rBottom: number };
  };
}

export interface Sample {
  temperatureC?: number;
  batteryMv?: number;
  humidity?: number;
  shtTemperatureC?: number;
  /** Sensor name -> error code, for sensors that could not be read. */
  errors?: Record<string, string>;
}

function code(e: unknown): string {
  return e instanceof SensorError ? e.code : "error";
}

export async function sample(board: BoardConfig, withSht3x: boolean): Promise<Sample> {
  const out: Sample = {};
  const errors: Record<string, string> = {};
  const t = board.sensors.thermistor;
  if (t && board.pins.thermistor !== undefined) {
    const enable = board.pins.thermistorEnable !== undefined ? new Digital({ pin: board.pins.thermistorEnable, mode: Digital.Output }) : undefined;
    enable?.write(1);
    try {
      const ntc = new NtcSensor({
        input: openAdc(board.pins.thermistor, board.adc.calibration, { samples: 8 }),
        divider: { topology: t.topology, fixedOhms: t.seriesResistor, supplyMv: t.supplyMv },
        model: { beta: { r0: t.r25, beta: t.beta } },
      });
      out.temperatureC = Math.round(ntc.read() * 100) / 100;
    } catch (e) {
      errors.thermistor = code(e);
    } finally {
      enable?.write(0);
      enable?.close();
    }
  }
  const b = board.sensors.battery;
  if (b && board.pins.battery !== undefined) {
    try {
      const battery = new BatterySensor(openAdc(board.pins.battery, board.adc.calibration, { samples: 8 }), {
        topOhms: b.rTop,
        bottomOhms: b.rBottom,
        minMv: 1800,
        maxMv: 4400,
      });
      out.batteryMv = Math.round(battery.read());
    } catch (e) {
      errors.battery = code(e);
    }
  }
  if (withSht3x && board.pins.i2cData !== undefined) {
    try {
      const sht = openSht3x({ data: board.pins.i2cData, clock: board.pins.i2cClock });
      const r = await sht.measure();
      out.shtTemperatureC = Math.round(r.temperature * 100) / 100;
      out.humidity = Math.round(r.humidity * 10) / 10;
    } catch (e) {
      errors.sht3x = code(e);
    }
  }
  if (Object.keys(errors).length) out.errors = errors;
  return out;
}

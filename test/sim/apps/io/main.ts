// Reads the ADC, the door GPIO and an SHT3x, then sleeps until the timer or the door opens.
import Analog from "embedded:io/analog";
import Digital from "embedded:io/digital";
import I2C from "embedded:io/i2c";
import Timer from "timer";
import { deepSleep, wakeCause, wakePin } from "xsiot/native/esp32";
import { crc8 } from "./lib";

const adcOptions = { pin: 36, esp32: { calibrated: false } }; // raw counts: the board's ADC curve (esp32 options are not in Moddable's typing)
const adc = new Analog(adcOptions);
const door = new Digital({ pin: 4, mode: Digital.InputPullUp });
const sht = new I2C({ data: 21, clock: 22, hz: 100_000, address: 0x44 });
sht.write(Uint8Array.of(0x24, 0x00));
Timer.set(() => {
  const b = new Uint8Array(sht.read(6));
  const crcOk = crc8(b[0], b[1]) === b[2] && crc8(b[3], b[4]) === b[5];
  const t = -45 + (175 * ((b[0] << 8) | b[1])) / 65535;
  const rh = (100 * ((b[3] << 8) | b[4])) / 65535;
  let nack = "none";
  try {
    new I2C({ data: 21, clock: 22, hz: 100_000, address: 0x77 }).read(1);
  } catch (e) {
    nack = String(e);
  }
  trace(JSON.stringify({ wake: wakeCause(), pin: wakePin(), adc: adc.read(), door: door.read(), t: Math.round(t * 10) / 10, rh: Math.round(rh), crcOk, nack }));
  deepSleep({ us: 3_600_000_000, ext0: { pin: 4, level: 0 } });
}, 16);

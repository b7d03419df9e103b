// Single-shot measurement on a sensor that needs time to convert: trigger(),
// wait the milliseconds it says, collect(). Every failure is a rejection.
import { SensorError } from "./error";

export type SetTimeout = (callback: () => void, ms: number) => unknown;

export function measureAfter<T>(sensor: string, timeout: SetTimeout | undefined, trigger: () => number, collect: () => T): Promise<T> {
  if (!timeout) return Promise.reject(new SensorError("config", `${sensor}: measure() needs a setTimeout option`));
  return new Promise((resolve, reject) => {
    try {
      timeout(() => {
        try {
          resolve(collect());
        } catch (e) {
          reject(e);
        }
      }, trigger());
    } catch (e) {
      reject(e);
    }
  });
}

// Integrates current over virtual time by power state, with the board's figures.
import type { Board } from "./board.ts";

export const ENERGY_STATES = ["deep-sleep", "boot", "cpu", "wifi-join", "tls", "radio", "tx"] as const;
export type EnergyState = (typeof ENERGY_STATES)[number];

export interface EnergyReport {
  /** Virtual time covered, ms. */
  durationMs: number;
  /** Charge by state, mAh. */
  mah: Record<EnergyState, number>;
  /** Time by state, ms. */
  ms: Record<EnergyState, number>;
  totalMah: number;
  averageUa: number;
  /** Battery life at this average draw, years (self-discharge not included). */
  projectedYears: number;
  batteryMah: number;
}

function zero(): Record<EnergyState, number> {
  return Object.fromEntries(ENERGY_STATES.map((s) => [s, 0])) as Record<EnergyState, number>;
}

export class EnergyMeter {
  private readonly mahBy = zero();
  private readonly msBy = zero();
  constructor(private readonly board: Board) {}

  /** Current drawn in a state, mA. */
  currentMa(state: EnergyState): number {
    const p = this.board.power;
    const sleep = (p.deepSleepUa.value + p.boardSleepUa.value) / 1000;
    switch (state) {
      case "deep-sleep":
        return sleep;
      case "boot":
      case "cpu":
        return p.cpuActiveMa.value;
      case "wifi-join":
      case "tls":
      case "radio":
        return p.wifiRxMa.value;
      case "tx":
        return p.wifiTxMa.value;
    }
  }

  charge(state: EnergyState, ms: number): void {
    if (!(ms > 0)) return;
    this.msBy[state] += ms;
    this.mahBy[state] += (this.currentMa(state) * ms) / 3_600_000;
  }

  /** Radio transmit time for a number of bytes at the board's effective PHY rate. */
  txMs(bytes: number): number {
    return (bytes * 8) / (this.board.power.wifiPhyMbps.value * 1000);
  }

  report(durationMs: number): EnergyReport {
    const totalMah = Object.values(this.mahBy).reduce((a, b) => a + b, 0);
    const hours = durationMs / 3_600_000;
    const averageMa = hours > 0 ? totalMah / hours : 0;
    const batteryMah = this.board.battery.capacityMah;
    return {
      durationMs,
      mah: { ...this.mahBy },
      ms: { ...this.msBy },
      totalMah,
      averageUa: averageMa * 1000,
      projectedYears: averageMa > 0 ? batteryMah / averageMa / 8766 : Infinity,
      batteryMah,
    };
  }
}

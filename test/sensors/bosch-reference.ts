// Bosch's BME280 reference compensation, written here from the datasheet and not from
// the SDK (BME280 datasheet §4.2.3 and §8.2: the 32-bit temperature and humidity and the
// 64-bit pressure integer formulas), emulated bit-exactly with BigInt; and the trimming
// register layout (datasheet table 16). Tests use it as the oracle for the SDK's double
// formulas (math.test.ts) and for the virtual ESP32's raw registers (sim.test.ts).

/** Trimming parameters, datasheet names without the dig_ prefix. */
export interface BoschTrim {
  T1: number; T2: number; T3: number;
  P1: number; P2: number; P3: number; P4: number; P5: number; P6: number; P7: number; P8: number; P9: number;
  H1: number; H2: number; H3: number; H4: number; H5: number; H6: number;
}

/** Datasheet table 16: 0x88..0xA1 (26 bytes) and 0xE1..0xE7 (7 bytes). */
export function trimFromRegisters(a: Uint8Array, e: Uint8Array): BoschTrim {
  const u16 = (b: Uint8Array, i: number) => b[i] | (b[i + 1] << 8);
  const s16 = (b: Uint8Array, i: number) => (u16(b, i) << 16) >> 16;
  const s8 = (v: number) => (v << 24) >> 24;
  return {
    T1: u16(a, 0), T2: s16(a, 2), T3: s16(a, 4),
    P1: u16(a, 6), P2: s16(a, 8), P3: s16(a, 10), P4: s16(a, 12), P5: s16(a, 14), P6: s16(a, 16), P7: s16(a, 18), P8: s16(a, 20), P9: s16(a, 22),
    H1: a[25],
    H2: s16(e, 0),
    H3: e[2],
    // dig_H4: 0xE4 [11:4] and 0xE5 [3:0]; dig_H5: 0xE6 [11:4] and 0xE5 [7:4]; both signed 12-bit.
    H4: ((s8(e[3]) * 16) | (e[4] & 0x0f)),
    H5: ((s8(e[5]) * 16) | (e[4] >> 4)),
    H6: s8(e[6]),
  };
}

/** Raw values from the data registers 0xF7..0xFE (datasheet §5.4.7-5.4.9). */
export function rawFromRegisters(d: Uint8Array): { adcP: number; adcT: number; adcH: number } {
  return { adcP: (d[0] << 12) | (d[1] << 4) | (d[2] >> 4), adcT: (d[3] << 12) | (d[4] << 4) | (d[5] >> 4), adcH: (d[6] << 8) | d[7] };
}

// Bosch's integer reference implementations (datasheet §4.2.3 / 8.2), emulated bit-exactly with BigInt.
const s32 = (x: bigint) => BigInt.asIntN(32, x);
export function refInt(adcT: number, adcP: number, adcH: number, c: BoschTrim) {
  const T = BigInt(adcT), P = BigInt(adcP), H = BigInt(adcH);
  const [T1, T2, T3] = [c.T1, c.T2, c.T3].map(BigInt);
  let var1 = s32((((T >> 3n) - (T1 << 1n)) * T2) >> 11n);
  let var2 = s32((((((T >> 4n) - T1) * ((T >> 4n) - T1)) >> 12n) * T3) >> 14n);
  const tFine = s32(var1 + var2);
  const temp = Number((tFine * 5n + 128n) >> 8n) / 100;
  const [P1, P2, P3, P4, P5, P6, P7, P8, P9] = [c.P1, c.P2, c.P3, c.P4, c.P5, c.P6, c.P7, c.P8, c.P9].map(BigInt);
  let v1 = BigInt.asIntN(64, tFine - 128000n);
  let v2 = v1 * v1 * P6;
  v2 = v2 + ((v1 * P5) << 17n);
  v2 = v2 + (P4 << 35n);
  v1 = ((v1 * v1 * P3) >> 8n) + ((v1 * P2) << 12n);
  v1 = (((1n << 47n) + v1) * P1) >> 33n;
  let p = 1048576n - P;
  p = (((p << 31n) - v2) * 3125n) / v1;
  v1 = (P9 * (p >> 13n) * (p >> 13n)) >> 25n;
  v2 = (P8 * p) >> 19n;
  p = ((p + v1 + v2) >> 8n) + (P7 << 4n);
  const pressure = Number(p) / 256;
  const [H1, H2, H3, H4, H5, H6] = [c.H1, c.H2, c.H3, c.H4, c.H5, c.H6].map(BigInt);
  let x = s32(tFine - 76800n);
  x = s32(
    s32((s32(s32((H << 14n) - (H4 << 20n) - s32(H5 * x)) + 16384n)) >> 15n) *
      s32((s32(s32(s32(s32((s32(x * H6) >> 10n) * s32((s32(x * H3) >> 11n) + 32768n)) >> 10n) + 2097152n) * H2 + 8192n)) >> 14n),
  );
  x = s32(x - ((s32(s32((x >> 15n) * (x >> 15n)) >> 7n) * H1) >> 4n));
  if (x < 0n) x = 0n;
  if (x > 419430400n) x = 419430400n;
  const humidity = Number(x >> 12n) / 1024;
  return { temp, pressure, humidity };
}


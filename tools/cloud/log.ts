// Minimal logger interface for the cloud; the CLI prints, tests collect or silence.
export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}
export const consoleLogger: Logger = {
  info: (m) => console.log(`[cloud] ${m}`),
  warn: (m) => console.warn(`[cloud] ${m}`),
  error: (m) => console.error(`[cloud] ${m}`),
};
export const silentLogger: Logger = { info() {}, warn() {}, error() {} };

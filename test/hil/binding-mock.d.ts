// @serialport/binding-mock ships types its package.json "exports" hide from
// TypeScript's bundler resolution; declare the part the tests use.
declare module "@serialport/binding-mock" {
  import type { BindingInterface } from "@serialport/bindings-interface";
  export const MockBinding: BindingInterface & {
    createPort(path: string, options?: { echo?: boolean; record?: boolean }): void;
    reset(): void;
  };
}

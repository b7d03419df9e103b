export {};
// Reports what the running engine looks like from inside the app.
const g = globalThis as Record<string, unknown>;
let work = 0;
for (let i = 0; i < 2000; i++) work += i % 7;
trace(
  JSON.stringify({
    process: typeof g.process,
    Buffer: typeof g.Buffer,
    require: typeof g.require,
    Compartment: typeof g.Compartment,
    ModuleSource: typeof g.ModuleSource,
    trace: typeof g.trace,
    globals: Object.getOwnPropertyNames(globalThis),
    work,
  }),
);

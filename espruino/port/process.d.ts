declare const process: { memory(): { free: number; usage: number; total: number } };

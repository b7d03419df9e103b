// The radio, on only when a socket needs it: the first TCP/TLS connect of a
// wake brings Wifi up (require("Wifi").connect), so wakes that only sample never
// pay for it. Without useWifi() (e.g. Ethernet or a Wifi saved with Wifi.save())
// sockets connect at once.
let ssid: string | undefined;
let options: { password?: string } = {};
let up = false;
let waiting: ((error?: string) => void)[] = [];

export function useWifi(name: string, password?: string): void {
  ssid = name;
  options = password ? { password } : {};
  up = false;
}

/** Calls back once the network is up (error: a message when Wifi could not connect). */
export function whenOnline(cb: (error?: string) => void): void {
  if (up || ssid === undefined) return cb();
  waiting.push(cb);
  if (waiting.length > 1) return;
  require("Wifi").connect(ssid, options, (err: unknown) => {
    up = !err;
    const w = waiting;
    waiting = [];
    for (let i = 0; i < w.length; i++) w[i](err ? "wifi: " + String(err) : undefined);
  });
}

/** Radio off before deep sleep (ESP32 turns it off anyway; explicit for light-sleep apps). */
export function radioOff(): void {
  if (ssid !== undefined && up) {
    up = false;
    try {
      require("Wifi").disconnect();
    } catch (e) {
      // not connected
    }
  }
}

// Test double for Espruino's Linux build (no ESP32, no Wifi, no ADC): loaded
// before the app by test/espruino, never part of the bundle. A deep sleep
// becomes the end of the process: ESP32.deepSleep(us) records a timer wake and
// advances a virtual clock by the sleep in Storage (sim.*), then quit()s; the
// harness starts the next process, which sees getWakeupCause() = 4 (timer) and
// Date.now() moved on by the time slept. Analog inputs come from sim.adc
// ({ pin: fraction 0..1 }), digital inputs from sim.pins.
(function () {
  var S = require("Storage");
  var wake = S.readJSON("sim.wake", true) || { cause: 0, clock: 0 };
  var realNow = Date.now;
  Date.now = function () {
    return realNow() + wake.clock;
  };
  function pinKey(p) {
    return String(p);
  }
  // The most variables in use (after GC) seen while awake, sampled every 5 ms: the memory figure.
  var peak = 0;
  function sample() {
    var u = process.memory().usage;
    if (u > peak) peak = u;
  }
  setInterval(sample, 5);
  global.ESP32 = {
    deepSleep: function (us) {
      sample();
      S.write("sim.wake", JSON.stringify({ cause: 4, clock: wake.clock + us / 1000, us: us }));
      print("sim: deep sleep " + us + " us, peak " + peak + " of " + process.memory().total + " variables");
      quit();
    },
    deepSleepExt0: function (pin, level) {
      S.write("sim.wake", JSON.stringify({ cause: 2, clock: wake.clock, pin: pinKey(pin), level: level }));
      print("sim: deep sleep until pin " + pin + " is " + level);
      quit();
    },
    getWakeupCause: function () {
      return wake.cause;
    },
    getWakeupPin: function () {
      return wake.pin === undefined ? undefined : +wake.pin;
    },
  };
  global.Wifi = {
    connect: function (ssid, options, cb) {
      print("sim: wifi " + ssid);
      setTimeout(function () { cb(null); }, 0);
    },
    disconnect: function () {},
  };
  Modules.addCached("Wifi", "exports.connect=function(s,o,c){global.Wifi.connect(s,o,c)};exports.disconnect=function(){global.Wifi.disconnect()};");
  global.analogRead = function (pin) {
    var adc = S.readJSON("sim.adc", true) || {};
    var v = adc[pinKey(pin)];
    return typeof v === "number" ? v : 0;
  };
  global.digitalRead = function (pin) {
    var pins = S.readJSON("sim.pins", true) || {};
    return pins[pinKey(pin)] ? 1 : 0;
  };
  global.digitalWrite = function () {};
  // (That interval also keeps the process alive: Espruino's Linux build exits when no
  // timer is left, even with sockets open. Only deep sleep, quit(), ends it.)
})();

#!/usr/bin/env bash
# Builds an Espruino Linux binary that counts memory as Espruino on ESP32 does,
# for the figures in README's Espruino section:
#   - the ESP32 board's fixed 16,383 variables (VARIABLES=16383; Linux is otherwise resizable);
#   - Storage reads returned as native strings over a copy kept alive, as ESP32's memory-mapped
#     Storage returns them, so function code loaded by require() from Storage stays out of the
#     variables (Espruino's Linux branch of jsvAddressToVar, src/jsflash.c, copies it into them).
# Usage: espruino/esp32-model.sh <espruino checkout> <out dir>   -> <out dir>/bin/espruino
# (GIT_DIR may need to point at the checkout's git directory: Espruino's build runs `git log`.)
set -euo pipefail
src=${1:?espruino checkout}; out=${2:?output directory}
mkdir -p "$out"
tar -C "$src" --exclude=./.git --exclude=./obj --exclude=./gen --exclude=./bin -cf - . | tar -C "$out" -xf -
python3 - "$out/src/jsflash.c" <<'PY'
import sys
p = sys.argv[1]
s = open(p).read()
old = "  JsVar *v = jsvNewStringOfLength((uint32_t)length, d);\n  free(d);\n  return v;"
if old not in s:
    sys.exit("src/jsflash.c: the Linux branch of jsvAddressToVar changed; update espruino/esp32-model.sh")
open(p, "w").write(s.replace(old, "  return jsvNewNativeString(d, length); // model of ESP32's memory-mapped Storage"))
PY
mkdir -p "$out/gen" "$out/bin"
cd "$out" && VARIABLES=16383 BOARD=LINUX make -j2 >"$out/build.log" 2>&1 || { tail -20 "$out/build.log"; exit 1; }
echo "$out/bin/espruino"

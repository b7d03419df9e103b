// Moddable manifests for real ESP32 builds of the firmware, one per board,
// generated from the board files so pins and calibration never drift apart.
// `xsiot flash --write-manifests` rewrites manifests/; a test checks they match.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { boardIds, loadBoard, type Board } from "../sim/board.ts";
import { REPO_ROOT } from "../sim/image.ts";

export const MANIFESTS_DIR = join(REPO_ROOT, "manifests");

/**
 * Moddable's own manifests the firmware needs on ESP32 (paths under $(MODDABLE)), checked
 * against Moddable 8.2.3 by `npm run check:moddable`.
 */
export const MODDABLE_INCLUDES = [
  "$(MODDABLE)/examples/manifest_base.json", // creation, the esp32 device manifest, typings paths and the global System type
  "$(MODDABLE)/modules/io/manifest.json", // embedded:io/* (TCP, analog, digital, I2C), the preloaded System global
  "$(MODDABLE)/modules/io/storage/manifest.json", // embedded:storage/key-value (NVS)
  "$(MODDABLE)/modules/io/update/manifest.json", // embedded:update and flash
  "$(MODDABLE)/modules/crypt/digest/manifest.json", // crypt Digest (SHA-256)
  // embedded:io/socket/tcp/tls: only this manifest maps it (module ./tlssocket, preloaded) on top of
  // modules/crypt/tls_419.json, which alone provides no such specifier.
  "$(MODDABLE)/examples/io/tcp/tlssocket/manifest.json",
];

/**
 * Two OTA app slots and otadata: mcconfig (tools/mcmanifest.js, generateConfigurationRules)
 * splits the factory partition of build/devices/esp32/xsProj-esp32/partitions.csv when
 * defines.ota.autosplit is set; without it the image has only nvs, phy_init and factory.
 */
export const MODDABLE_DEFINES = { ota: { autosplit: 1 } };

/** The board data the firmware reads from mc/config (what the chip needs; power figures stay host-side). */
export function boardConfig(board: Board) {
  return { id: board.id, pins: board.pins, rtcGpio: board.rtcGpio, adc: board.adc, sensors: board.sensors };
}

export function manifestFor(board: Board): Record<string, unknown> {
  return {
    "//": `Generated from boards/${board.id}.json by \`xsiot flash --write-manifests\`. Build and flash: XSIOT=<repo> mcconfig -d -m -p ${board.mcconfig.platform} manifests/${board.id}.json`,
    include: [...MODDABLE_INCLUDES, "$(XSIOT)/firmware/manifest.json"],
    defines: MODDABLE_DEFINES,
    config: { board: boardConfig(board) },
  };
}

export function manifestText(board: Board): string {
  return JSON.stringify(manifestFor(board), null, 2) + "\n";
}

export function manifestPath(id: string): string {
  return join(MANIFESTS_DIR, `${id}.json`);
}

/** Writes manifests/<board>.json for every board; returns the paths that changed. */
export function writeManifests(): string[] {
  const changed: string[] = [];
  for (const id of boardIds()) {
    const path = manifestPath(id);
    const text = manifestText(loadBoard(id));
    if (!existsSync(path) || readFileSync(path, "utf8") !== text) {
      writeFileSync(path, text);
      changed.push(path);
    }
  }
  return changed;
}

/*
 * xsiot/native/esp32: JS side of esp32.c (Moddable native bindings).
 * API: sdk/typings/esp32.d.ts. Validates arguments, then calls the C.
 */

function nativeDeepSleep(us, ext0Pin, ext0Level, ext1MaskLow, ext1MaskHigh, ext1AnyHigh) @ "xs_esp32_deep_sleep";
function nativeRetain(buffer, byteOffset, byteLength, at) @ "xs_esp32_retain";

export function wakeCause() @ "xs_esp32_wake_cause";
export function wakePin() @ "xs_esp32_wake_pin";
export function resetReason() @ "xs_esp32_reset_reason";
export function retained() @ "xs_esp32_retained";

function otaRunning() @ "xs_esp32_ota_running";
function otaNext() @ "xs_esp32_ota_next";
function otaState() @ "xs_esp32_ota_state";
function otaMarkValid() @ "xs_esp32_ota_mark_valid";
function otaRollback() @ "xs_esp32_ota_rollback";

export const RETAINED_SIZE = 4096;

const RTC_GPIOS = [0, 2, 4, 12, 13, 14, 15, 25, 26, 27, 32, 33, 34, 35, 36, 37, 38, 39];

function rtcPin(pin, what) {
	if (!RTC_GPIOS.includes(pin))
		throw new RangeError(`deepSleep: ${what} GPIO ${pin} is not an RTC GPIO`);
	return pin;
}

export function deepSleep(options) {
	const { us, ext0, ext1 } = options ?? {};
	let time = -1, ext0Pin = -1, ext0Level = 0, low = 0, high = 0, anyHigh = 0;
	if (us !== undefined) {
		if (!Number.isSafeInteger(us) || us < 0)
			throw new RangeError("deepSleep: us must be a non-negative integer");
		time = us;
	}
	if (ext0 !== undefined) {
		ext0Pin = rtcPin(ext0.pin, "ext0");
		if (ext0.level !== 0 && ext0.level !== 1)
			throw new RangeError("deepSleep: ext0 level must be 0 or 1");
		ext0Level = ext0.level;
	}
	if (ext1 !== undefined) {
		if (!Array.isArray(ext1.pins) || ext1.pins.length === 0)
			throw new RangeError("deepSleep: ext1 needs pins");
		for (const pin of ext1.pins) {
			rtcPin(pin, "ext1");
			if (pin < 32) low = (low | (1 << pin)) >>> 0;
			else high = (high | (1 << (pin - 32))) >>> 0;
		}
		if (ext1.mode === "any-high") anyHigh = 1;
		else if (ext1.mode !== "all-low")
			throw new RangeError("deepSleep: ext1 mode must be any-high or all-low");
	}
	if (time < 0 && ext0Pin < 0 && low === 0 && high === 0)
		throw new RangeError("deepSleep: no wake source (it would sleep until power-off)");
	// Integers passed to C are 32-bit signed: pass the mask halves as signed.
	nativeDeepSleep(time, ext0Pin, ext0Level, low | 0, high | 0, anyHigh);
}

/** Copies data into the retained block at byte `at` (default 0); the rest is unchanged. */
export function retain(data, at = 0) {
	let buffer, offset, length;
	if (data instanceof ArrayBuffer) {
		buffer = data; offset = 0; length = data.byteLength;
	}
	else if (ArrayBuffer.isView(data)) {
		buffer = data.buffer; offset = data.byteOffset; length = data.byteLength;
	}
	else
		throw new TypeError("retain: ArrayBuffer or view expected");
	if (!Number.isInteger(at) || at < 0 || at + length > RETAINED_SIZE)
		throw new RangeError(`retain: ${length} bytes at ${at} exceed the ${RETAINED_SIZE}-byte block`);
	nativeRetain(buffer, offset, length, at);
}

export const ota = Object.freeze({
	running: otaRunning,
	next: otaNext,
	state: otaState,
	markValid: otaMarkValid,
	rollback: otaRollback,
});

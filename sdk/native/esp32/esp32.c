/*
 * xsiot native ESP32 module: what Moddable lacks on ESP32 (DESIGN.md 3.1).
 * XS bindings for deep sleep with timer / ext0 / ext1 wake, wake cause and pin,
 * reset reason, a retained RTC memory block, and OTA confirm / rollback.
 *
 * Argument checking is done in esp32.js; this file re-checks only what would
 * make C misbehave (ranges, buffer bounds) and turns every esp_err_t into a
 * JS exception. Needs CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE=y (see manifest).
 */
#include <stdint.h>
#include <string.h>

#include "xsmc.h"
#include "esp_attr.h"
#include "esp_err.h"
#include "esp_sleep.h"
#include "esp_system.h"
#include "esp_ota_ops.h"

#define XSIOT_RETAINED_SIZE 4096

/* RTC slow memory: zeroed at power-on, kept across deep sleep. */
static RTC_DATA_ATTR uint8_t gRetained[XSIOT_RETAINED_SIZE];

static void check(xsMachine *the, esp_err_t err, const char *what)
{
	if (ESP_OK != err)
		xsUnknownError("%s: %s", what, esp_err_to_name(err));
}

/* deepSleep(us, ext0Pin, ext0Level, ext1MaskLow, ext1MaskHigh, ext1AnyHigh): never returns.
   us < 0, ext0Pin < 0 and an empty mask mean "source not used". */
void xs_esp32_deep_sleep(xsMachine *the)
{
	xsNumberValue us = xsmcToNumber(xsArg(0));
	xsIntegerValue ext0Pin = xsmcToInteger(xsArg(1));
	xsIntegerValue ext0Level = xsmcToInteger(xsArg(2));
	uint64_t mask = ((uint64_t)(uint32_t)xsmcToInteger(xsArg(4)) << 32) | (uint32_t)xsmcToInteger(xsArg(3));
	xsIntegerValue anyHigh = xsmcToInteger(xsArg(5));

	if ((us < 0) && (ext0Pin < 0) && (0 == mask))
		xsRangeError("deepSleep: no wake source");
	if (us > 9007199254740991.0)
		xsRangeError("deepSleep: us too large");

	check(the, esp_sleep_disable_wakeup_source(ESP_SLEEP_WAKEUP_ALL), "deepSleep: clear wake sources");
	if (us >= 0)
		check(the, esp_sleep_enable_timer_wakeup((uint64_t)us), "deepSleep: timer");
	if (ext0Pin >= 0) {
		if ((ext0Pin > 39) || ((0 != ext0Level) && (1 != ext0Level)))
			xsRangeError("deepSleep: bad ext0 pin or level");
		check(the, esp_sleep_enable_ext0_wakeup((gpio_num_t)ext0Pin, (int)ext0Level), "deepSleep: ext0");
	}
	if (0 != mask)
		check(the, esp_sleep_enable_ext1_wakeup(mask, anyHigh ? ESP_EXT1_WAKEUP_ANY_HIGH : ESP_EXT1_WAKEUP_ALL_LOW), "deepSleep: ext1");

	esp_deep_sleep_start();
}

void xs_esp32_wake_cause(xsMachine *the)
{
	const char *cause;

	switch (esp_sleep_get_wakeup_cause()) {
		case ESP_SLEEP_WAKEUP_TIMER: cause = "timer"; break;
		case ESP_SLEEP_WAKEUP_EXT0: cause = "ext0"; break;
		case ESP_SLEEP_WAKEUP_EXT1: cause = "ext1"; break;
		default: cause = "undefined"; break;
	}
	xsmcSetString(xsResult, (char *)cause);
}

/* Lowest GPIO in the ext1 wake status, or -1. */
void xs_esp32_wake_pin(xsMachine *the)
{
	uint64_t status = esp_sleep_get_ext1_wakeup_status();
	xsIntegerValue pin = -1;
	xsIntegerValue i;

	for (i = 0; i < 64; i++) {
		if (status & ((uint64_t)1 << i)) {
			pin = i;
			break;
		}
	}
	xsmcSetInteger(xsResult, pin);
}

void xs_esp32_reset_reason(xsMachine *the)
{
	const char *reason;

	switch (esp_reset_reason()) {
		case ESP_RST_DEEPSLEEP: reason = "deep-sleep"; break;
		case ESP_RST_SW: reason = "software"; break;
		case ESP_RST_PANIC: reason = "panic"; break;
		case ESP_RST_INT_WDT:
		case ESP_RST_TASK_WDT:
		case ESP_RST_WDT: reason = "watchdog"; break;
		case ESP_RST_BROWNOUT: reason = "brownout"; break;
		/* POWERON, EXT (EN pin), SDIO, UNKNOWN: a cold start; retained memory is not trusted. */
		default: reason = "power-on"; break;
	}
	xsmcSetString(xsResult, (char *)reason);
}

/* retained(): a copy of the RTC block. */
void xs_esp32_retained(xsMachine *the)
{
	xsmcSetArrayBuffer(xsResult, gRetained, XSIOT_RETAINED_SIZE);
}

/* retain(buffer, byteOffset, byteLength, at): copies buffer[byteOffset, +byteLength) to the block at `at`. */
void xs_esp32_retain(xsMachine *the)
{
	xsIntegerValue bufferLength = xsmcGetArrayBufferLength(xsArg(0));
	xsIntegerValue offset = xsmcToInteger(xsArg(1));
	xsIntegerValue length = xsmcToInteger(xsArg(2));
	xsIntegerValue at = xsmcToInteger(xsArg(3));

	if ((offset < 0) || (length < 0) || (at < 0) || (offset > bufferLength) || (length > bufferLength - offset) ||
		(at > XSIOT_RETAINED_SIZE) || (length > XSIOT_RETAINED_SIZE - at))
		xsRangeError("retain: out of range");
	memcpy(gRetained + at, (uint8_t *)xsmcToArrayBuffer(xsArg(0)) + offset, (size_t)length);
}

static const esp_partition_t *running(void)
{
	return esp_ota_get_running_partition();
}

void xs_esp32_ota_running(xsMachine *the)
{
	const esp_partition_t *p = running();

	if (NULL == p)
		xsUnknownError("ota.running: no running partition");
	xsmcSetString(xsResult, (char *)p->label);
}

void xs_esp32_ota_next(xsMachine *the)
{
	const esp_partition_t *p = esp_ota_get_next_update_partition(NULL);

	if (NULL == p)
		xsUnknownError("ota.next: no OTA partition");
	xsmcSetString(xsResult, (char *)p->label);
}

void xs_esp32_ota_state(xsMachine *the)
{
	esp_ota_img_states_t state;
	const char *name;
	const esp_partition_t *p = running();

	/* The factory partition has no OTA state (ESP_ERR_NOT_SUPPORTED): report "undefined". */
	if ((NULL == p) || (ESP_OK != esp_ota_get_state_partition(p, &state)))
		state = ESP_OTA_IMG_UNDEFINED;
	switch (state) {
		case ESP_OTA_IMG_NEW: name = "new"; break;
		case ESP_OTA_IMG_PENDING_VERIFY: name = "pending-verify"; break;
		case ESP_OTA_IMG_VALID: name = "valid"; break;
		case ESP_OTA_IMG_INVALID: name = "invalid"; break;
		case ESP_OTA_IMG_ABORTED: name = "aborted"; break;
		default: name = "undefined"; break;
	}
	xsmcSetString(xsResult, (char *)name);
}

void xs_esp32_ota_mark_valid(xsMachine *the)
{
	check(the, esp_ota_mark_app_valid_cancel_rollback(), "ota.markValid");
}

/* Reboots into the previous image; returns (and throws) only if that is impossible. */
void xs_esp32_ota_rollback(xsMachine *the)
{
	check(the, esp_ota_mark_app_invalid_rollback_and_reboot(), "ota.rollback");
	xsUnknownError("ota.rollback: did not reboot");
}

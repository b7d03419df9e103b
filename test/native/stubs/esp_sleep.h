/* Host stub of ESP-IDF esp_sleep.h (components/esp_hw_support/include), ESP32 target, IDF 5.x. */
#ifndef XSIOT_STUB_ESP_SLEEP_H
#define XSIOT_STUB_ESP_SLEEP_H
#include <stdint.h>
#include "esp_err.h"

typedef enum { GPIO_NUM_0 = 0, GPIO_NUM_39 = 39, GPIO_NUM_MAX } gpio_num_t; /* hal/gpio_types.h */

typedef enum {
	ESP_EXT1_WAKEUP_ALL_LOW = 0,
	ESP_EXT1_WAKEUP_ANY_HIGH = 1,
} esp_sleep_ext1_wakeup_mode_t;

typedef enum {
	ESP_SLEEP_WAKEUP_UNDEFINED,
	ESP_SLEEP_WAKEUP_ALL,
	ESP_SLEEP_WAKEUP_EXT0,
	ESP_SLEEP_WAKEUP_EXT1,
	ESP_SLEEP_WAKEUP_TIMER,
	ESP_SLEEP_WAKEUP_TOUCHPAD,
	ESP_SLEEP_WAKEUP_ULP,
} esp_sleep_source_t;
typedef esp_sleep_source_t esp_sleep_wakeup_cause_t;

esp_err_t esp_sleep_disable_wakeup_source(esp_sleep_source_t source);
esp_err_t esp_sleep_enable_timer_wakeup(uint64_t time_in_us);
esp_err_t esp_sleep_enable_ext0_wakeup(gpio_num_t gpio_num, int level);
esp_err_t esp_sleep_enable_ext1_wakeup(uint64_t io_mask, esp_sleep_ext1_wakeup_mode_t level_mode);
void esp_deep_sleep_start(void) __attribute__((noreturn));
esp_sleep_wakeup_cause_t esp_sleep_get_wakeup_cause(void);
uint64_t esp_sleep_get_ext1_wakeup_status(void);
#endif

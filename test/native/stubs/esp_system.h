/* Host stub of ESP-IDF esp_system.h (esp_reset_reason_t lives in esp_system.h / esp_private in IDF 5). */
#ifndef XSIOT_STUB_ESP_SYSTEM_H
#define XSIOT_STUB_ESP_SYSTEM_H
typedef enum {
	ESP_RST_UNKNOWN,
	ESP_RST_POWERON,
	ESP_RST_EXT,
	ESP_RST_SW,
	ESP_RST_PANIC,
	ESP_RST_INT_WDT,
	ESP_RST_TASK_WDT,
	ESP_RST_WDT,
	ESP_RST_DEEPSLEEP,
	ESP_RST_BROWNOUT,
	ESP_RST_SDIO,
} esp_reset_reason_t;
esp_reset_reason_t esp_reset_reason(void);
#endif

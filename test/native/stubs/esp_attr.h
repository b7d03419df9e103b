/* Host stub of ESP-IDF esp_attr.h (components/esp_common). */
#ifndef XSIOT_STUB_ESP_ATTR_H
#define XSIOT_STUB_ESP_ATTR_H
#define RTC_DATA_ATTR __attribute__((section(".rtc.data.stub")))
#endif

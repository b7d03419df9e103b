/* Host stub of ESP-IDF esp_err.h. */
#ifndef XSIOT_STUB_ESP_ERR_H
#define XSIOT_STUB_ESP_ERR_H
#include <stdint.h>
typedef int esp_err_t;
#define ESP_OK 0
const char *esp_err_to_name(esp_err_t code);
#endif

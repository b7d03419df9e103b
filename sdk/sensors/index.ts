// xsiot sensors: pure math and drivers over injected I/O. Device-module
// factories (embedded:io/*) live in ./device, kept out of this index so the
// rest loads anywhere (Node tests, the virtual ESP32).
export { SensorError, type SensorErrorCode } from "./error";
export { type AdcCalibration, validateCalibration, rawToMillivolts, MAX_CALIBRATION_POINTS } from "./calibration";
export { median, trimmedMean, reduceSamples, type SampleFilter, MAX_SAMPLES } from "./oversample";
export * from "./thermistor";
export { batteryMillivolts, type BatteryDivider } from "./battery";
export { AdcInput, NtcSensor, BatterySensor, type AnalogLike, type AdcInputOptions, type NtcSensorOptions } from "./adc";
export { crc8 } from "./crc8";
export * from "./sht3x-convert";
export { Sht3x, SHT3X_ADDRESS, type Sht3xOptions } from "./sht3x";
export * from "./bme280-compensate";
export { Bme280, BME280_ADDRESS, BME280_CHIP_ID, type Bme280Options, type Bme280Oversampling } from "./bme280";
export { type I2CLike, i2cRead, i2cWrite, i2cReadRegister } from "./i2c";
export { DebouncedInput, type DebouncedInputOptions, type DigitalClass, type DigitalLike, type TimerLike, type Edge } from "./debounce";
export { wakeOptions, RTC_GPIOS, type WakeSource } from "./wake";

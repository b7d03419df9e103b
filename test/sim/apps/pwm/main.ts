// embedded:io/pwm is on the chip (modules/io/pwm), but the sim does not emulate it: it must say so.
// @ts-ignore -- not in the SDK's typings
import PWM from "embedded:io/pwm";
trace(`pwm ${typeof PWM}`);

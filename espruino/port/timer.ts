// Moddable's "timer" module (Timer.set / Timer.clear), which sdk/mqtt/client uses.
import { Timer } from "./system";
export default Timer;

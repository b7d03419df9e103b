/**
 * The one error the MQTT codec and session raise for bad bytes, bad options
 * or bad peer behaviour. `reasonCode` is the MQTT 5 reason code that names the
 * fault (0x81 Malformed Packet, 0x82 Protocol Error, 0x95 Packet too large, ...),
 * also used on 3.1.1 connections to describe it.
 */
export class MqttProtocolError extends Error {
  readonly reasonCode: number;
  constructor(message: string, reasonCode = 0x81) {
    super(message);
    this.reasonCode = reasonCode;
  }
}
// On the prototype, defined (not assigned): a Moddable build freezes
// Error.prototype, so `this.name = ...` (or an assignment here) would throw a
// TypeError, the "override mistake", every time the error is constructed.
Object.defineProperty(MqttProtocolError.prototype, "name", { value: "MqttProtocolError", configurable: true, writable: true });

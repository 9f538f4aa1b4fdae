/**
 * How the gateway's core talks MQTT, whichever broker carries it: the embedded aedes broker
 * (in-process, no extra hop) or an external one such as Mosquitto (through MQTT.js).
 */
export type MessageHandler = (topic: string, payload: Buffer) => void;

export interface PublishOptions {
  qos: 0 | 1;
  retain?: boolean;
}

export interface MessageBus {
  /**
   * Registers a handler. Subscriptions made before `start()` are in place before the first
   * message can arrive (the broker listens, or the persistent session resumes, only after).
   */
  subscribe(filter: string, handler: MessageHandler): Promise<void>;
  start(): Promise<void>;
  /** Fire and forget: the broker's acknowledgement proves nothing to us (design principle 1). */
  publish(topic: string, payload: string | Buffer, options: PublishOptions): void;
  close(): Promise<void>;
}

import type { Socket } from 'node:net';
import type { MqttClient } from 'mqtt';

/**
 * Turns Nagle's algorithm off on the client's socket, on every (re)connect. Without it one
 * request/response takes ~88 ms instead of ~0.4 ms on loopback (facts.md).
 */
export function setNoDelay(client: MqttClient): void {
  const apply = () => {
    const stream = client.stream as Partial<Socket> | undefined;
    stream?.setNoDelay?.(true);
  };
  client.on('connect', apply);
  apply();
}

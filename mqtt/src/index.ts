// The library types a kantine part handles, so that no part but this one depends on MQTT.js or aedes.
export type { Aedes, Client as BrokerClient, PublishPacket } from 'aedes';
export type { MqttClient } from 'mqtt';
export * from './client.ts';
export * from './config.ts';
export * from './login-throttle.ts';
export * from './packet-gate.ts';
export * from './server.ts';

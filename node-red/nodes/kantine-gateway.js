'use strict';
/**
 * The connection to a kantine gateway, shared by every kantine node that names it. It logs in
 * with an integration's credentials (`kantine-gateway integration add …` on the gateway), which
 * may only subscribe to the site's events: nothing here can make or change a sale.
 */
const { readFileSync } = require('node:fs');
const mqtt = require('mqtt');

// The gateway knows integrations by this user-name prefix (gateway/src/broker/acl.ts).
const INTEGRATION_USER_PREFIX = 'integration:';
const ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Node status for each connection state, Danish first (the staff's language), English beside it. */
const STATES = {
  connecting: { fill: 'yellow', shape: 'ring', text: 'forbinder … / connecting' },
  connected: { fill: 'green', shape: 'dot', text: 'forbundet / connected' },
  disconnected: { fill: 'red', shape: 'ring', text: 'ingen forbindelse / disconnected' },
  refused: { fill: 'red', shape: 'dot', text: 'afvist: forkert id eller nøgle / refused: wrong id or secret' },
  misconfigured: { fill: 'red', shape: 'dot', text: 'mangler opsætning / not configured' },
};

/** The event's kind from its topic: `kantine/{site}/events/{kind}[/{reader}]`. */
function kindOf(topic) {
  return topic.split('/')[3];
}

module.exports = (RED) => {
  function KantineGatewayNode(config) {
    RED.nodes.createNode(this, config);
    this.url = config.url;
    this.site = config.site;
    const users = new Set();
    let state = 'connecting';
    let client;

    const setState = (next) => {
      state = next;
      for (const user of users) user.node.status(STATES[next]);
    };

    /** A kantine node asks for one kind of event; `handler(event, topic)` gets each one. */
    this.register = (user, kind, handler) => {
      const entry = { node: user, kind, handler };
      users.add(entry);
      user.status(STATES[state]);
      return () => users.delete(entry);
    };

    const integration = this.credentials?.integration ?? '';
    const secret = this.credentials?.secret ?? '';
    const problems = [];
    if (!/^mqtts?:\/\//.test(this.url ?? '')) problems.push('url must start with mqtt:// or mqtts://');
    if (!ID.test(this.site ?? '')) problems.push('site must be the site id (a-z, 0-9, -)');
    if (!ID.test(integration)) problems.push('integration must be the integration id (a-z, 0-9, -)');
    if (!secret) problems.push('secret is missing');
    if (problems.length > 0) {
      this.error(`kantine-gateway: ${problems.join('; ')}`);
      setState('misconfigured');
      return;
    }

    let ca;
    if (config.ca) {
      try {
        ca = readFileSync(config.ca);
      } catch (err) {
        this.error(`kantine-gateway: cannot read the CA file ${config.ca}: ${err.message}`);
        setState('misconfigured');
        return;
      }
    }
    const prefix = `kantine/${this.site}/events/`;
    client = mqtt.connect(this.url, {
      // An integration's client ids are its own: `integration:<id>:…`.
      clientId: `${INTEGRATION_USER_PREFIX}${integration}:node-red-${this.id.replace(/[^A-Za-z0-9]/g, '')}`,
      username: `${INTEGRATION_USER_PREFIX}${integration}`,
      password: secret,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 5_000,
      connectTimeout: 10_000,
      ...(ca ? { ca } : {}),
    });
    client.on('connect', () => {
      setState('connected');
      client.subscribe(`${prefix}#`, { qos: 1 }, (err) => {
        if (err) this.error(`kantine-gateway: subscribe refused: ${err.message}`);
      });
    });
    client.on('error', (err) => {
      // CONNACK 4/5: the gateway does not know these credentials (or they were revoked).
      if (err.code === 4 || err.code === 5) setState('refused');
      this.warn(`kantine-gateway: ${err.message}`);
    });
    client.on('close', () => {
      if (state !== 'refused') setState('disconnected');
    });
    client.on('reconnect', () => {
      if (state !== 'refused') setState('connecting');
    });
    client.on('message', (topic, payload) => {
      if (!topic.startsWith(prefix)) return;
      let event;
      try {
        event = JSON.parse(payload.toString('utf8'));
      } catch {
        this.warn(`kantine-gateway: a message on ${topic} is not JSON; ignored`);
        return;
      }
      const kind = kindOf(topic);
      for (const user of users) if (user.kind === kind) user.handler(event, topic);
    });

    this.on('close', (done) => {
      users.clear();
      client.end(true, {}, () => done());
    });
  }

  RED.nodes.registerType('kantine-gateway', KantineGatewayNode, {
    credentials: {
      integration: { type: 'text' },
      secret: { type: 'password' },
    },
  });
};

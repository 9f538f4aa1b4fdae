'use strict';
/**
 * What the kantine event nodes share: find the gateway config node, register for one kind of
 * event, pass on the events the node's filter lets through as `msg.payload`.
 *
 * @param RED the Node-RED runtime
 * @param type the node type, e.g. `kantine-sale`
 * @param kind the event kind on the gateway, e.g. `sale`
 * @param keep (config, event) => boolean: the node's own filter
 */
module.exports = function registerEventNode(RED, type, kind, keep) {
  function KantineEventNode(config) {
    RED.nodes.createNode(this, config);
    const gateway = RED.nodes.getNode(config.gateway);
    if (!gateway || typeof gateway.register !== 'function') {
      this.status({ fill: 'red', shape: 'dot', text: 'vælg en gateway / choose a gateway' });
      this.error(`${type}: no kantine-gateway configured`);
      return;
    }
    const unregister = gateway.register(this, kind, (event, topic) => {
      if (!keep(config, event)) return;
      this.send({ topic, payload: event });
    });
    this.on('close', () => unregister());
  }
  RED.nodes.registerType(type, KantineEventNode);
};

'use strict';
const registerEventNode = require('./lib/event-node.js');

/** Every approved sale with its lines; filtered by till when set. */
module.exports = (RED) => {
  registerEventNode(RED, 'kantine-sale', 'sale', (config, event) => !config.till || event.till_id === config.till);
};

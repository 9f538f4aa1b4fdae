'use strict';
const registerEventNode = require('./lib/event-node.js');

/** Every fresh decision at the site's tills; filtered by outcome and reader when set. */
module.exports = (RED) => {
  registerEventNode(
    RED,
    'kantine-tap',
    'tap',
    (config, event) =>
      (!config.outcome || config.outcome === 'any' || event.outcome === config.outcome) &&
      (!config.reader || event.reader_id === config.reader),
  );
};

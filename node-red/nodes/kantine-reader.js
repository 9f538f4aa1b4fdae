'use strict';
const registerEventNode = require('./lib/event-node.js');

/** Each reader's status (online/offline, NFC reader ready, health); filtered by reader when set. */
module.exports = (RED) => {
  registerEventNode(
    RED,
    'kantine-reader',
    'reader',
    (config, event) => !config.reader || event.reader_id === config.reader,
  );
};

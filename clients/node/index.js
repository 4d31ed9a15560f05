'use strict';

// wpwithin-client: WPWithinClient, Subscription, resolveSocketPath, METHODS and the error classes.
module.exports = { ...require('./lib/client'), ...require('./lib/errors') };

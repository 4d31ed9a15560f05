'use strict';

// Command-line parsing shared by the examples: --help prints the usage; bad values throw with it.

const { parseArgs } = require('node:util');

/** Parses process.argv with `options` (node:util parseArgs) plus -h/--help. */
function parseCommandLine(usage, options) {
  const { values } = parseArgs({ options: { ...options, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  return {
    values,
    /** The option `name` as an integer ≥ min (undefined when absent and without a default). */
    integer(name, min) {
      if (values[name] === undefined) return undefined;
      const n = Number(values[name]);
      if (!Number.isSafeInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}\n${usage}`);
      return n;
    },
  };
}

module.exports = { parseCommandLine };

'use strict';

// Money as the examples (and wpwctl) print it: minor units in major units with the currency's ISO 4217
// decimals, then the code.

/** An amount in minor units as text, e.g. money(1500, 'GBP') === '15.00 GBP', money(500, 'JPY') === '500 JPY'. */
function money(amount, currency) {
  let digits = 2;
  try {
    digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits;
  } catch {
    // an unknown currency: assume two decimals
  }
  return `${(amount / 10 ** digits).toFixed(digits)} ${currency}`;
}

module.exports = { money };

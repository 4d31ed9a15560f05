// WPWithinPayments: placeholder, replaced by its owner.

// WPWithinClient: placeholder, replaced by its owner.

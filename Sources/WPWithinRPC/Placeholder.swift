// WPWithinRPC: placeholder, replaced by its owner.

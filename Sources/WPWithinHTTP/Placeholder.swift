// WPWithinHTTP: placeholder, replaced by its owner.

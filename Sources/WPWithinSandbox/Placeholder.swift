// WPWithinSandbox: placeholder, replaced by its owner.

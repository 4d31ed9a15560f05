// WPWithinCrypto: placeholder, replaced by its owner.

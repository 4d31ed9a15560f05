// WPWithinDaemon: placeholder, replaced by its owner.

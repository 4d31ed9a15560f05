/// The daemon's version (semantic versioning).
public enum WPWithinVersion {
    public static let current = "0.1.0"
}

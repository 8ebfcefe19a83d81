/// A key sanitize-clone understands in its configuration, declared by the code that reads it.
public struct ConfigurationKey: Sendable {
    public let section: String
    public let name: String
    /// One line saying what the key does, for `cat-config` and the man page.
    public let summary: String
    /// The value used when no file sets the key.
    public let defaultValue: String
    /// Returns a message when `value` is not acceptable, nil when it is.
    public let validate: @Sendable (String) -> String?

    public init(section: String, name: String, summary: String, defaultValue: String,
                validate: @escaping @Sendable (String) -> String? = { _ in nil }) {
        self.section = section
        self.name = name
        self.summary = summary
        self.defaultValue = defaultValue
        self.validate = validate
    }

    /// "Section.Name", how messages name the key.
    public var qualifiedName: String { "\(section).\(name)" }

    /// A key whose value is yes/no (also true/false, 1/0, on/off).
    public static func boolean(section: String, name: String, summary: String, defaultValue: Bool) -> ConfigurationKey {
        ConfigurationKey(section: section, name: name, summary: summary, defaultValue: defaultValue ? "yes" : "no") {
            ConfigurationValue.parseBoolean($0) == nil ? "expected yes or no" : nil
        }
    }

    /// A key whose value is a whole number within `range`.
    public static func number(section: String, name: String, summary: String, defaultValue: Int,
                              range: ClosedRange<Int>) -> ConfigurationKey {
        ConfigurationKey(section: section, name: name, summary: summary, defaultValue: String(defaultValue)) {
            guard let number = Int($0), range.contains(number) else {
                return "expected a number from \(range.lowerBound) to \(range.upperBound)"
            }
            return nil
        }
    }
}

/// A value as configured, with the file and line it came from ("default" when none).
public struct ConfigurationValue: Sendable {
    public let value: String
    public let source: String

    /// Parses systemd-style booleans.
    public static func parseBoolean(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "yes", "true", "1", "on": return true
        case "no", "false", "0", "off": return false
        default: return nil
        }
    }
}

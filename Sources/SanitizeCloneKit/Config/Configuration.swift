/// The effective configuration: `/etc/sanitize-clone/sanitize-clone.conf` and then
/// `/etc/sanitize-clone/conf.d/*.conf` in lexical order, all read inside the root, in systemd's
/// INI style (`[Section]`, `Key=Value`, `#` and `;` comments). A later file overrides an earlier
/// one. Unknown sections or keys and syntax errors are errors naming the file and line.
public struct Configuration: Sendable {
    /// The main file inside the root.
    public static let mainPath = "/etc/sanitize-clone/sanitize-clone.conf"
    /// The drop-in directory inside the root.
    public static let dropInDirectory = "/etc/sanitize-clone/conf.d"

    private var values: [String: ConfigurationValue] = [:]
    private let keys: [String: ConfigurationKey]

    /// Empty configuration over `keys`: every value is its default.
    public init(keys: [ConfigurationKey]) {
        self.keys = Dictionary(keys.map { ($0.qualifiedName, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// Loads the configuration from `root`. `mainFileOverride` (a host path, `--config`) replaces
    /// the main file. Throws `InputError` naming file and line.
    public static func load(from root: RootDirectory, keys: [ConfigurationKey], mainFileOverride: String? = nil) throws -> Configuration {
        var configuration = Configuration(keys: keys)
        if let override = mainFileOverride {
            let host = try RootDirectory(path: RootPath.parent(of: override.hasPrefix("/") ? override : "./" + override))
            guard let text = try host.readText(RootPath.lastComponent(of: override)) else {
                throw InputError("\(override): no such configuration file (check the --config path; 'sanitize-clone cat-config' shows the configuration in effect without it)")
            }
            try configuration.merge(text: text, file: override)
        } else if let text = try root.readText(mainPath) {
            try configuration.merge(text: text, file: mainPath)
        }
        for name in try root.directoryEntries(dropInDirectory) where name.hasSuffix(".conf") {
            let path = RootPath.join(dropInDirectory, name)
            if let text = try root.readText(path) { try configuration.merge(text: text, file: path) }
        }
        return configuration
    }

    /// Adds the settings in `text` (from `file`), overriding earlier ones.
    public mutating func merge(text: String, file: String) throws {
        var section: String?
        // isNewline, not "\n": Swift reads "\r\n" as one Character, so a CRLF file would not split.
        for (index, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let where_ = "\(file):\(index + 1)"
            let line = rawLine.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]"), line.count > 2 else {
                    throw Self.malformed(where_, "malformed section header '\(line)' (write [Section])")
                }
                let name = String(line.dropFirst().dropLast())
                guard keys.values.contains(where: { $0.section == name }) else {
                    throw Self.malformed(where_, "unknown section [\(name)] (known: \(knownSections.joined(separator: ", ")))")
                }
                section = name
                continue
            }
            guard let equals = line.firstIndex(of: "=") else {
                throw Self.malformed(where_, "expected Key=Value, found '\(line)'")
            }
            guard let section else {
                throw Self.malformed(where_, "'\(line)' comes before any [Section] header")
            }
            let name = String(line[..<equals]).trimmingWhitespace()
            let value = String(line[line.index(after: equals)...]).trimmingWhitespace()
            guard let key = keys["\(section).\(name)"] else {
                let known = keys.values.filter { $0.section == section }.map(\.name).sorted()
                throw Self.malformed(where_, "unknown key '\(name)' in [\(section)] (known: \(known.joined(separator: ", ")))")
            }
            if !value.isEmpty, let problem = key.validate(value) {
                throw Self.malformed(where_, "invalid \(name)=\(value): \(problem)")
            }
            values[key.qualifiedName] = ConfigurationValue(value: value, source: where_)
        }
    }

    /// An error in a configuration file: where, what, and the command that shows the result.
    private static func malformed(_ place: String, _ problem: String) -> InputError {
        InputError("\(place): \(problem); fix it, then check with 'sanitize-clone cat-config'")
    }

    private var knownSections: [String] { Array(Set(keys.values.map(\.section))).sorted() }

    /// The value of `section.name`: the configured one, else the key's default.
    /// An empty assignment (`Key=`) resets to the default, as in systemd.
    public func value(_ section: String, _ name: String) -> String {
        let qualified = "\(section).\(name)"
        if let configured = values[qualified], !configured.value.isEmpty { return configured.value }
        return keys[qualified]?.defaultValue ?? ""
    }

    /// The value of a yes/no key.
    public func flag(_ section: String, _ name: String) -> Bool {
        ConfigurationValue.parseBoolean(value(section, name)) ?? false
    }

    /// The value of a number key.
    public func number(_ section: String, _ name: String) -> Int {
        Int(value(section, name)) ?? 0
    }

    /// Every known key with its effective value and where it came from, sorted.
    public var effectiveValues: [(key: ConfigurationKey, value: String, source: String)] {
        keys.values.sorted { $0.qualifiedName < $1.qualifiedName }.map { key in
            if let configured = values[key.qualifiedName], !configured.value.isEmpty {
                return (key, configured.value, configured.source)
            }
            return (key, key.defaultValue, "default")
        }
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces, tabs and carriage returns.
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" }
        guard let first = firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = lastIndex(where: { !isSpace($0) })!
        return String(self[first...last])
    }
}

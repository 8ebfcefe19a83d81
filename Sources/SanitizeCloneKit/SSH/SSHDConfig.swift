/// The host key settings of an sshd configuration, read inside the root: `HostKey` and
/// `HostCertificate` from `/etc/ssh/sshd_config` and every file its `Include` lines name.
public struct SSHDConfig: Sendable {
    /// `HostKey` paths, in order, without duplicates.
    public var hostKeys: [String] = []
    /// `HostCertificate` paths.
    public var hostCertificates: [String] = []

    public static let mainPath = "/etc/ssh/sshd_config"

    /// Reads the configuration; an absent file gives an empty result.
    public init(root: RootDirectory) throws {
        try read(Self.mainPath, root: root, depth: 0)
    }

    private mutating func read(_ path: String, root: RootDirectory, depth: Int) throws {
        guard depth < 16 else { throw InputError("\(path): Include nested too deeply (an Include loop?)") }
        guard let text = try root.readText(path) else { return }
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            let (keyword, arguments) = Self.split(line)
            switch keyword.lowercased() {
            case "hostkey":
                for argument in arguments {
                    let key = Self.absolute(argument)
                    if !hostKeys.contains(key) { hostKeys.append(key) }
                }
            case "hostcertificate":
                hostCertificates.append(contentsOf: arguments.map(Self.absolute))
            case "include":
                for pattern in arguments {
                    for file in try Self.expand(Self.absolute(pattern), root: root) {
                        try read(file, root: root, depth: depth + 1)
                    }
                }
            default:
                continue
            }
        }
    }

    /// "Keyword value…" or "Keyword=value", with double-quoted arguments.
    static func split(_ line: String) -> (String, [String]) {
        var tokens: [String] = []
        var current = ""
        var quoted = false
        var sawEquals = false
        for character in line {
            if character == "\"" { quoted.toggle(); continue }
            if !quoted, character == " " || character == "\t" || (character == "=" && tokens.isEmpty && !sawEquals) {
                if character == "=" { sawEquals = true }
                if !current.isEmpty { tokens.append(current); current = "" }
                continue
            }
            current.append(character)
        }
        if !current.isEmpty { tokens.append(current) }
        guard let keyword = tokens.first else { return ("", []) }
        return (keyword, Array(tokens.dropFirst()))
    }

    /// sshd reads relative Include and HostKey paths against /etc/ssh.
    static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? RootPath.normalized(path) : RootPath.normalized("/etc/ssh/" + path)
    }

    /// Files matching a pattern with `*` and `?` in its last component, sorted as sshd does.
    static func expand(_ pattern: String, root: RootDirectory) throws -> [String] {
        let name = RootPath.lastComponent(of: pattern)
        guard name.contains("*") || name.contains("?") else { return [pattern] }
        let directory = RootPath.parent(of: pattern)
        return try root.directoryEntries(directory).filter { Glob.matches(Array($0), Array(name)) }.map { RootPath.join(directory, $0) }
    }
}

/// Shell-style matching of one path component with `*` and `?`.
enum Glob {
    /// Whether `pattern` matches all of `text`, in time proportional to their lengths' product:
    /// trying every split at every `*` in turn (exponential in the number of `*`s) would let
    /// a guest's `Include *****…x` hang the run.
    static func matches(_ text: [Character], _ pattern: [Character]) -> Bool {
        var textIndex = 0, patternIndex = 0
        // The last `*` seen and where in `text` its match ends so far: on a mismatch, it takes
        // one more character and matching goes on after it.
        var lastStar: (pattern: Int, textEnd: Int)?
        while textIndex < text.count {
            if patternIndex < pattern.count, pattern[patternIndex] == "*" {
                lastStar = (patternIndex, textIndex)
                patternIndex += 1
            } else if patternIndex < pattern.count, pattern[patternIndex] == "?" || pattern[patternIndex] == text[textIndex] {
                textIndex += 1
                patternIndex += 1
            } else if let star = lastStar {
                lastStar = (star.pattern, star.textEnd + 1)
                textIndex = star.textEnd + 1
                patternIndex = star.pattern + 1
            } else {
                return false
            }
        }
        return pattern[patternIndex...].allSatisfy { $0 == "*" }
    }
}

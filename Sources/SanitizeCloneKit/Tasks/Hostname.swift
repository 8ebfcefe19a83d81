/// Hostname rules (RFC 1123 labels, at most 64 characters in all, as Linux and systemd allow).
public enum Hostname {
    /// Throws `InputError` unless `name` is a valid hostname; `source` says where it came from.
    public static func validate(_ name: String, source: String) throws {
        let problem: String?
        if name.isEmpty {
            problem = "it is empty"
        } else if name.utf8.count > 64 {
            problem = "it is longer than 64 characters"
        } else if let label = name.split(separator: ".", omittingEmptySubsequences: false).first(where: { !isValidLabel($0) }) {
            problem = label.isEmpty ? "it has an empty label" : "label '\(label)' is not 1-63 letters, digits or inner hyphens"
        } else {
            problem = nil
        }
        if let problem {
            let example = source == "--hostname" ? "'sanitize-clone plan --hostname web-01'" : "web-01, then run again"
            throw InputError("invalid hostname '\(name)' from \(source): \(problem) (use letters, digits and hyphens, e.g. \(example))")
        }
    }

    private static func isValidLabel(_ label: Substring) -> Bool {
        guard (1...63).contains(label.utf8.count), label.first != "-", label.last != "-" else { return false }
        return label.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 }
    }

    /// The name and domain of "web.example.com": ("web", "example.com").
    public static func split(_ name: String) -> (name: String, domain: String?) {
        guard let dot = name.firstIndex(of: ".") else { return (name, nil) }
        return (String(name[..<dot]), String(name[name.index(after: dot)...]))
    }
}

/// Rewrites `/etc/hosts` for a new hostname: the old name and its FQDN are replaced as whole
/// tokens only (another host named `web-backup` is not `web`), and the `127.0.1.1` line names
/// the new host (with its FQDN first when the old line carried a domain), as Debian expects.
public struct HostsFile {
    public let text: String

    public init(text: String) { self.text = text }

    /// The file for the new name. `oldName` may be nil (a sealed template has no name).
    public func renamed(from oldName: String?, to newName: String, domain newDomain: String?) -> String {
        // Swift reads "\r\n" as one Character: split on any newline and keep the file's own ending.
        let ending = text.contains("\r\n") ? "\r\n" : "\n"
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map(String.init)
        if lines.last == "" { lines.removeLast() }
        var oldDomain: String?
        var replacements: [String: String] = [:]
        if let oldName, !oldName.isEmpty {
            let old = oldName.lowercased()
            replacements[old] = newName
            for line in lines {
                for token in Self.fields(line).dropFirst() where token.lowercased().hasPrefix(old + ".") {
                    let domain = String(token.dropFirst(old.count + 1))
                    oldDomain = oldDomain ?? domain
                    replacements[token.lowercased()] = "\(newName).\(newDomain ?? domain)"
                }
            }
        }
        lines = lines.map { Self.replacingTokens(in: $0, replacements) }

        let domain = newDomain ?? oldDomain
        let names = domain.map { "\(newName).\($0) \(newName)" } ?? newName
        if let index = lines.firstIndex(where: { Self.fields($0).first == "127.0.1.1" }) {
            let comment = lines[index].firstIndex(of: "#").map { " " + lines[index][$0...] } ?? ""
            lines[index] = "127.0.1.1\t\(names)\(comment)"
        } else {
            let after = lines.lastIndex { Self.fields($0).first == "127.0.0.1" }.map { $0 + 1 } ?? 0
            lines.insert("127.0.1.1\t\(names)", at: after)
        }
        return lines.joined(separator: ending) + ending
    }

    /// The domain of `name` on the `127.0.1.1` line ("example.com" for "web.example.com web").
    public func domain(of name: String) -> String? {
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = Self.fields(String(line))
            guard fields.first == "127.0.1.1" else { continue }
            for field in fields.dropFirst() where field.lowercased().hasPrefix(name.lowercased() + ".") {
                return String(field.dropFirst(name.count + 1))
            }
        }
        return nil
    }

    /// The whitespace-separated fields before any comment.
    static func fields(_ line: String) -> [String] {
        let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return content.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
    }

    /// `line` with each name field (not the address, not the comment) found in `replacements`
    /// (compared case-insensitively) replaced, spacing kept.
    static func replacingTokens(in line: String, _ replacements: [String: String]) -> String {
        guard !replacements.isEmpty else { return line }
        var result = ""
        var token = ""
        var fieldIndex = 0
        var inComment = false
        func flush() {
            if !token.isEmpty {
                result += fieldIndex > 0 ? (replacements[token.lowercased()] ?? token) : token
                fieldIndex += 1
                token = ""
            }
        }
        for character in line {
            if inComment { result.append(character); continue }
            if character == "#" { flush(); inComment = true; result.append(character); continue }
            if character == " " || character == "\t" { flush(); result.append(character) } else { token.append(character) }
        }
        flush()
        return result
    }
}

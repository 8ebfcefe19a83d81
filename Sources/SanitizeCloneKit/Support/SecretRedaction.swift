/// Hides secret values in the unified diffs a plan shows, so no output — text, JSON, journal —
/// ever carries a pre-shared key, password or private key.
///
/// In a file others may not read (a 0600 or 0640 keyfile) every value of every line is hidden;
/// in any other file (netplan's are often 0644), the values of lines whose key names a secret
/// (`psk=`, `password:`, `PrivateKey=`, `wep-key0=`, `wpa-psk …`), whatever the separator. Keys,
/// sections and the `-`/`+`/context markers stay, so the plan still says which lines change.
enum SecretRedaction {
    /// What stands for a hidden value.
    static let marker = "<secret>"

    /// `diff` (as `LineDiff.unified` writes it) with secret values replaced by `<secret>`; with
    /// `hidingEveryValue`, every value of every line.
    static func redacting(_ diff: String, hidingEveryValue: Bool) -> String {
        var lines = diff.split(separator: "\n", omittingEmptySubsequences: false)
        for index in lines.indices {
            let line = lines[index]
            // The two file headers come first; hunk headers start with "@@"; every body line
            // starts with its marker: " ", "-" or "+".
            guard index >= 2, let marker = line.first, marker == " " || marker == "-" || marker == "+" else { continue }
            let content = line.dropFirst()
            let hidden = hidingEveryValue ? withEveryValueHidden(content) : withSecretValuesHidden(content)
            lines[index] = Substring(String(marker) + hidden)
        }
        return lines.joined(separator: "\n")
    }

    /// True when `key` names a secret: compared case-insensitively, `_` as `-`, quotes ignored.
    static func namesSecret(_ key: Substring) -> Bool {
        let name = key.unquoted().lowercased().replacing("_", with: "-")
        let fragments = ["password", "passwd", "passphrase", "secret", "psk", "privatekey", "private-key", "presharedkey", "preshared-key"]
        if fragments.contains(where: name.contains) || name.hasPrefix("wep-key") { return true }
        // netplan's WireGuard `keys: {private:, shared:}`, a SIM's PIN, ifcfg's WEP `KEY1`…`KEY4`.
        if ["private", "shared", "pin", "puk"].contains(name) { return true }
        return name.count == 4 && name.hasPrefix("key") && name.last!.isNumber
    }

    /// The line with the value of every key — or the whole line when it has no key — hidden.
    /// Blank lines, INI section headers and keys without a value stay as they are.
    static func withEveryValueHidden(_ line: Substring) -> String {
        let body = line.drop(while: { $0 == " " || $0 == "\t" })
        guard let first = body.first, first != "[" else { return String(line) }
        let indent = line[..<body.startIndex]
        if first == "#" || first == ";" { return "\(indent)\(first) \(marker)" }
        let item = body.hasPrefix("- ") ? body.dropFirst(2) : body
        let key = item.prefix(while: { !"=: \t".contains($0) })
        guard !key.isEmpty, let value = valueStart(after: key, in: line, blankSeparates: true) else {
            return "\(line[..<item.startIndex])\(marker)"
        }
        return value == line.endIndex ? String(line) : "\(line[..<value])\(marker)"
    }

    /// The line with the value after the first key naming a secret hidden (to the end of the
    /// line, so a flow mapping's later entries go too).
    static func withSecretValuesHidden(_ line: Substring) -> String {
        let isKeyCharacter: (Character) -> Bool = { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }
        var index = line.startIndex
        var isFirstWord = true
        while index < line.endIndex {
            guard isKeyCharacter(line[index]) else { index = line.index(after: index); continue }
            let end = line[index...].firstIndex(where: { !isKeyCharacter($0) }) ?? line.endIndex
            let key = line[index..<end]
            if namesSecret(key), let value = valueStart(after: key, in: line, blankSeparates: isFirstWord), value < line.endIndex {
                return "\(line[..<value])\(marker)"
            }
            isFirstWord = false
            index = end
        }
        return String(line)
    }

    /// Where the value after `key` (a slice of `line`) starts: past an optional closing quote,
    /// blanks, a `=` or `:` and blanks — or, with `blankSeparates`, past blanks alone (ifupdown's
    /// `wpa-psk KEY`). nil when no separator follows; `line.endIndex` for an empty value.
    private static func valueStart(after key: Substring, in line: Substring, blankSeparates: Bool) -> Substring.Index? {
        func skipBlanks(_ index: Substring.Index) -> Substring.Index {
            line[index...].firstIndex(where: { $0 != " " && $0 != "\t" }) ?? line.endIndex
        }
        var index = key.endIndex
        if index < line.endIndex, line[index] == "\"" || line[index] == "'" { index = line.index(after: index) }
        let afterBlanks = skipBlanks(index)
        if afterBlanks < line.endIndex, line[afterBlanks] == "=" || line[afterBlanks] == ":" {
            return skipBlanks(line.index(after: afterBlanks))
        }
        return blankSeparates && afterBlanks > index ? afterBlanks : nil
    }
}

extension Change {
    /// This change as a plan may show it: its diff's secret values hidden (`SecretRedaction`),
    /// every value when the file is not readable by others or the change is a secret.
    func redactingSecrets(in root: RootDirectory) throws -> Change {
        guard let diff, !diff.isEmpty else { return self }
        let othersMayRead = try root.followedStatus(of: path).map { $0.mode & 0o004 != 0 } ?? true
        var redacted = self
        redacted.diff = SecretRedaction.redacting(diff, hidingEveryValue: isSecret || !othersMayRead)
        return redacted
    }
}

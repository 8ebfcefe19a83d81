/// One interface's static addresses in one configuration file.
struct StaticInterface: Sendable {
    /// The name the configuration gives it.
    let name: String
    /// MACs the configuration matches it by.
    let matchedMACs: [MACAddress]
    /// Its static addresses, "address/prefix".
    let addresses: [String]

    func addresses(of family: IPFamily) -> [String] { addresses.filter { IPFamily.of($0) == family } }
}

/// What an interface gets for one address family.
enum FamilyTarget: Sendable, Equatable {
    /// Leave the template's addresses.
    case keep
    /// Drop them and use DHCP (or SLAAC/DHCPv6 for IPv6).
    case dhcp
    /// These addresses instead, with a gateway and DNS servers when given.
    case replace(addresses: [String], gateway: String?, dns: [String]?)
}

/// What an interface gets, per family.
struct InterfaceTarget: Sendable {
    var v4: FamilyTarget = .keep
    var v6: FamilyTarget = .keep
    subscript(family: IPFamily) -> FamilyTarget { family == .v4 ? v4 : v6 }
}

/// A configuration file that gives interfaces static addresses, in one renderer's syntax.
protocol StaticAddressFile {
    var interfaces: [StaticInterface] { get }
    /// The file's text with each interface given its target (by index in `interfaces`).
    func rewritten(_ targets: [Int: InterfaceTarget]) throws -> String
}

/// Whole-line edits to a file: lines replaced (or removed) and lines added after others.
struct LineEdits {
    let lines: ConfigLines
    private var replaced: [Int: [String]] = [:]
    private var appended: [Int: [String]] = [:]

    init(_ text: String) { lines = ConfigLines(text) }

    mutating func replace(_ index: Int, with newLines: [String]) { replaced[index] = newLines }
    mutating func remove(_ index: Int) { replaced[index] = [] }
    mutating func append(_ newLines: [String], after index: Int) { appended[index, default: []] += newLines }

    /// The leading blanks of line `index`.
    func indentation(of index: Int) -> String { String(lines.lines[index].text.prefix { $0 == " " || $0 == "\t" }) }

    func apply(to text: String) -> String {
        var edits: [TextEdit] = []
        for index in Set(replaced.keys).union(appended.keys) {
            let line = lines.lines[index]
            let range = line.rangeWithNewline(in: lines)
            let hasNewline = range.upperBound > line.offset + line.text.utf8.count
            let newLines = (replaced[index] ?? [String(line.text)]) + (appended[index] ?? [])
            var replacement = newLines.map { $0 + "\n" }.joined()
            if !hasNewline && !replacement.isEmpty { replacement.removeLast() }
            edits.append(TextEdit(range: range, replacement: replacement))
        }
        return TextEdit.apply(edits, to: text)
    }
}

extension String {
    /// The string with the last occurrence of `target` replaced.
    func replacingLastOccurrence(of target: String, with replacement: String) -> String {
        guard let range = ranges(of: target).last else { return self }
        var result = self
        result.replaceSubrange(range, with: replacement)
        return result
    }
}

/// Edits to a YAML text, made at node positions so everything else stays byte-identical.
///
/// Each edit replaces, inserts or deletes bytes at the place a `YAMLDocument` parse found, so the
/// comments, blank lines, indentation and quoting the admin wrote survive. Nothing is changed
/// until `apply()`, which also checks that the result still parses. Nodes must come from
/// `document`; entries removed from and added to one mapping combine (remove every key and add
/// one, remove the last key and add another in its place).
///
/// ```swift
/// var edits = YAMLEdits(document: document)
/// edits.replaceScalar(document.node(at: ["network", "ethernets", "eth0", "match", "macaddress"])!, with: newMAC)
/// let text = try edits.apply()
/// ```
public struct YAMLEdits: Sendable {
    /// The document the edits apply to.
    public let document: YAMLDocument
    private var replacements: [Replacement] = []
    /// Entry removals and additions by mapping (keyed by the mapping's start), turned into
    /// replacements by `apply()` once it knows everything that happens to each mapping.
    private var mappingChanges: [Int: MappingChange] = [:]
    /// Requests that made no sense (a mapping given to `replaceScalar`, a key added twice):
    /// `apply()` throws the first, so a misuse cannot silently produce a half-edited file.
    private var misuses: [String] = []

    /// Bytes `range` of the original text become `text`.
    private struct Replacement: Sendable {
        let range: Range<Int>
        let text: String
        /// Among insertions at one offset, lower goes first: lines added to a nested mapping come
        /// before lines added to the mapping holding it.
        var priority = 0
        /// Call order, the last tie-breaker.
        var order = 0
    }

    /// What happens to one mapping's entries.
    private struct MappingChange: Sendable {
        let mapping: YAMLNode
        var removedKeys: Set<String> = []
        /// Added entries written for the mapping's style: indented lines for a block mapping, `key: value` for a flow one.
        var additions: [(key: String, text: String)] = []
    }

    /// No edits yet to `document`.
    public init(document: YAMLDocument) {
        self.document = document
    }

    /// Whether no edit has been asked for.
    public var isEmpty: Bool { replacements.isEmpty && mappingChanges.isEmpty && misuses.isEmpty }

    // MARK: Scalars

    /// Replaces a scalar node's value, keeping its quoting style: plain stays plain when the new
    /// value needs no quotes (otherwise it becomes double-quoted), quoted stays quoted.
    ///
    /// A plain value that reads as a boolean, number or null (`no`, `1500`, `~`, or nothing) stays
    /// unquoted when the new value does too: `dhcp4: no` becomes `dhcp4: true`, not `dhcp4: "true"`.
    /// A null value written as nothing gets the value after its colon.
    /// `apply()` throws if `node` is not a scalar.
    public mutating func replaceScalar(_ node: YAMLNode, with value: String) {
        guard node.kind == .scalar else {
            return reject("replaceScalar", node, "is a \(node.kind), not a scalar; use replaceSequence or the entry edits")
        }
        let old = String(decoding: document.bytes[node.range], as: UTF8.self)
        let keepsType = node.style == .plain && (node.isNull || YAMLScalarWriter.readsAsNonString(old))
            && YAMLScalarWriter.readsAsNonString(value) && YAMLScalarWriter.canBePlain(value, insideFlow: node.isInsideFlowCollection, allowingNonStrings: true)
        let written = keepsType ? value : YAMLScalarWriter.written(value, keeping: node.style, insideFlow: node.isInsideFlowCollection)
        replaceScalarText(node, with: written)
    }

    /// Replaces a scalar node's value with a plain `true` or `false` (netplan's `dhcp4`, `optional`...).
    ///
    /// `apply()` throws if `node` is not a scalar.
    public mutating func replaceScalar(_ node: YAMLNode, with value: Bool) {
        guard node.kind == .scalar else {
            return reject("replaceScalar", node, "is a \(node.kind), not a scalar")
        }
        replaceScalarText(node, with: value ? "true" : "false")
    }

    private mutating func replaceScalarText(_ node: YAMLNode, with text: String) {
        guard node.range.isEmpty else { return replace(node.range, with: text) }
        // Nothing was written: the value goes after the ':' or '-', and a key written alone in
        // `{a, b}` gets the ':' it lacks.
        replace(node.range, with: (node.introducerEnd == nil ? ": " : " ") + text)
    }

    // MARK: Sequences

    /// Replaces a sequence node's items with these scalars, keeping the sequence's style: a flow
    /// sequence stays `[a, b]` (quoted like its first item), a block sequence keeps its `- ` items at
    /// the same indentation, one per line. An empty list in block style becomes `[]` after the key.
    ///
    /// Comments between and after the old items (up to the end of the last item's line) go with
    /// them. `apply()` throws if `node` is not a sequence.
    public mutating func replaceSequence(_ node: YAMLNode, with values: [String]) {
        guard node.kind == .sequence else {
            return reject("replaceSequence", node, "is a \(node.kind), not a sequence")
        }
        let itemStyle = node.items.first.map { $0.kind == .scalar ? $0.style : .plain } ?? .plain
        if node.style == .flow {
            let items = values.map { YAMLScalarWriter.written($0, keeping: itemStyle, insideFlow: true) }
            return replace(node.range, with: "[" + items.joined(separator: ", ") + "]")
        }
        guard !values.isEmpty else {
            for replacement in emptiedBlockCollection(node, "[]") { replacements.append(numbered(replacement)) }
            return
        }
        let indent = String(repeating: " ", count: node.column - 1)
        let items = values.map { "- " + YAMLScalarWriter.written($0, keeping: itemStyle, insideFlow: false) }
        replace(node.range.lowerBound..<lineContentEnd(from: node.range.upperBound), with: items.joined(separator: "\n" + indent))
    }

    // MARK: Mapping entries

    /// Removes a mapping entry: key, value, and the trailing comment on its last line. In a block
    /// mapping the whole lines it spans go, comment lines inside its nested block included; comment
    /// lines before the key or after the value stay. A block mapping that loses every entry (and
    /// gains none) becomes `{}`.
    ///
    /// Does nothing when the mapping has no such key; `apply()` throws if `mapping` is not a mapping.
    public mutating func removeEntry(key: String, from mapping: YAMLNode) {
        guard mapping.kind == .mapping else {
            return reject("removeEntry(key: \"\(key)\")", mapping, "is a \(mapping.kind), not a mapping")
        }
        guard mapping.value(forKey: key) != nil else { return }
        mappingChanges[mapping.range.lowerBound, default: MappingChange(mapping: mapping)].removedKeys.insert(key)
    }

    /// Adds `key: value` (a scalar) to a block or flow mapping, after its last entry, with the
    /// mapping's indentation. The value is quoted when it must be to read back as this string
    /// (`"true"`, `"1500"`, `"a: b"`, `""`); use `addEntry(key:boolean:to:)` for a boolean.
    ///
    /// `apply()` throws if `mapping` is not a mapping or already has `key`.
    public mutating func addEntry(key: String, scalar value: String, to mapping: YAMLNode) {
        let insideFlow = mapping.style == .flow
        addEntry(key: key, writtenValue: YAMLScalarWriter.written(value, keeping: .plain, insideFlow: insideFlow), to: mapping)
    }

    /// Adds `key: true` or `key: false` to a block or flow mapping, after its last entry.
    ///
    /// `apply()` throws if `mapping` is not a mapping or already has `key`.
    public mutating func addEntry(key: String, boolean value: Bool, to mapping: YAMLNode) {
        addEntry(key: key, writtenValue: value ? "true" : "false", to: mapping)
    }

    /// Adds `key:` with a block sequence of scalars (`[…]` in a flow mapping, and `[]` when
    /// `values` is empty), after the mapping's last entry. Block items are indented under the key
    /// as the document's other sequences are (2 spaces when it has none).
    ///
    /// `apply()` throws if `mapping` is not a mapping or already has `key`.
    public mutating func addEntry(key: String, sequence values: [String], to mapping: YAMLNode) {
        if mapping.style == .flow || values.isEmpty {
            let items = values.map { YAMLScalarWriter.written($0, keeping: .plain, insideFlow: true) }
            return addEntry(key: key, writtenValue: "[" + items.joined(separator: ", ") + "]", to: mapping)
        }
        guard checkCanAdd(key: key, to: mapping) else { return }
        let indent = String(repeating: " ", count: mapping.column - 1)
        let itemIndent = indent + String(repeating: " ", count: sequenceIndentStep(near: mapping))
        let items = values.map { "\n" + itemIndent + "- " + YAMLScalarWriter.written($0, keeping: .plain, insideFlow: false) }
        let text = indent + YAMLScalarWriter.written(key, keeping: .plain, insideFlow: false) + ":" + items.joined()
        mappingChanges[mapping.range.lowerBound, default: MappingChange(mapping: mapping)].additions.append((key, text))
    }

    private mutating func addEntry(key: String, writtenValue: String, to mapping: YAMLNode) {
        guard checkCanAdd(key: key, to: mapping) else { return }
        let isFlow = mapping.style == .flow
        var text = YAMLScalarWriter.written(key, keeping: .plain, insideFlow: isFlow) + ": " + writtenValue
        if !isFlow { text = String(repeating: " ", count: mapping.column - 1) + text }
        mappingChanges[mapping.range.lowerBound, default: MappingChange(mapping: mapping)].additions.append((key, text))
    }

    private mutating func checkCanAdd(key: String, to mapping: YAMLNode) -> Bool {
        guard mapping.kind == .mapping else {
            reject("addEntry(key: \"\(key)\")", mapping, "is a \(mapping.kind), not a mapping")
            return false
        }
        let change = mappingChanges[mapping.range.lowerBound]
        let present = mapping.value(forKey: key) != nil && change?.removedKeys.contains(key) != true
        let added = change?.additions.contains { $0.key == key } == true
        guard !present, !added else {
            reject("addEntry(key: \"\(key)\")", mapping, "already has that key; replace its value instead")
            return false
        }
        return true
    }

    /// How far this document indents the `- ` items of a block sequence past their key: as the
    /// first such sequence in `mapping`, else in the whole document, else 2.
    private func sequenceIndentStep(near mapping: YAMLNode) -> Int {
        func step(in node: YAMLNode) -> Int? {
            for (key, value) in node.entries where value.kind == .sequence && value.style == .block {
                return max(value.column - key.column, 0)
            }
            for child in node.entries.map(\.value) + node.items {
                if let found = step(in: child) { return found }
            }
            return nil
        }
        return step(in: mapping) ?? document.root.flatMap(step) ?? 2
    }

    // MARK: Applying

    /// The edited text.
    ///
    /// - Throws: `YAMLEditError` when an edit was asked of the wrong kind of node, when two edits
    ///   touch the same bytes (edit each node once), or when the result would not parse again.
    public func apply() throws(YAMLEditError) -> String {
        if let misuse = misuses.first {
            throw YAMLEditError(message: misuse)
        }
        var all = replacements
        for start in mappingChanges.keys.sorted() {
            for replacement in resolved(mappingChanges[start]!) {
                all.append(Replacement(range: replacement.range, text: replacement.text, priority: replacement.priority, order: all.count))
            }
        }
        all.sort {
            ($0.range.lowerBound, $0.range.isEmpty ? 0 : 1, $0.priority, $0.order)
                < ($1.range.lowerBound, $1.range.isEmpty ? 0 : 1, $1.priority, $1.order)
        }
        let bytes = document.bytes
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var cursor = 0
        for replacement in all {
            guard replacement.range.lowerBound >= cursor else {
                let location = YAMLLineTable(bytes).location(of: replacement.range.lowerBound)
                throw YAMLEditError(message: "two edits overlap at line \(location.line), column \(location.column); edit each node once (and not both a node and the entry holding it)")
            }
            output.append(contentsOf: bytes[cursor..<replacement.range.lowerBound])
            output.append(contentsOf: replacement.text.utf8)
            cursor = replacement.range.upperBound
        }
        output.append(contentsOf: bytes[cursor...])
        let text = String(decoding: output, as: UTF8.self)
        do {
            _ = try YAMLDocument(parsing: text)
        } catch {
            throw YAMLEditError(message: "the edited text would not parse (\(error)); this is a bug in the edits, so the file is left as it was")
        }
        return text
    }

    /// The replacements that remove and add one mapping's entries.
    private func resolved(_ change: MappingChange) -> [Replacement] {
        let mapping = change.mapping
        let entries = mapping.entries
        let removed = entries.indices.filter { change.removedKeys.contains(entries[$0].key.scalar ?? "") }
        let survivors = entries.indices.filter { !removed.contains($0) }
        let additions = change.additions.map(\.text)
        var result: [Replacement] = []

        if mapping.style == .flow {
            // Each run of removed entries goes with the separator after it, or before it at the end.
            var runStart = 0
            while runStart < entries.count {
                guard removed.contains(runStart) else {
                    runStart += 1
                    continue
                }
                var runEnd = runStart
                while removed.contains(runEnd + 1) { runEnd += 1 }
                let from = entries[runStart].key.range.lowerBound
                if runEnd + 1 < entries.count {
                    result.append(Replacement(range: from..<entries[runEnd + 1].key.range.lowerBound, text: ""))
                } else if runStart > 0 {
                    result.append(Replacement(range: Self.end(of: entries[runStart - 1])..<Self.end(of: entries[runEnd]), text: ""))
                } else {
                    result.append(Replacement(range: from..<Self.end(of: entries[runEnd]), text: ""))
                }
                runStart = runEnd + 1
            }
            if !additions.isEmpty {
                let joined = additions.joined(separator: ", ")
                if let last = entries.last {
                    let end = Self.end(of: last)
                    result.append(Replacement(range: end..<end, text: survivors.isEmpty ? joined : ", " + joined))
                } else {
                    let inside = mapping.range.lowerBound + 1
                    result.append(Replacement(range: inside..<inside, text: joined))
                }
            }
            return result
        }

        if survivors.isEmpty, additions.isEmpty {
            return emptiedBlockCollection(mapping, "{}")
        }
        var handled = Set<Int>()
        if removed.first == 0, !isFirstOnItsLine(entries[0].key.range.lowerBound) {
            // The first key sits on a `- ` line: the next surviving key moves up into its place,
            // or, when none survives, the added lines follow an empty `-`.
            if let survivor = survivors.first {
                result.append(Replacement(range: entries[0].key.range.lowerBound..<entries[survivor].key.range.lowerBound, text: ""))
                handled = Set(0..<survivor)
            } else {
                let from = mapping.introducerEnd ?? entries[0].key.range.lowerBound
                result.append(Replacement(range: from..<lineContentEnd(from: Self.end(of: entries[entries.count - 1])), text: ""))
                handled = Set(entries.indices)
            }
        }
        for index in removed where !handled.contains(index) {
            let entry = entries[index]
            result.append(Replacement(range: lineStart(containing: entry.key.range.lowerBound)..<nextLineStart(from: Self.end(of: entry)), text: ""))
        }
        if !additions.isEmpty {
            let lines = additions.joined(separator: "\n")
            let insertion = nextLineStart(from: Self.end(of: entries[entries.count - 1]))
            let atEndWithoutNewline = insertion == document.bytes.count && document.bytes.last != YAMLByte.newline
            result.append(Replacement(range: insertion..<insertion, text: atEndWithoutNewline ? "\n" + lines : lines + "\n",
                                      priority: -mapping.column))
        }
        return result
    }

    // MARK: Helpers

    private mutating func replace(_ range: Range<Int>, with text: String) {
        replacements.append(numbered(Replacement(range: range, text: text)))
    }

    private func numbered(_ replacement: Replacement) -> Replacement {
        var numbered = replacement
        numbered.order = replacements.count
        return numbered
    }

    private mutating func reject(_ operation: String, _ node: YAMLNode, _ problem: String) {
        misuses.append("\(operation): the node at line \(node.line), column \(node.column) \(problem)")
    }

    /// A block collection that loses all its entries or items becomes `[]` or `{}`: after its key
    /// (or `-`) when it started on a line below it, in its own place otherwise.
    private func emptiedBlockCollection(_ node: YAMLNode, _ empty: String) -> [Replacement] {
        let end = lineContentEnd(from: node.range.upperBound)
        if let introducerEnd = node.introducerEnd,
           lineStart(containing: introducerEnd) != lineStart(containing: node.range.lowerBound) {
            return [Replacement(range: introducerEnd..<introducerEnd, text: " " + empty),
                    Replacement(range: lineContentEnd(from: introducerEnd)..<end, text: "")]
        }
        return [Replacement(range: node.range.lowerBound..<end, text: empty)]
    }

    /// Where an entry's text ends: after its value, or after its key when the value is empty.
    private static func end(of entry: (key: YAMLNode, value: YAMLNode)) -> Int {
        max(entry.key.range.upperBound, entry.value.range.upperBound)
    }

    private func lineStart(containing offset: Int) -> Int {
        var start = offset
        while start > 0, document.bytes[start - 1] != YAMLByte.newline { start -= 1 }
        return start
    }

    /// The offset of the line break ending the line that holds `offset` (or the text's end).
    private func lineContentEnd(from offset: Int) -> Int {
        var end = offset
        while end < document.bytes.count, !YAMLByte.isBreak(document.bytes[end]) { end += 1 }
        return end
    }

    /// The offset where the line after the one holding `offset` starts (or the text's end).
    private func nextLineStart(from offset: Int) -> Int {
        var end = lineContentEnd(from: offset)
        if end < document.bytes.count, document.bytes[end] == YAMLByte.carriageReturn { end += 1 }
        if end < document.bytes.count, document.bytes[end] == YAMLByte.newline { end += 1 }
        return end
    }

    private func isFirstOnItsLine(_ offset: Int) -> Bool {
        document.bytes[lineStart(containing: offset)..<offset].allSatisfy { $0 == YAMLByte.space }
    }
}

/// Edits that could not be applied: an edit asked of the wrong kind of node, two edits on the same
/// bytes, or a result that would not parse.
public struct YAMLEditError: Error, CustomStringConvertible, Sendable, Hashable {
    /// What went wrong and what to do about it.
    public let message: String

    /// An error with this message.
    public init(message: String) {
        self.message = message
    }

    /// The message.
    public var description: String { message }
}

/// Writes scalars the way YAML reads them back as the same string.
enum YAMLScalarWriter {
    /// `value` written in `style` (plain, single- or double-quoted); plain falls back to double
    /// quotes when the value would not read back as the same string, and single quotes fall back
    /// when the value holds a character they cannot.
    static func written(_ value: String, keeping style: YAMLNode.Style, insideFlow: Bool) -> String {
        switch style {
        case .singleQuoted: singleQuoted(value) ?? doubleQuoted(value)
        case .doubleQuoted: doubleQuoted(value)
        case .plain, .block, .flow: canBePlain(value, insideFlow: insideFlow) ? value : doubleQuoted(value)
        }
    }

    /// Whether `value` written without quotes reads back as the same string (or, `allowingNonStrings`,
    /// as the boolean, number or null it spells).
    static func canBePlain(_ value: String, insideFlow: Bool, allowingNonStrings: Bool = false) -> Bool {
        let bytes = Array(value.utf8)
        guard let first = bytes.first, let last = bytes.last else { return false }
        if YAMLByte.isSpaceOrTab(first) || YAMLByte.isSpaceOrTab(last) || last == YAMLByte.colon { return false }
        if Array("-?:,[]{}#&*!|>'\"%@`".utf8).contains(first) { return false }
        if value.unicodeScalars.contains(where: needsEscape) { return false }
        for (byte, next) in zip(bytes, bytes.dropFirst()) {
            if byte == YAMLByte.colon, YAMLByte.isSpaceOrTab(next) { return false }
            if YAMLByte.isSpaceOrTab(byte), next == YAMLByte.hash { return false }
        }
        if insideFlow, bytes.contains(where: YAMLByte.isFlowIndicator) { return false }
        return allowingNonStrings || !readsAsNonString(value)
    }

    /// YAML 1.1 booleans, nulls and numbers: netplan's libyaml readers take `yes`, `off` or `0x1f`
    /// unquoted as something other than a string.
    static func readsAsNonString(_ value: String) -> Bool {
        let words: Set<String> = [
            "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE",
            "on", "On", "ON", "off", "Off", "OFF", "null", "Null", "NULL", "~",
        ]
        return words.contains(value) || isNumber(value)
    }

    static func isNumber(_ value: String) -> Bool {
        var bytes = Array(value.utf8)[...]
        if let sign = bytes.first, sign == UInt8(ascii: "+") || sign == YAMLByte.dash { bytes = bytes.dropFirst() }
        let rest = String(decoding: bytes, as: UTF8.self)
        if [".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN"].contains(rest) { return true }
        func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
        let underscore = UInt8(ascii: "_")
        for (prefix, digits) in [("0x", "0123456789abcdefABCDEF_"), ("0o", "01234567_"), ("0b", "01_")] where rest.hasPrefix(prefix) {
            let body = bytes.dropFirst(2)
            return !body.isEmpty && body.allSatisfy { Array(digits.utf8).contains($0) }
        }
        var index = bytes.startIndex
        var sawDigit = false
        while index < bytes.endIndex, isDigit(bytes[index]) || bytes[index] == underscore {
            sawDigit = sawDigit || isDigit(bytes[index])
            index += 1
        }
        if index < bytes.endIndex, bytes[index] == YAMLByte.dot {
            index += 1
            while index < bytes.endIndex, isDigit(bytes[index]) || bytes[index] == underscore {
                sawDigit = sawDigit || isDigit(bytes[index])
                index += 1
            }
        }
        guard sawDigit else { return false }
        if index < bytes.endIndex, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.endIndex, bytes[index] == UInt8(ascii: "+") || bytes[index] == YAMLByte.dash { index += 1 }
            let exponentStart = index
            while index < bytes.endIndex, isDigit(bytes[index]) { index += 1 }
            if index == exponentStart { return false }
        }
        return index == bytes.endIndex
    }

    /// `value` in double quotes, with `"`, `\` and control characters escaped.
    static func doubleQuoted(_ value: String) -> String {
        var written = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": written += "\\\""
            case "\\": written += "\\\\"
            case "\n": written += "\\n"
            case "\t": written += "\\t"
            case "\r": written += "\\r"
            case "\u{2028}": written += "\\L"
            case "\u{2029}": written += "\\P"
            case _ where needsEscape(scalar):
                let hex = String(scalar.value, radix: 16, uppercase: true)
                written += scalar.value <= 0xFF ? "\\x" + String(repeating: "0", count: 2 - hex.count) + hex
                    : "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: written.unicodeScalars.append(scalar)
            }
        }
        return written + "\""
    }

    /// `value` in single quotes (a `'` doubled), or nil when it holds a character that single
    /// quotes cannot hold (line breaks and other control characters).
    static func singleQuoted(_ value: String) -> String? {
        guard !value.unicodeScalars.contains(where: needsEscape) else { return nil }
        var written = "'"
        for character in value {
            written += character == "'" ? "''" : String(character)
        }
        return written + "'"
    }

    /// Control characters, line separators and the byte-order mark: only an escape writes them safely.
    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0..<0x20, 0x7F...0x9F, 0x2028, 0x2029, 0xFEFF: true
        default: false
        }
    }
}

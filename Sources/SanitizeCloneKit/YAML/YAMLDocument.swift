/// A parsed YAML document whose nodes remember where they are in the text.
///
/// This reads the YAML that netplan files use (block and flow collections, plain and quoted
/// scalars, comments) and nothing more, so that `YAMLEdits` can change values in place and leave
/// every comment and every other byte of the file as it was. Anything netplan never writes
/// (anchors, aliases, tags, block scalars, several documents, collections nested more than 64
/// deep, a carriage return without a line feed) is refused with a `YAMLSyntaxError` rather than
/// guessed at.
public struct YAMLDocument: Sendable {
    /// The text the document was parsed from.
    public let text: String
    /// The document's top-level node, or nil when the document is empty (only comments, blank lines, markers).
    public let root: YAMLNode?
    /// `text` as UTF-8 bytes: every node's `range` indexes into these.
    let bytes: [UInt8]

    /// Parses `text` as one YAML document.
    ///
    /// - Throws: `YAMLSyntaxError` with the line and column of the first problem, for malformed
    ///   YAML and for the YAML features this reader refuses (see the type's summary).
    public init(parsing text: String) throws(YAMLSyntaxError) {
        let bytes = Array(text.utf8)
        var parser = YAMLParser(bytes: bytes)
        self.root = try parser.parseDocument()
        self.text = text
        self.bytes = bytes
    }

    /// The node at a path of mapping keys and sequence indexes, e.g.
    /// `["network", "ethernets", "eth0", "match", "macaddress"]`, or nil when the path leads nowhere.
    ///
    /// An empty path is the root.
    public func node(at path: [YAMLPathComponent]) -> YAMLNode? {
        var node = root
        for component in path {
            guard let current = node else { return nil }
            switch component {
            case .key(let key):
                node = current.value(forKey: key)
            case .index(let index):
                node = current.kind == .sequence && current.items.indices.contains(index) ? current.items[index] : nil
            }
        }
        return node
    }
}

/// One step of a path into a YAML document: a mapping key or a sequence index.
///
/// String literals are keys and integer literals are indexes, so a path reads
/// `["network", "ethernets", "eth0", "routes", 0, "via"]`.
public enum YAMLPathComponent: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    /// A key of a mapping.
    case key(String)
    /// A 0-based index into a sequence.
    case index(Int)

    /// A key, from a string literal.
    public init(stringLiteral value: String) { self = .key(value) }
    /// An index, from an integer literal.
    public init(integerLiteral value: Int) { self = .index(value) }
}

/// A node of a `YAMLDocument`: a scalar, a mapping or a sequence, with its place in the text.
public struct YAMLNode: Sendable {
    /// What a node holds.
    public enum Kind: Sendable, Hashable {
        /// A single value (a string, or null).
        case scalar
        /// Keys and values.
        case mapping
        /// A list of items.
        case sequence
    }

    /// How a node is written.
    public enum Style: Sendable, Hashable {
        /// A scalar without quotes (also a null value, written or empty).
        case plain
        /// A scalar in `'single quotes'`.
        case singleQuoted
        /// A scalar in `"double quotes"`.
        case doubleQuoted
        /// A collection written with indentation (`key: value` lines, `- item` lines).
        case block
        /// A collection written in brackets: `[a, b]` or `{a: 1}`.
        case flow
    }

    /// Whether this is a scalar, a mapping or a sequence.
    public var kind: Kind
    /// How the node is written.
    public var style: Style
    /// The scalar's value with quotes and escapes resolved: nil for collections and for null values
    /// (nothing after the colon, or a plain `~`, `null`, `Null`, `NULL`). Keys are never nil.
    public var scalar: String?
    /// Entries of a mapping, in order. A key is always a scalar; a null value is a scalar node with
    /// `scalar == nil` and an empty range right after the colon.
    public var entries: [(key: YAMLNode, value: YAMLNode)]
    /// Items of a sequence, in order.
    public var items: [YAMLNode]
    /// UTF-8 byte offsets of the node's text in the document: for a scalar the token including its
    /// quotes; for a collection from its first to its last character (no trailing comment or newline).
    public var range: Range<Int>
    /// 1-based line of the node's start.
    public var line: Int
    /// 1-based column (in UTF-8 bytes) of the node's start.
    public var column: Int

    /// Where the `:` or `-` that introduced this node as a value or an item ends; nil for the root,
    /// for keys, for sequence items inside `[ ]`, and for values of keys written without a colon in `{ }`.
    /// Editing needs it to turn an emptied block collection into `key: []`.
    var introducerEnd: Int?
    /// Whether the node sits inside `[ ]` or `{ }`, where `,[]{}` cannot appear in a plain scalar.
    var isInsideFlowCollection: Bool

    init(kind: Kind, style: Style, scalar: String? = nil, entries: [(key: YAMLNode, value: YAMLNode)] = [],
         items: [YAMLNode] = [], range: Range<Int>, line: Int, column: Int,
         introducerEnd: Int?, isInsideFlowCollection: Bool) {
        self.kind = kind
        self.style = style
        self.scalar = scalar
        self.entries = entries
        self.items = items
        self.range = range
        self.line = line
        self.column = column
        self.introducerEnd = introducerEnd
        self.isInsideFlowCollection = isInsideFlowCollection
    }

    /// Whether this is a null value: nothing written after the colon, or a plain `~` or `null`.
    public var isNull: Bool { kind == .scalar && scalar == nil }

    /// The mapping's keys, in order (empty for scalars and sequences).
    public var keys: [String] { entries.compactMap(\.key.scalar) }

    /// The value of `key` in this mapping, or nil when this is not a mapping or has no such key.
    public func value(forKey key: String) -> YAMLNode? {
        guard kind == .mapping else { return nil }
        return entries.first { $0.key.scalar == key }?.value
    }
}

/// YAML that could not be read: what is wrong and where.
///
/// The description reads `line 7, column 5: unterminated flow sequence (missing ']')`; callers add
/// the file's path in front and what to do after.
public struct YAMLSyntaxError: Error, CustomStringConvertible, Sendable, Hashable {
    /// 1-based line of the problem.
    public let line: Int
    /// 1-based column (in UTF-8 bytes) of the problem.
    public let column: Int
    /// What is wrong, e.g. "duplicate key 'eth0' (first used on line 4)".
    public let message: String

    /// An error at a line and column.
    public init(line: Int, column: Int, message: String) {
        self.line = line
        self.column = column
        self.message = message
    }

    /// `line L, column C: message`.
    public var description: String { "line \(line), column \(column): \(message)" }
}

/// Where each line of a text starts, to turn byte offsets into lines and columns.
struct YAMLLineTable: Sendable {
    /// Byte offset of the start of each line; the first line starts after a byte-order mark.
    let starts: [Int]

    init(_ bytes: [UInt8]) {
        var starts = [bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0]
        for (offset, byte) in bytes.enumerated() where byte == YAMLByte.newline {
            starts.append(offset + 1)
        }
        self.starts = starts
    }

    /// 0-based index of the line holding `offset`.
    func lineIndex(of offset: Int) -> Int {
        var low = 0
        var high = starts.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if starts[middle] <= offset { low = middle } else { high = middle - 1 }
        }
        return low
    }

    /// Byte offset where the line holding `offset` starts.
    func lineStart(of offset: Int) -> Int { starts[lineIndex(of: offset)] }

    /// 1-based line and column of `offset`.
    func location(of offset: Int) -> (line: Int, column: Int) {
        let index = lineIndex(of: offset)
        return (index + 1, max(offset - starts[index], 0) + 1)
    }
}

/// The bytes the reader and the editor look for.
enum YAMLByte {
    static let tab = UInt8(ascii: "\t")
    static let newline = UInt8(ascii: "\n")
    static let carriageReturn = UInt8(ascii: "\r")
    static let space = UInt8(ascii: " ")
    static let doubleQuote = UInt8(ascii: "\"")
    static let singleQuote = UInt8(ascii: "'")
    static let hash = UInt8(ascii: "#")
    static let colon = UInt8(ascii: ":")
    static let comma = UInt8(ascii: ",")
    static let dash = UInt8(ascii: "-")
    static let dot = UInt8(ascii: ".")
    static let questionMark = UInt8(ascii: "?")
    static let percent = UInt8(ascii: "%")
    static let backslash = UInt8(ascii: "\\")
    static let openBracket = UInt8(ascii: "[")
    static let closeBracket = UInt8(ascii: "]")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")

    static func isFlowIndicator(_ byte: UInt8) -> Bool {
        byte == comma || byte == openBracket || byte == closeBracket || byte == openBrace || byte == closeBrace
    }

    static func isSpaceOrTab(_ byte: UInt8) -> Bool { byte == space || byte == tab }

    static func isBreak(_ byte: UInt8) -> Bool { byte == newline || byte == carriageReturn }
}

/// Reads the text of one YAML document into `YAMLNode`s, byte by byte.
///
/// Block structure is read line by line from indentation; flow collections and scalars are read
/// token by token. Each `parse…` function starts at the node's first byte and leaves `position`
/// right after the node.
struct YAMLParser {
    let bytes: [UInt8]
    let lines: YAMLLineTable
    var position: Int
    /// How many collections hold the one being read.
    var depth = 0
    /// How deep collections may nest. Netplan's nest 6 deep; each level is a few frames of this
    /// recursive reader, so a hostile `[[[[…` must be refused before it overflows the stack.
    static let maximumDepth = 64

    init(bytes: [UInt8]) {
        self.bytes = bytes
        self.lines = YAMLLineTable(bytes)
        self.position = lines.starts[0]
    }

    // MARK: Document

    mutating func parseDocument() throws(YAMLSyntaxError) -> YAMLNode? {
        // Lines end at "\n" (or "\r\n"). A carriage return alone, an old Mac line end YAML reads
        // as a line break, starts no line in `lines`: the reader would skip it as a break and
        // find itself back at the same line start, forever.
        if let carriageReturn = bytes.indices.first(where: { bytes[$0] == YAMLByte.carriageReturn && bytes[($0 + 1)...].first != YAMLByte.newline }) {
            throw error("a carriage return without a line feed (an old Mac line end); save the file with LF line ends", at: carriageReturn)
        }
        var indent = try nextBlockLine()
        if indent == 0, bytes[position] == YAMLByte.percent {
            throw error("directives ('%YAML', '%TAG') are not supported; remove the line", at: position)
        }
        if indent == nil, isDocumentMarker("---", at: position) {
            position += 3
            try finishLine(after: "'---' (start the document's content on the next line)")
            indent = try nextBlockLine()
        }
        var root: YAMLNode?
        if let indent {
            root = try parseBlockNode(indent: indent, introducerEnd: nil)
        }
        if let next = try nextBlockLine(), let root, let indent {
            if next < indent {
                throw error("bad indentation: the document's first line is at column \(indent + 1)", at: position)
            }
            if root.kind == .sequence, root.style == .block {
                throw error("expected a '- ' item: the document is a sequence", at: position)
            }
            throw error("unexpected content after the document's value", at: position)
        }
        while position < bytes.count {
            if isDocumentMarker("...", at: position) {
                position += 3
                try finishLine(after: "the document end marker '...'")
            } else if isDocumentMarker("---", at: position) {
                throw error("a second document ('---') is not supported: netplan reads one document per file", at: position)
            }
            if try nextBlockLine() != nil {
                throw error("content after the document end marker '...'", at: position)
            }
        }
        return root
    }

    // MARK: Block context

    /// Moves to the first character of the next line that holds content (skipping blank and
    /// comment lines) and returns that line's indentation, or nil at the end of the text or at a
    /// `---`/`...` marker. Called at a line start, or again at the content it already found.
    mutating func nextBlockLine() throws(YAMLSyntaxError) -> Int? {
        while position < bytes.count {
            let lineStart = lines.lineStart(of: position)
            var cursor = lineStart
            while cursor < bytes.count, YAMLByte.isSpaceOrTab(bytes[cursor]) { cursor += 1 }
            if cursor == bytes.count {
                position = cursor
                return nil
            }
            if YAMLByte.isBreak(bytes[cursor]) || bytes[cursor] == YAMLByte.hash {
                position = cursor
                skipToLineEnd()
                skipBreak()
                continue
            }
            if let tab = bytes[lineStart..<cursor].firstIndex(of: YAMLByte.tab) {
                throw error("tab character used for indentation; indent with spaces", at: tab)
            }
            position = cursor
            if cursor == lineStart, isDocumentMarker("---", at: cursor) || isDocumentMarker("...", at: cursor) {
                return nil
            }
            return cursor - lineStart
        }
        return nil
    }

    /// Reads the block node starting at `position`, which is at column `indent` (0-based).
    mutating func parseBlockNode(indent: Int, introducerEnd: Int?) throws(YAMLSyntaxError) -> YAMLNode {
        if isSequenceItem(at: position) {
            return try parseBlockSequence(indent: indent, introducerEnd: introducerEnd)
        }
        if startsMappingEntry(at: position) {
            return try parseBlockMapping(indent: indent, introducerEnd: introducerEnd)
        }
        let node = try parseInlineValue(introducerEnd: introducerEnd)
        try finishLine(after: "the value")
        return node
    }

    mutating func parseBlockMapping(indent: Int, introducerEnd: Int?) throws(YAMLSyntaxError) -> YAMLNode {
        let start = position
        try enterCollection(at: start)
        defer { depth -= 1 }
        var entries: [(key: YAMLNode, value: YAMLNode)] = []
        var firstLines: [String: Int] = [:]
        while true {
            let key = try parseBlockKey()
            let name = key.scalar ?? ""
            if let firstLine = firstLines[name] {
                throw error("duplicate key '\(name)' (first used on line \(firstLine)); keep only one", at: key.range.lowerBound)
            }
            firstLines[name] = key.line
            let colonEnd = position + 1
            position = colonEnd
            skipSpacesAndTabs()

            let value: YAMLNode
            if position == bytes.count || YAMLByte.isBreak(bytes[position]) || bytes[position] == YAMLByte.hash {
                try finishLine(after: "the key")
                let next = try nextBlockLine()
                if let next, next > indent {
                    value = try parseBlockNode(indent: next, introducerEnd: colonEnd)
                } else if next == indent, isSequenceItem(at: position) {
                    value = try parseBlockSequence(indent: indent, introducerEnd: colonEnd)
                } else {
                    value = nullNode(at: colonEnd, introducerEnd: colonEnd, isInsideFlowCollection: false)
                }
            } else {
                value = try parseInlineValue(introducerEnd: colonEnd)
                try finishLine(after: "the value")
            }
            entries.append((key, value))

            guard let next = try nextBlockLine(), next >= indent else { break }
            if next > indent {
                throw overIndented("the keys of this mapping are at column \(indent + 1)", after: value)
            }
            if isSequenceItem(at: position) {
                throw error("a sequence item ('- ') where a key of the mapping was expected", at: position)
            }
            if !startsMappingEntry(at: position) {
                throw error("expected 'key: value' at this indentation", at: position)
            }
        }
        return collection(.mapping, entries: entries, start: start, end: entries[entries.count - 1].value.range.upperBound,
                          introducerEnd: introducerEnd)
    }

    mutating func parseBlockSequence(indent: Int, introducerEnd: Int?) throws(YAMLSyntaxError) -> YAMLNode {
        let start = position
        try enterCollection(at: start)
        defer { depth -= 1 }
        var items: [YAMLNode] = []
        while true {
            let dashEnd = position + 1
            position = dashEnd
            skipSpacesAndTabs()
            let item: YAMLNode
            if position == bytes.count || YAMLByte.isBreak(bytes[position]) || bytes[position] == YAMLByte.hash {
                try finishLine(after: "'-'")
                if let next = try nextBlockLine(), next > indent {
                    item = try parseBlockNode(indent: next, introducerEnd: dashEnd)
                } else {
                    item = nullNode(at: dashEnd, introducerEnd: dashEnd, isInsideFlowCollection: false)
                }
            } else {
                item = try parseBlockNode(indent: position - lines.lineStart(of: position), introducerEnd: dashEnd)
            }
            items.append(item)

            guard let next = try nextBlockLine(), next >= indent else { break }
            if next > indent {
                throw overIndented("the items of this sequence are at column \(indent + 1)", after: item)
            }
            // A line at this indentation that is not an item ends the sequence: it is the next key
            // of a mapping written `key:\n- item`, or an error the enclosing node reports.
            if !isSequenceItem(at: position) { break }
        }
        return collection(.sequence, items: items, start: start, end: items[items.count - 1].range.upperBound,
                          introducerEnd: introducerEnd)
    }

    /// The error for a line indented deeper than the entries or items it follows, at `position`.
    ///
    /// After a plain value, the likely intent is a value continued on a second line, which YAML
    /// allows but this reader does not.
    func overIndented(_ expectation: String, after previous: YAMLNode) -> YAMLSyntaxError {
        if previous.kind == .scalar, previous.style == .plain, !previous.range.isEmpty {
            return error("bad indentation: \(expectation); a value continued on a second line is not supported, join the lines", at: position)
        }
        return error("bad indentation: \(expectation)", at: position)
    }

    /// Reads a key of a block mapping and leaves `position` at its `:`.
    mutating func parseBlockKey() throws(YAMLSyntaxError) -> YAMLNode {
        let first = bytes[position]
        if first == YAMLByte.doubleQuote || first == YAMLByte.singleQuote {
            let key = try parseQuoted(introducerEnd: nil, isInsideFlowCollection: false)
            skipSpacesAndTabs()
            return key
        }
        try rejectIndicator(at: position, insideFlow: false)
        let start = position
        while !(bytes[position] == YAMLByte.colon && isBlankOrEnd(position + 1)) { position += 1 }
        var end = position
        while end > start, YAMLByte.isSpaceOrTab(bytes[end - 1]) { end -= 1 }
        if end == start {
            throw error("a mapping entry needs a key before ':'", at: start)
        }
        return scalarNode(.plain, String(decoding: bytes[start..<end], as: UTF8.self), range: start..<end,
                          introducerEnd: nil, isInsideFlowCollection: false)
    }

    /// Reads the value written on the same line as its key or `- `: a flow collection or a scalar.
    mutating func parseInlineValue(introducerEnd: Int?) throws(YAMLSyntaxError) -> YAMLNode {
        switch bytes[position] {
        case YAMLByte.openBracket:
            return try parseFlowSequence(introducerEnd: introducerEnd, isInsideFlowCollection: false)
        case YAMLByte.openBrace:
            return try parseFlowMapping(introducerEnd: introducerEnd, isInsideFlowCollection: false)
        case YAMLByte.doubleQuote, YAMLByte.singleQuote:
            return try parseQuoted(introducerEnd: introducerEnd, isInsideFlowCollection: false)
        default:
            try rejectIndicator(at: position, insideFlow: false)
            return try parsePlain(introducerEnd: introducerEnd, isInsideFlowCollection: false)
        }
    }

    /// Whether a mapping entry (`key:` followed by a space or the line's end) starts at `start`.
    func startsMappingEntry(at start: Int) -> Bool {
        var cursor = start
        let first = bytes[cursor]
        if first == YAMLByte.doubleQuote || first == YAMLByte.singleQuote {
            cursor += 1
            while cursor < bytes.count, !YAMLByte.isBreak(bytes[cursor]) {
                let byte = bytes[cursor]
                if byte == YAMLByte.backslash, first == YAMLByte.doubleQuote {
                    if cursor + 1 >= bytes.count || YAMLByte.isBreak(bytes[cursor + 1]) { return false }
                    cursor += 2
                    continue
                }
                if byte == first {
                    if first == YAMLByte.singleQuote, cursor + 1 < bytes.count, bytes[cursor + 1] == YAMLByte.singleQuote {
                        cursor += 2
                        continue
                    }
                    cursor += 1
                    while cursor < bytes.count, YAMLByte.isSpaceOrTab(bytes[cursor]) { cursor += 1 }
                    return cursor < bytes.count && bytes[cursor] == YAMLByte.colon && isBlankOrEnd(cursor + 1)
                }
                cursor += 1
            }
            return false
        }
        if first == YAMLByte.openBracket || first == YAMLByte.openBrace { return false }
        while cursor < bytes.count, !YAMLByte.isBreak(bytes[cursor]) {
            let byte = bytes[cursor]
            if byte == YAMLByte.colon, isBlankOrEnd(cursor + 1) { return true }
            if byte == YAMLByte.hash, cursor > start, YAMLByte.isSpaceOrTab(bytes[cursor - 1]) { return false }
            cursor += 1
        }
        return false
    }

    func isSequenceItem(at offset: Int) -> Bool {
        offset < bytes.count && bytes[offset] == YAMLByte.dash && isBlankOrEnd(offset + 1)
    }

    // MARK: Flow context

    mutating func parseFlowSequence(introducerEnd: Int?, isInsideFlowCollection: Bool) throws(YAMLSyntaxError) -> YAMLNode {
        let start = position
        try enterCollection(at: start)
        defer { depth -= 1 }
        position += 1
        var items: [YAMLNode] = []
        loop: while true {
            try skipFlowSpace(inCollectionAt: start, closer: "]")
            if bytes[position] == YAMLByte.closeBracket {
                position += 1
                break
            }
            items.append(try parseFlowNode(introducerEnd: nil))
            let itemEnd = position
            try skipFlowSpace(inCollectionAt: start, closer: "]")
            switch bytes[position] {
            case YAMLByte.comma:
                position += 1
            case YAMLByte.closeBracket:
                position += 1
                break loop
            case YAMLByte.colon:
                throw error("a 'key: value' pair inside [ ] is not supported; write it as {key: value}", at: position)
            default:
                throw missingSeparator(in: "flow sequence", closer: "]", collectionStart: start, itemEnd: itemEnd)
            }
        }
        return collection(.sequence, style: .flow, items: items, start: start, end: position, introducerEnd: introducerEnd,
                          isInsideFlowCollection: isInsideFlowCollection)
    }

    mutating func parseFlowMapping(introducerEnd: Int?, isInsideFlowCollection: Bool) throws(YAMLSyntaxError) -> YAMLNode {
        let start = position
        try enterCollection(at: start)
        defer { depth -= 1 }
        position += 1
        var entries: [(key: YAMLNode, value: YAMLNode)] = []
        var firstLines: [String: Int] = [:]
        loop: while true {
            try skipFlowSpace(inCollectionAt: start, closer: "}")
            if bytes[position] == YAMLByte.closeBrace {
                position += 1
                break
            }
            let key: YAMLNode
            let first = bytes[position]
            if first == YAMLByte.doubleQuote || first == YAMLByte.singleQuote {
                key = try parseQuoted(introducerEnd: nil, isInsideFlowCollection: true)
            } else if first == YAMLByte.openBracket || first == YAMLByte.openBrace {
                throw error("a [ ] or { } collection cannot be a key", at: position)
            } else {
                try rejectIndicator(at: position, insideFlow: true)
                key = try parsePlain(introducerEnd: nil, isInsideFlowCollection: true, resolvesNull: false)
            }
            let name = key.scalar ?? ""
            if let firstLine = firstLines[name] {
                throw error("duplicate key '\(name)' (first used on line \(firstLine)); keep only one", at: key.range.lowerBound)
            }
            firstLines[name] = key.line
            let keyEnd = position
            try skipFlowSpace(inCollectionAt: start, closer: "}")

            let value: YAMLNode
            let quotedKey = key.style != .plain
            if bytes[position] == YAMLByte.colon,
               quotedKey || isBlankOrEnd(position + 1) || YAMLByte.isFlowIndicator(bytes[position + 1]) {
                if lines.lineIndex(of: position) != lines.lineIndex(of: keyEnd) {
                    throw error("the ':' after a key must be on the key's line", at: position)
                }
                let colonEnd = position + 1
                if !quotedKey, !isBlankOrEnd(colonEnd), bytes[colonEnd] != YAMLByte.comma, bytes[colonEnd] != YAMLByte.closeBrace {
                    throw error("put a space after ':' (or quote the key)", at: colonEnd)
                }
                position = colonEnd
                try skipFlowSpace(inCollectionAt: start, closer: "}")
                if bytes[position] == YAMLByte.comma || bytes[position] == YAMLByte.closeBrace {
                    value = nullNode(at: colonEnd, introducerEnd: colonEnd, isInsideFlowCollection: true)
                } else {
                    value = try parseFlowNode(introducerEnd: colonEnd)
                }
            } else if bytes[position] == YAMLByte.comma || bytes[position] == YAMLByte.closeBrace {
                value = nullNode(at: keyEnd, introducerEnd: nil, isInsideFlowCollection: true)
            } else {
                throw missingSeparator(in: "flow mapping", closer: "}", collectionStart: start, itemEnd: keyEnd, expected: "':' after the key")
            }
            entries.append((key, value))

            let entryEnd = position
            try skipFlowSpace(inCollectionAt: start, closer: "}")
            switch bytes[position] {
            case YAMLByte.comma:
                position += 1
            case YAMLByte.closeBrace:
                position += 1
                break loop
            default:
                throw missingSeparator(in: "flow mapping", closer: "}", collectionStart: start, itemEnd: entryEnd)
            }
        }
        return collection(.mapping, style: .flow, entries: entries, start: start, end: position, introducerEnd: introducerEnd,
                          isInsideFlowCollection: isInsideFlowCollection)
    }

    /// Reads an item or a value inside `[ ]` or `{ }`.
    mutating func parseFlowNode(introducerEnd: Int?) throws(YAMLSyntaxError) -> YAMLNode {
        switch bytes[position] {
        case YAMLByte.openBracket:
            return try parseFlowSequence(introducerEnd: introducerEnd, isInsideFlowCollection: true)
        case YAMLByte.openBrace:
            return try parseFlowMapping(introducerEnd: introducerEnd, isInsideFlowCollection: true)
        case YAMLByte.doubleQuote, YAMLByte.singleQuote:
            return try parseQuoted(introducerEnd: introducerEnd, isInsideFlowCollection: true)
        default:
            try rejectIndicator(at: position, insideFlow: true)
            return try parsePlain(introducerEnd: introducerEnd, isInsideFlowCollection: true)
        }
    }

    /// Skips spaces, line breaks and comments inside a flow collection, and fails at the end of
    /// the text, which means the collection starting at `start` was never closed.
    mutating func skipFlowSpace(inCollectionAt start: Int, closer: String) throws(YAMLSyntaxError) {
        while position < bytes.count {
            let byte = bytes[position]
            if YAMLByte.isSpaceOrTab(byte) || YAMLByte.isBreak(byte) {
                position += 1
            } else if byte == YAMLByte.hash {
                // Between tokens, as libyaml reads it; a '#' inside a plain scalar never gets here.
                skipToLineEnd()
            } else {
                return
            }
        }
        let kind = closer == "]" ? "flow sequence" : "flow mapping"
        throw error("unterminated \(kind) (missing '\(closer)')", at: start)
    }

    /// The error for a token that is neither `,` nor the closing bracket after an item.
    ///
    /// When the token is on a later line, the likely mistake is a bracket that was never closed.
    func missingSeparator(in kind: String, closer: String, collectionStart: Int, itemEnd: Int,
                          expected: String? = nil) -> YAMLSyntaxError {
        if lines.lineIndex(of: position) != lines.lineIndex(of: itemEnd) {
            return error("unterminated \(kind) (missing '\(closer)' before line \(lines.location(of: position).line))", at: collectionStart)
        }
        return error("expected \(expected ?? "',' or '\(closer)'") in the \(kind)", at: position)
    }

    // MARK: Scalars

    /// Reads a plain (unquoted) scalar: up to the line's end, a ` #` comment, a `: `, and inside
    /// a flow collection up to `,[]{}`.
    mutating func parsePlain(introducerEnd: Int?, isInsideFlowCollection insideFlow: Bool,
                             resolvesNull: Bool = true) throws(YAMLSyntaxError) -> YAMLNode {
        let start = position
        var end = start
        while position < bytes.count, !YAMLByte.isBreak(bytes[position]) {
            let byte = bytes[position]
            if byte == YAMLByte.hash, position > start, YAMLByte.isSpaceOrTab(bytes[position - 1]) { break }
            if insideFlow, YAMLByte.isFlowIndicator(byte) { break }
            if byte == YAMLByte.colon,
               isBlankOrEnd(position + 1) || (insideFlow && YAMLByte.isFlowIndicator(bytes[position + 1])) {
                if insideFlow { break }
                throw error("unexpected ': ' inside a value (two 'key: value' on one line?); quote the value if it contains ': '", at: position)
            }
            position += 1
            if !YAMLByte.isSpaceOrTab(byte) { end = position }
        }
        position = end
        if end == start {
            throw error("expected a value", at: start)
        }
        let text = String(decoding: bytes[start..<end], as: UTF8.self)
        let isNull = resolvesNull && ["~", "null", "Null", "NULL"].contains(text)
        return scalarNode(.plain, isNull ? nil : text, range: start..<end, introducerEnd: introducerEnd,
                          isInsideFlowCollection: insideFlow)
    }

    /// Reads a `'single-quoted'` or `"double-quoted"` scalar, which must end on the line it starts.
    mutating func parseQuoted(introducerEnd: Int?, isInsideFlowCollection: Bool) throws(YAMLSyntaxError) -> YAMLNode {
        let start = position
        let quote = bytes[start]
        let isDouble = quote == YAMLByte.doubleQuote
        var value: [UInt8] = []
        position += 1
        while true {
            guard position < bytes.count, !YAMLByte.isBreak(bytes[position]) else {
                let kind = isDouble ? "double-quoted" : "single-quoted"
                let mark = isDouble ? "\"" : "'"
                throw error("unterminated \(kind) value (close it with \(mark) on the same line)", at: start)
            }
            let byte = bytes[position]
            if byte == quote {
                if !isDouble, position + 1 < bytes.count, bytes[position + 1] == YAMLByte.singleQuote {
                    value.append(YAMLByte.singleQuote)
                    position += 2
                    continue
                }
                position += 1
                break
            }
            if isDouble, byte == YAMLByte.backslash {
                try readEscape(into: &value)
                continue
            }
            value.append(byte)
            position += 1
        }
        return scalarNode(isDouble ? .doubleQuoted : .singleQuoted, String(decoding: value, as: UTF8.self),
                          range: start..<position, introducerEnd: introducerEnd, isInsideFlowCollection: isInsideFlowCollection)
    }

    /// Reads one `\` escape of a double-quoted scalar and appends what it stands for as UTF-8.
    mutating func readEscape(into value: inout [UInt8]) throws(YAMLSyntaxError) {
        let start = position
        position += 1
        guard position < bytes.count, !YAMLByte.isBreak(bytes[position]) else {
            throw error("a '\\' at the end of a line (a line continuation) is not supported; keep the value on one line", at: start)
        }
        let letter = bytes[position]
        position += 1
        let simple: [UInt8: UInt32] = [
            UInt8(ascii: "0"): 0, UInt8(ascii: "a"): 7, UInt8(ascii: "b"): 8, UInt8(ascii: "t"): 9, YAMLByte.tab: 9,
            UInt8(ascii: "n"): 10, UInt8(ascii: "v"): 11, UInt8(ascii: "f"): 12, UInt8(ascii: "r"): 13,
            UInt8(ascii: "e"): 27, YAMLByte.space: 32, YAMLByte.doubleQuote: 34, UInt8(ascii: "/"): 47, YAMLByte.backslash: 92,
            UInt8(ascii: "N"): 0x85, UInt8(ascii: "_"): 0xA0, UInt8(ascii: "L"): 0x2028, UInt8(ascii: "P"): 0x2029,
        ]
        let codePoint: UInt32
        if let known = simple[letter] {
            codePoint = known
        } else if let digits = [UInt8(ascii: "x"): 2, UInt8(ascii: "u"): 4, UInt8(ascii: "U"): 8][letter] {
            var number: UInt32 = 0
            for _ in 0..<digits {
                guard position < bytes.count, let digit = Self.hexValue(bytes[position]) else {
                    throw error("'\\\(Character(Unicode.Scalar(letter)))' needs \(digits) hexadecimal digits", at: start)
                }
                number = number * 16 + digit
                position += 1
            }
            codePoint = number
        } else {
            throw error("unknown escape '\\\(Character(Unicode.Scalar(letter)))' in a double-quoted value; write '\\\\' for a backslash", at: start)
        }
        guard let scalar = Unicode.Scalar(codePoint) else {
            throw error("the escape stands for no Unicode character", at: start)
        }
        value.append(contentsOf: String(Character(scalar)).utf8)
    }

    static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    /// Fails on a character that cannot start a plain scalar, naming the YAML feature it starts.
    func rejectIndicator(at offset: Int, insideFlow: Bool) throws(YAMLSyntaxError) {
        let byte = bytes[offset]
        let character = Character(Unicode.Scalar(byte))
        let followedByBlank = isBlankOrEnd(offset + 1)
        switch character {
        case "&": throw error("anchors ('&') are not supported; write the value out", at: offset)
        case "*": throw error("aliases ('*') are not supported; write the value out", at: offset)
        case "!": throw error("tags ('!') are not supported; remove the tag or quote the value", at: offset)
        case "|", ">": throw error("block scalars ('|' and '>') are not supported; write the value on one line, in quotes", at: offset)
        case "%", "@", "`", "#": throw error("'\(character)' cannot start an unquoted value; put the value in quotes", at: offset)
        case "?" where followedByBlank || insideFlow:
            throw error("explicit keys ('?') are not supported; write 'key: value' (quote a value that starts with '?')", at: offset)
        case "-" where followedByBlank:
            if insideFlow { throw error("a '- ' item is not allowed inside [ ] or { }; separate items with ','", at: offset) }
            throw error("a sequence cannot start on the line of its key; put each '- ' item on its own line below", at: offset)
        case ":" where followedByBlank || insideFlow:
            throw error("expected a value or a key before ':' (quote a value that starts with ':')", at: offset)
        case ",", "[", "]", "{", "}":
            if insideFlow { throw error("expected a value before '\(character)'", at: offset) }
            throw error("'\(character)' cannot start an unquoted value; put the value in quotes", at: offset)
        default: return
        }
    }

    // MARK: Helpers

    /// Counts one more level of nesting for the collection starting at `start`; fails past
    /// `maximumDepth`.
    mutating func enterCollection(at start: Int) throws(YAMLSyntaxError) {
        guard depth < Self.maximumDepth else {
            throw error("collections nested more than \(Self.maximumDepth) deep; netplan needs a handful", at: start)
        }
        depth += 1
    }

    func isBlankOrEnd(_ offset: Int) -> Bool {
        offset >= bytes.count || YAMLByte.isSpaceOrTab(bytes[offset]) || YAMLByte.isBreak(bytes[offset])
    }

    func isDocumentMarker(_ marker: String, at offset: Int) -> Bool {
        let markerBytes = Array(marker.utf8)
        return offset == lines.lineStart(of: offset) && offset + 3 <= bytes.count
            && Array(bytes[offset..<offset + 3]) == markerBytes && isBlankOrEnd(offset + 3)
    }

    mutating func skipSpacesAndTabs() {
        while position < bytes.count, YAMLByte.isSpaceOrTab(bytes[position]) { position += 1 }
    }

    mutating func skipToLineEnd() {
        while position < bytes.count, !YAMLByte.isBreak(bytes[position]) { position += 1 }
    }

    mutating func skipBreak() {
        if position < bytes.count, bytes[position] == YAMLByte.carriageReturn { position += 1 }
        if position < bytes.count, bytes[position] == YAMLByte.newline { position += 1 }
    }

    /// Skips what may follow a node on its line (spaces and a comment) and the line break;
    /// anything else there is an error.
    mutating func finishLine(after what: String) throws(YAMLSyntaxError) {
        skipSpacesAndTabs()
        // A '#' right after a quote or bracket starts a comment too: libyaml, which netplan
        // uses, reads it so. Inside a plain scalar it never gets here.
        if position < bytes.count, bytes[position] == YAMLByte.hash {
            skipToLineEnd()
        }
        guard position == bytes.count || YAMLByte.isBreak(bytes[position]) else {
            throw error("unexpected text after \(what)", at: position)
        }
        skipBreak()
    }

    func error(_ message: String, at offset: Int) -> YAMLSyntaxError {
        let location = lines.location(of: offset)
        return YAMLSyntaxError(line: location.line, column: location.column, message: message)
    }

    func scalarNode(_ style: YAMLNode.Style, _ value: String?, range: Range<Int>, introducerEnd: Int?,
                    isInsideFlowCollection: Bool) -> YAMLNode {
        let location = lines.location(of: range.lowerBound)
        return YAMLNode(kind: .scalar, style: style, scalar: value, range: range, line: location.line, column: location.column,
                        introducerEnd: introducerEnd, isInsideFlowCollection: isInsideFlowCollection)
    }

    func nullNode(at offset: Int, introducerEnd: Int?, isInsideFlowCollection: Bool) -> YAMLNode {
        scalarNode(.plain, nil, range: offset..<offset, introducerEnd: introducerEnd, isInsideFlowCollection: isInsideFlowCollection)
    }

    func collection(_ kind: YAMLNode.Kind, style: YAMLNode.Style = .block, entries: [(key: YAMLNode, value: YAMLNode)] = [],
                    items: [YAMLNode] = [], start: Int, end: Int, introducerEnd: Int?,
                    isInsideFlowCollection: Bool = false) -> YAMLNode {
        let location = lines.location(of: start)
        return YAMLNode(kind: kind, style: style, entries: entries, items: items, range: start..<end, line: location.line,
                        column: location.column, introducerEnd: introducerEnd, isInsideFlowCollection: isInsideFlowCollection)
    }
}

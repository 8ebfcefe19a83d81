/// A text file as lines that remember their UTF-8 byte offsets, so a value found on a line can be
/// replaced in place and every other byte of the file stays as it was.
struct ConfigLines {
    /// One line without its newline.
    struct Line {
        /// 1-based line number, for messages.
        let number: Int
        /// Byte offset of the line's first byte in the file.
        let offset: Int
        let text: Substring

        /// The byte range in the file of `part`, a slice of `text`.
        func range(of part: Substring) -> Range<Int> {
            let start = offset + text.utf8.distance(from: text.startIndex, to: part.startIndex)
            return start..<start + part.utf8.count
        }

        /// The byte range of the whole line including its newline, when it has one.
        func rangeWithNewline(in lines: ConfigLines) -> Range<Int> {
            let end = offset + text.utf8.count
            return offset..<min(end + 1, lines.byteCount)
        }

        /// The line without leading and trailing blanks.
        var trimmed: Substring { text.trimmingBlanks() }
    }

    let lines: [Line]
    let byteCount: Int

    init(_ text: String) {
        var lines: [Line] = []
        var offset = 0
        var number = 1
        for part in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lines.append(Line(number: number, offset: offset, text: part.hasSuffix("\r") ? part.dropLast() : part))
            offset += part.utf8.count + 1
            number += 1
        }
        self.lines = lines
        self.byteCount = text.utf8.count
    }
}

/// A replacement of a byte range in a text file.
struct TextEdit: Sendable {
    let range: Range<Int>
    let replacement: String

    /// `text` with every edit made; edits must not overlap.
    static func apply(_ edits: [TextEdit], to text: String) -> String {
        var bytes = Array(text.utf8)
        var lowest = Int.max
        for edit in edits.sorted(by: { $0.range.lowerBound > $1.range.lowerBound }) {
            precondition(edit.range.upperBound <= lowest, "overlapping edits at byte \(edit.range.lowerBound)")
            bytes.replaceSubrange(edit.range, with: Array(edit.replacement.utf8))
            lowest = edit.range.lowerBound
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension Substring {
    /// Without leading and trailing spaces and tabs.
    func trimmingBlanks() -> Substring {
        var result = self
        while let first = result.first, first == " " || first == "\t" { result = result.dropFirst() }
        while let last = result.last, last == " " || last == "\t" { result = result.dropLast() }
        return result
    }

    /// The parts separated by any of `separators`, each a slice of this one (so its range is known).
    func tokens(separatedBy separators: Set<Character>) -> [Substring] {
        split(whereSeparator: { separators.contains($0) })
    }

    /// The value without one pair of surrounding quotes (" or '), as a slice of this one.
    func unquoted() -> Substring {
        if count >= 2, let first, let last, first == last, first == "\"" || first == "'" { return dropFirst().dropLast() }
        return self
    }
}

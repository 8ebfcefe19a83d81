@testable import SanitizeCloneKit

/// How the harness reads an input: as a guest file's text, or cut into the parts one parser needs.
enum FuzzInput {
    /// The input as the tool reads a guest file (`RootDirectory.readText`): UTF-8 without a NUL
    /// byte or a byte-order mark, or nil, as the tool refuses anything else before parsing.
    static func text(_ bytes: [UInt8]) -> String? {
        try? GuestText.decode(bytes, path: "fuzz input")
    }

    /// The input cut at its first NUL byte (which no guest text holds) into two texts, for parsers
    /// that compare two files; nil unless both are text.
    static func texts(_ bytes: [UInt8]) -> (String, String)? {
        let cut = bytes.firstIndex(of: 0) ?? bytes.endIndex
        guard let first = text(Array(bytes[..<cut])) else { return nil }
        let rest = cut < bytes.endIndex ? Array(bytes[(cut + 1)...]) : []
        guard let second = text(rest) else { return nil }
        return (first, second)
    }
}

/// The text of a guest's file as sanitize-clone parses and edits it: UTF-8, without a NUL byte or
/// a byte order mark.
///
/// Values are replaced byte for byte where they stand, so a file whose bytes do not decode as they
/// are must neither be parsed with them repaired (the repair would be written back) nor be
/// skipped as if it were empty: it is refused, naming the first offending byte.
enum GuestText {
    /// Byte order marks, longest first (UTF-32 LE starts like UTF-16 LE).
    static let byteOrderMarks: [(bytes: [UInt8], encoding: String)] = [
        ([0x00, 0x00, 0xFE, 0xFF], "UTF-32"), ([0xFF, 0xFE, 0x00, 0x00], "UTF-32"),
        ([0xFE, 0xFF], "UTF-16"), ([0xFF, 0xFE], "UTF-16"), ([0xEF, 0xBB, 0xBF], "UTF-8"),
    ]

    /// `bytes` as text. Throws `InputError` naming `path`, the first offending byte and the fix
    /// when they are not UTF-8 text.
    static func decode(_ bytes: [UInt8], path: String) throws -> String {
        if let problem = problem(in: bytes) {
            throw InputError("\(path) is not UTF-8 text (\(problem)): convert it to UTF-8 without a byte order mark or remove it, then run again")
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// What makes `bytes` not UTF-8 text, e.g. "byte 0xFF at offset 37"; nil when they are.
    static func problem(in bytes: [UInt8]) -> String? {
        if let mark = byteOrderMarks.first(where: { bytes.starts(with: $0.bytes) }) {
            return "a \(mark.encoding) byte order mark"
        }
        var iterator = bytes.makeIterator()
        var parser = Unicode.UTF8.ForwardParser()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded):
                if encoded.count == 1 && encoded.first == 0 { return "a NUL byte at offset \(offset)" }
                offset += encoded.count
            case .error:
                return "byte 0x\(Hex.encode([bytes[offset]]).uppercased()) at offset \(offset)"
            case .emptyInput:
                return nil
            }
        }
    }
}

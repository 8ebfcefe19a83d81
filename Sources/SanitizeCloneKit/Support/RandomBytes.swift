import CShims

/// Bytes from the kernel's random generator (getrandom(2)).
public enum RandomBytes {
    /// `count` random bytes.
    public static func generate(_ count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let result = bytes.withUnsafeMutableBytes { sc_random_bytes($0.baseAddress, $0.count) }
        guard result == 0 else { throw SystemError(code: sc_errno(), operation: "read random bytes") }
        return bytes
    }
}

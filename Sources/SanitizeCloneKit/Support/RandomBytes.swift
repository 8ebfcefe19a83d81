/// Bytes from the kernel's random generator (getrandom(2)).
public enum RandomBytes {
    /// `count` random bytes.
    public static func generate(_ count: Int) throws -> [UInt8] {
        try System.randomBytes(count)
    }

    /// A random (version 4) UUID, lowercase with dashes.
    public static func uuid() throws -> String {
        var bytes = try generate(16)
        bytes[6] = (bytes[6] & 0x0f) | 0x40
        bytes[8] = (bytes[8] & 0x3f) | 0x80
        let hex = Array(Hex.encode(bytes))
        return [hex[0..<8], hex[8..<12], hex[12..<16], hex[16..<20], hex[20..<32]].map { String($0) }.joined(separator: "-")
    }
}

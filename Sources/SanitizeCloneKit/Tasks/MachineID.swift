import CSystemd

/// A machine-id: 32 lowercase hexadecimal digits (machine-id(5)).
public enum MachineID {
    /// A fresh random id from libsystemd's `sd_id128_randomize` (a v4 UUID without dashes).
    public static func random() throws -> String {
        var id = sd_id128_t()
        let result = sd_id128_randomize(&id)
        guard result >= 0 else { throw SystemError(code: -result, operation: "generate a machine-id") }
        return withUnsafeBytes(of: id) { Hex.encode($0) }
    }

    /// True when `text` is 32 hex digits, not all zero (systemd rejects the null id).
    public static func isValid(_ text: String) -> Bool {
        text.utf8.count == 32 && text.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
            && text != String(repeating: "0", count: 32)
    }

    /// True when the root's /etc/machine-id says `uninitialized` (a sealed template).
    public static func isUninitialized(in root: RootDirectory) throws -> Bool {
        try root.readText("/etc/machine-id")?.trimmingWhitespace() == "uninitialized"
    }

    /// The id in the first line of a machine-id file's contents, or nil ("uninitialized",
    /// empty, malformed).
    public static func parse(_ contents: String?) -> String? {
        guard let line = contents?.split(whereSeparator: \.isNewline).first.map({ String($0).trimmingWhitespace().lowercased() }) else { return nil }
        return isValid(line) ? line : nil
    }
}

#if canImport(Glibc)
import Glibc
#endif
import CShims

/// The running kernel's hostname and random generator.
extension System {
    /// sethostname(2): the running kernel's hostname becomes `name`.
    static func setHostname(_ name: String, operation: String = "set the running hostname to") throws(SystemError) {
        try Syscall.call(.hostname, operation, path: name) { sethostname(name, name.utf8.count) }
    }

    /// gethostname(2): the running kernel's hostname (what `uname -n` shows).
    static func hostname(operation: String = "read the running hostname") throws(SystemError) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        try Syscall.call(.hostname, operation) { gethostname(&buffer, buffer.count - 1) }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// getrandom(2) (sc_random_bytes), as often as it takes: `count` bytes from the kernel's
    /// random generator.
    static func randomBytes(_ count: Int, operation: String = "read random bytes") throws(SystemError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        try Syscall.call(.random, operation) {
            bytes.withUnsafeMutableBytes { sc_random_bytes($0.baseAddress, $0.count) }
        }
        return bytes
    }
}

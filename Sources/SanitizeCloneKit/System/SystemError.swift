#if canImport(Glibc)
import Glibc
#endif

/// An operating-system call that failed, with the errno it returned and what we were doing.
///
/// The message reads as one line: `Failed to <operation> <path>: <strerror>`.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    /// The errno value.
    public let code: Int32
    /// What was being done, e.g. "write".
    public let operation: String
    /// The path concerned, relative to the root when there is one.
    public let path: String?

    public init(code: Int32, operation: String, path: String? = nil) {
        self.code = code
        self.operation = operation
        self.path = path
    }

    /// strerror(3) of the code.
    public var reason: String { String(cString: strerror(code)) }

    public var description: String {
        if let path { return "Failed to \(operation) \(path): \(reason)" }
        return "Failed to \(operation): \(reason)"
    }
}

#if canImport(Glibc)
import Glibc
#endif
import CSystemd
import Logging

/// A swift-log handler that sends each message to journald as a structured entry
/// (`sd_journal_sendv`): MESSAGE, PRIORITY, SYSLOG_IDENTIFIER=sanitize-clone, and every metadata
/// key upper-cased as a field (MESSAGE_ID, SANITIZE_RUN_ID, SANITIZE_TASK…).
public struct JournaldLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    let label: String

    public init(label: String) { self.label = label }

    /// The socket journald listens on. `sd_journal_sendv` returns 0 even when it is absent
    /// (the entry is silently dropped), so callers check this first.
    public static let socketPath = "/run/systemd/journal/socket"

    /// True when journald's socket exists on this host. One that cannot be inspected counts as
    /// absent: messages then go to standard error, where they are still seen.
    public static var isJournaldAvailable: Bool {
        guard let info = try? System.statusNotFollowing(socketPath) else { return false }
        return info.st_mode & S_IFMT == S_IFSOCK
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = [
            "MESSAGE=\(event.message)",
            "PRIORITY=\(Self.priority(event.level))",
            "SYSLOG_IDENTIFIER=sanitize-clone",
        ]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            let name = key.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" }
            fields.append("\(String(name))=\(value)")
        }
        Self.send(fields)
    }

    /// Sends `fields` ("KEY=value") as one entry.
    static func send(_ fields: [String]) {
        let buffers = fields.map { Array($0.utf8) }
        var pointers: [UnsafeMutableRawPointer] = []
        defer { pointers.forEach { $0.deallocate() } }
        var vectors: [iovec] = []
        for bytes in buffers {
            let pointer = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
            bytes.withUnsafeBytes { pointer.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
            pointers.append(pointer)
            vectors.append(iovec(iov_base: pointer, iov_len: bytes.count))
        }
        _ = sd_journal_sendv(&vectors, Int32(vectors.count))
    }

    /// syslog priority of a swift-log level.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }
}

/// The same events as readable lines on standard error, for when journald is absent (a build
/// host working on `--root`): `sanitize-clone: <message>`.
public struct StandardErrorLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info

    public init() {}

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let prefix = event.level >= .error ? "error: " : event.level == .warning ? "warning: " : ""
        StandardError.write("sanitize-clone: \(prefix)\(event.message)\n")
    }
}

/// Unbuffered writes to file descriptor 2.
public enum StandardError {
    /// Writes `text` to standard error in one write(2) where it fits.
    public static func write(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            guard let count = bytes.withUnsafeBytes(System.writeToStandardError), count > 0 else { return }
            bytes = bytes.dropFirst(count)
        }
    }
}

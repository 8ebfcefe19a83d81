import Foundation
import Testing

/// One journal entry as sanitize-clone sent it over journald's native protocol.
struct JournalEntry: Sendable, CustomStringConvertible {
    let fields: [String: String]

    subscript(_ name: String) -> String? { fields[name] }

    var description: String { fields.keys.sorted().map { "\($0)=\(fields[$0]!)" }.joined(separator: " ") }

    /// Parses a datagram of the native protocol: `KEY=value\n` lines, and for a value holding a
    /// newline or binary data `KEY\n<64-bit little-endian length><bytes>\n`.
    init(datagram: [UInt8]) throws {
        var fields: [String: String] = [:]
        var index = 0
        while index < datagram.count {
            guard let end = datagram[index...].firstIndex(where: { $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: "\n") }) else {
                throw FixtureError("journal datagram: field without end at \(index)")
            }
            let name = String(decoding: datagram[index..<end], as: UTF8.self)
            if datagram[end] == UInt8(ascii: "=") {
                let valueEnd = datagram[(end + 1)...].firstIndex(of: UInt8(ascii: "\n")) ?? datagram.count
                fields[name] = String(decoding: datagram[(end + 1)..<valueEnd], as: UTF8.self)
                index = valueEnd + 1
            } else {
                guard end + 9 <= datagram.count else { throw FixtureError("journal datagram: truncated length of \(name)") }
                let length = datagram[(end + 1)..<(end + 9)].reversed().reduce(0) { $0 << 8 | Int($1) }
                let start = end + 9
                guard start + length <= datagram.count else {
                    throw FixtureError("journal datagram: truncated value of \(name)")
                }
                fields[name] = String(decoding: datagram[start..<(start + length)], as: UTF8.self)
                index = start + length + 1
            }
        }
        self.fields = fields
    }
}

/// Runs sanitize-clone in a private mount namespace where /run is a fresh tmpfs and a listener
/// the test controls is bound at journald's socket, /run/systemd/journal/socket.
enum JournalListener {
    static let script = SanitizeClone.packageRoot + "/Tests/Support/journal-listener.py"
    static let socket = "/run/systemd/journal/socket"

    struct Session {
        /// Every datagram received, in order.
        let datagrams: [[UInt8]]
        let entries: [JournalEntry]
        /// The result of each command, in order.
        let results: [CommandResult]

        func entries(withMessageID id: String) -> [JournalEntry] { entries.filter { $0["MESSAGE_ID"] == id } }
    }

    static func quoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: #"'\''"#) + "'" }

    /// Runs each `sanitize-clone arguments…` (with its failpoint) one after the other inside the
    /// namespace and returns what the listener received.
    static func capture(_ commands: [(arguments: [String], failpoint: String?)], in scratch: String) throws -> Session {
        let journal = scratch + "/journal.datagrams"
        var lines = [
            "set -u",
            "mount -t tmpfs -o mode=0755 tmpfs /run || exit 90",
            "mkdir -p /run/systemd/journal",
            "python3 \(quoted(script)) listen \(socket) \(quoted(journal)) 60 &",
            "listener=$!",
            "i=0; while [ ! -S \(socket) ]; do sleep 0.01; i=$((i+1)); [ $i -lt 1000 ] || exit 91; done",
        ]
        for (index, command) in commands.enumerated() {
            let environment = command.failpoint.map { "SANITIZE_CLONE_FAILPOINT=\(quoted($0)) " } ?? ""
            let invocation = ([SanitizeClone.binary] + command.arguments).map(quoted).joined(separator: " ")
            lines.append("\(environment)\(invocation) >\(quoted("\(scratch)/out.\(index)")) 2>\(quoted("\(scratch)/err.\(index)")); echo $? >\(quoted("\(scratch)/rc.\(index)"))")
        }
        lines += ["python3 \(quoted(script)) mark \(socket)", "wait $listener"]
        let session = try HostCommand.run("unshare", ["--mount", "--propagation", "private", "sh", "-c", lines.joined(separator: "\n")])
        guard session.exitCode == 0 else { throw FixtureError("journal listener session failed: \(session)") }

        var results: [CommandResult] = []
        for (index, command) in commands.enumerated() {
            let code = Int32((try String(contentsOfFile: "\(scratch)/rc.\(index)", encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
            results.append(CommandResult(
                command: "(in a mount namespace) sanitize-clone " + command.arguments.joined(separator: " "),
                exitCode: code, signal: code > 128 ? code - 128 : nil,
                stdout: (try? String(contentsOfFile: "\(scratch)/out.\(index)", encoding: .utf8)) ?? "",
                stderr: (try? String(contentsOfFile: "\(scratch)/err.\(index)", encoding: .utf8)) ?? ""))
        }

        let bytes = Array(FileManager.default.contents(atPath: journal) ?? Data())
        var datagrams: [[UInt8]] = []
        var offset = 0
        while offset + 8 <= bytes.count {
            let length = bytes[offset..<(offset + 8)].reversed().reduce(0) { $0 << 8 | Int($1) }
            datagrams.append(Array(bytes[(offset + 8)..<(offset + 8 + length)]))
            offset += 8 + length
        }
        return Session(datagrams: datagrams, entries: try datagrams.map(JournalEntry.init(datagram:)), results: results)
    }
}

@testable import SanitizeCloneKit

/// A run's journal as `status`, `rollback` and recovery read it.
///
/// The input is the journal's JSON records, one a line: the harness tags each line with this
/// machine's key for the scratch root and run (as a journal this machine wrote), so the fuzzer
/// reaches the JSON and the undo actions past the tag. A line starting with `~` is written
/// without a tag, as a planted or damaged record would be.
enum JournalFuzzing {
    static let runID = "20260101-000000-fuzz"
    static let trust = JournalTrust(key: Array(repeating: 0x5a, count: 32), binding: "root:" + FuzzRoot.shared.path,
                                    undoKinds: UndoKinds(TaskRegistry.all.flatMap(\.undoKinds)))

    static func feed(_ bytes: [UInt8]) {
        let lines = bytes.split(separator: 0x0a, omittingEmptySubsequences: false).map { tagged(Array($0)) }
        for (number, line) in lines.enumerated() {
            _ = try? JournalRecord.decode(line: Substring(decoding: line, as: UTF8.self), journal: "journal", number: number + 1,
                                          trust: trust, runID: runID)
        }
        let scratch = FuzzRoot.shared
        scratch.write(RootPath.join(RootPath.join(StateDirectory.runsPath, runID), "journal"), Array(lines.joined(separator: [0x0a])))
        guard case .recorded(let run)? = try? StateDirectory.read(runID, in: scratch.root, trust: trust) else { return }
        _ = (run.outcome, run.mode, run.startedAt, run.appliedTasks, run.failure, run.fingerprintsAfterRun, run.incompleteDetail)
        for entry in run.undoEntries {
            _ = entry.action.summary(kinds: trust.undoKinds)
            _ = StorageIdentityUndo.change(in: entry.action)
        }
    }

    /// `line` as this machine writes it (`<tag> <JSON>`), or without the `~` and untagged; an
    /// empty line stays empty.
    static func tagged(_ line: [UInt8]) -> [UInt8] {
        if line.isEmpty { return line }
        if line.first == UInt8(ascii: "~") { return Array(line.dropFirst()) }
        guard let tag = try? trust.tag(runID: runID, json: line) else { return line }
        return Array((tag + " ").utf8) + line
    }
}

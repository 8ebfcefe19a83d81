@testable import SanitizeCloneKit

/// The tag this machine gives a journal record of a fixture root: tests that forge what only
/// this machine could write (a record edited after the fact) re-tag it with the host's key.
enum JournalTags {
    /// The trust a run on `root` has (this machine's key, the root's canonical path).
    static func trust(for root: FixtureRoot) throws -> JournalTrust {
        let directory = try RootDirectory(path: root.path)
        return JournalTrust(key: try JournalKey.load(), binding: try JournalTrust.binding(of: directory),
                            undoKinds: UndoKinds(TaskRegistry.all.flatMap(\.undoKinds)))
    }

    /// `json` as a journal line of run `id` of `root`, tagged as this machine would.
    static func line(_ json: String, run id: String, of root: FixtureRoot) throws -> String {
        try trust(for: root).tag(runID: id, json: Array(json.utf8)) + " " + json
    }
}

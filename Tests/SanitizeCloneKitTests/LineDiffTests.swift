import Foundation
@testable import SanitizeCloneKit
import Testing

/// The dry run's diffs must be real unified diffs: patch(1) turns the old file into the new one.
@Suite("LineDiff")
struct LineDiffTests {
    struct Edit: Sendable, CustomTestStringConvertible {
        let words: String
        let old: String
        let new: String
        var testDescription: String { words }
    }

    static let numbered = (1...30).map { "line \($0)\n" }.joined()
    static let long = (1...200_000).map { "line \($0)\n" }.joined()

    static let edits = [
        Edit(words: "one line replaced", old: "127.0.0.1 localhost\n127.0.1.1 golden\n::1 localhost\n",
             new: "127.0.0.1 localhost\n127.0.1.1 web\n::1 localhost\n"),
        Edit(words: "a line added at the end", old: "a\nb\n", new: "a\nb\nc\n"),
        Edit(words: "a line removed at the top", old: "a\nb\nc\n", new: "b\nc\n"),
        Edit(words: "a line inserted into an empty file", old: "", new: "only\n"),
        Edit(words: "two changes far apart make two hunks", old: numbered,
             new: numbered.replacingOccurrences(of: "line 2\n", with: "line two\n").replacingOccurrences(of: "line 28\n", with: "line 28\nline 28b\n")),
        Edit(words: "two changes close together share a hunk", old: numbered,
             new: numbered.replacingOccurrences(of: "line 10\n", with: "").replacingOccurrences(of: "line 14\n", with: "line fourteen\n")),
        Edit(words: "one line changed deep inside 200,000 lines (the common start and end are not compared)", old: long,
             new: long.replacingOccurrences(of: "\nline 150000\n", with: "\nline 150000 changed\n")),
        Edit(words: "one line become 1,000,000 (lopsided)", old: "first\n", new: "first\n" + String(repeating: "added\n", count: 1_000_000)),
    ]

    @Test("patch(1) applies the diff and gets the new text", .enabled(if: HostCommand.isAvailable("patch"), "patch(1) is not installed (apt-get install patch)"),
          arguments: edits)
    func patchApplies(_ edit: Edit) throws {
        let diff = LineDiff.unified(old: edit.old, new: edit.new, path: "/etc/hosts")
        #expect(diff.hasPrefix("--- a/etc/hosts\n+++ b/etc/hosts\n@@ "), "\(diff)")

        let directory = try Scratch.makeDirectory(prefix: "diff")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try edit.old.write(toFile: directory + "/old", atomically: false, encoding: .utf8)
        try diff.write(toFile: directory + "/diff", atomically: false, encoding: .utf8)
        let patch = try HostCommand.run("patch", ["--quiet", "--force", "-o", directory + "/patched", directory + "/old", directory + "/diff"])
        #expect(patch.exitCode == 0, "\(patch)\n\(diff)")
        #expect((try? String(contentsOfFile: directory + "/patched", encoding: .utf8)) == edit.new, "\(diff)")
    }

    @Test("a middle too large to compare is summarised, never a table of gigabytes: 3,000 lines against 3,000 others")
    func tooLargeIsSummarised() {
        let old = (1...3000).map { "old \($0)\n" }.joined(), new = (1...3000).map { "new \($0)\n" }.joined()
        #expect(LineDiff.unified(old: old, new: new, path: "/etc/hosts") == "--- /etc/hosts\n+++ /etc/hosts\n(3000 → 3000 lines; too large to show)\n")
        let lopsided = LineDiff.unified(old: "a\n", new: String(repeating: "b\n", count: 4_000_000), path: "/etc/hosts")
        #expect(lopsided.hasSuffix("(1 → 4000000 lines; too large to show)\n"), "\(lopsided.prefix(200))")
    }

    @Test("equal texts give no diff")
    func equalTexts() {
        #expect(LineDiff.unified(old: "same\n", new: "same\n", path: "/etc/hosts") == "")
    }

    @Test("a one-line change shows the line removed and the line added, with context")
    func readable() {
        let diff = LineDiff.unified(old: "a\nb\nc\n", new: "a\nB\nc\n", path: "/etc/hostname")
        let body = diff.split(separator: "\n").dropFirst(2)
        #expect(body.first == "@@ -1,3 +1,3 @@", "\(diff)")
        #expect(Set(body.dropFirst()) == [" a", "-b", "+B", " c"], "\(diff)")
    }
}

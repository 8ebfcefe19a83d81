/// A unified diff of two small text files, for the dry-run's "what would change" view.
public enum LineDiff {
    /// The unified diff of `old` and `new` (`---`/`+++` headers naming `path`, 3 lines of
    /// context), or an empty string when they are equal. Files over 4000 lines are summarised.
    public static func unified(old: String, new: String, path: String, context: Int = 3) -> String {
        if old == new { return "" }
        let a = lines(old), b = lines(new)
        guard a.count * b.count <= 16_000_000 else {
            return "--- \(path)\n+++ \(path)\n(\(a.count) → \(b.count) lines; too large to show)\n"
        }
        let script = editScript(a, b)
        var output = "--- a\(path)\n+++ b\(path)\n"
        var index = 0
        while index < script.count {
            guard let firstChange = script[index...].firstIndex(where: { $0.kind != .same }) else { break }
            let start = max(firstChange - context, index)
            var end = firstChange
            var lastChange = firstChange
            while end < script.count {
                if script[end].kind != .same { lastChange = end }
                if end - lastChange > 2 * context { break }
                end += 1
            }
            let stop = min(lastChange + context + 1, script.count)
            let hunk = script[start..<stop]
            let oldStart = hunk.first!.oldLine, newStart = hunk.first!.newLine
            let oldCount = hunk.filter { $0.kind != .added }.count
            let newCount = hunk.filter { $0.kind != .removed }.count
            output += "@@ -\(oldStart + (oldCount == 0 ? 0 : 1)),\(oldCount) +\(newStart + (newCount == 0 ? 0 : 1)),\(newCount) @@\n"
            for step in hunk {
                switch step.kind {
                case .same: output += " \(step.text)\n"
                case .removed: output += "-\(step.text)\n"
                case .added: output += "+\(step.text)\n"
                }
            }
            index = stop
        }
        return output
    }

    private struct Step {
        enum Kind { case same, removed, added }
        var kind: Kind
        var text: Substring
        var oldLine: Int
        var newLine: Int
    }

    private static func lines(_ text: String) -> [Substring] {
        var result = text.split(separator: "\n", omittingEmptySubsequences: false)
        if result.last == "" { result.removeLast() }
        return result
    }

    /// Longest-common-subsequence edit script (fine for the small files we diff).
    private static func editScript(_ a: [Substring], _ b: [Substring]) -> [Step] {
        let n = a.count, m = b.count
        var table = [[Int32]](repeating: [Int32](repeating: 0, count: m + 1), count: n + 1)
        for i in stride(from: n - 1, through: 0, by: -1) {
            for j in stride(from: m - 1, through: 0, by: -1) {
                table[i][j] = a[i] == b[j] ? table[i + 1][j + 1] + 1 : max(table[i + 1][j], table[i][j + 1])
            }
        }
        var steps: [Step] = []
        var i = 0, j = 0
        while i < n || j < m {
            if i < n, j < m, a[i] == b[j] {
                steps.append(Step(kind: .same, text: a[i], oldLine: i, newLine: j)); i += 1; j += 1
            } else if i < n, j == m || table[i + 1][j] >= table[i][j + 1] {
                steps.append(Step(kind: .removed, text: a[i], oldLine: i, newLine: j)); i += 1
            } else {
                steps.append(Step(kind: .added, text: b[j], oldLine: i, newLine: j)); j += 1
            }
        }
        return steps
    }
}

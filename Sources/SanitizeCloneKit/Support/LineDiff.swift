/// A unified diff of two small text files, for the dry-run's "what would change" view.
public enum LineDiff {
    /// The unified diff of `old` and `new` (`---`/`+++` headers naming `path`, 3 lines of
    /// context), or an empty string when they are equal. Lines the two share at the start and the
    /// end cost nothing; when what lies between them would need a table of more than 4 million
    /// cells (16 MiB), the change is summarised instead.
    public static func unified(old: String, new: String, path: String, context: Int = 3) -> String {
        if old == new { return "" }
        let a = lines(old), b = lines(new)
        guard let script = editScript(a, b) else {
            return "--- \(path)\n+++ \(path)\n(\(a.count) → \(b.count) lines; too large to show)\n"
        }
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

    /// The most cells the comparison table of the differing middle may have.
    static let tableLimit = 4_000_000

    /// Longest-common-subsequence edit script over the lines between the common start and end,
    /// or nil when that middle is too large to compare.
    private static func editScript(_ a: [Substring], _ b: [Substring]) -> [Step]? {
        var prefix = 0
        while prefix < a.count, prefix < b.count, a[prefix] == b[prefix] { prefix += 1 }
        var suffix = 0
        while suffix < a.count - prefix, suffix < b.count - prefix, a[a.count - 1 - suffix] == b[b.count - 1 - suffix] { suffix += 1 }
        let n = a.count - prefix - suffix, m = b.count - prefix - suffix
        let (cells, overflow) = (n + 1).multipliedReportingOverflow(by: m + 1)
        guard !overflow, cells <= tableLimit else { return nil }

        var steps: [Step] = []
        steps.reserveCapacity(a.count + m)
        for line in 0..<prefix { steps.append(Step(kind: .same, text: a[line], oldLine: line, newLine: line)) }
        // table[i * (m + 1) + j]: the length of the longest common subsequence of the middles from i and j on.
        var table = [Int32](repeating: 0, count: (n + 1) * (m + 1))
        for i in stride(from: n - 1, through: 0, by: -1) {
            for j in stride(from: m - 1, through: 0, by: -1) {
                table[i * (m + 1) + j] = a[prefix + i] == b[prefix + j]
                    ? table[(i + 1) * (m + 1) + j + 1] + 1
                    : max(table[(i + 1) * (m + 1) + j], table[i * (m + 1) + j + 1])
            }
        }
        var i = 0, j = 0
        while i < n || j < m {
            let old = prefix + i, new = prefix + j
            if i < n, j < m, a[old] == b[new] {
                steps.append(Step(kind: .same, text: a[old], oldLine: old, newLine: new)); i += 1; j += 1
            } else if i < n, j == m || table[(i + 1) * (m + 1) + j] >= table[i * (m + 1) + j + 1] {
                steps.append(Step(kind: .removed, text: a[old], oldLine: old, newLine: new)); i += 1
            } else {
                steps.append(Step(kind: .added, text: b[new], oldLine: old, newLine: new)); j += 1
            }
        }
        for offset in 0..<suffix {
            let old = a.count - suffix + offset, new = b.count - suffix + offset
            steps.append(Step(kind: .same, text: a[old], oldLine: old, newLine: new))
        }
        return steps
    }
}

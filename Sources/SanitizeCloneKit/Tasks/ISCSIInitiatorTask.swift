/// Gives the clone its own iSCSI initiator name: two initiators with one IQN log each other's
/// sessions out. `/etc/iscsi/initiatorname.iscsi` keeps its prefix (`iqn.1993-08.org.debian:01:`)
/// and gets a new random suffix of the same length.
public struct ISCSIInitiatorTask: SanitizeTask {
    /// What `plan` decided and `apply` carries out.
    public struct Decision: Sendable {
        let contents: String
        let attributes: FileAttributes
        let name: String
    }

    static let path = "/etc/iscsi/initiatorname.iscsi"

    public let name = "iscsi-initiator"
    public let summary = "Give the clone its own iSCSI initiator name (same prefix, new suffix)"

    public init() {}

    public func plan(in context: PlanningContext) throws -> TaskPlan<Decision> {
        guard let text = try context.root.readText(Self.path), let status = try context.root.followedStatus(of: Self.path) else {
            return .skip("no \(Self.path) in this root (open-iscsi is not installed)")
        }
        guard let renamed = try Self.renamed(text, newSuffix: { length in
            String(Hex.encode(try RandomBytes.generate((length + 1) / 2)).prefix(length))
        }) else {
            return .skip("\(Self.path) names no initiator (a template may leave it for open-iscsi to generate)")
        }
        let (old, new, contents) = renamed
        return TaskPlan(changes: [Change(path: Self.path, action: "write", old: old, new: new,
                                         diff: LineDiff.unified(old: text, new: contents, path: Self.path))],
                        decision: Decision(contents: contents, attributes: FileAttributes(of: status), name: new))
    }

    /// `text` (an initiatorname.iscsi, untrusted) with the unique part of its `InitiatorName=`
    /// — what follows the last ':' — replaced by `newSuffix(length)` (at least 12 characters, as
    /// long as the old one), every other line kept; nil when it names no initiator. Throws when
    /// the name is not an `iqn.` name with a ':'.
    static func renamed(_ text: String, newSuffix: (Int) throws -> String) throws -> (old: String, new: String, contents: String)? {
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map(String.init)
        guard let index = lines.firstIndex(where: { $0.trimmingWhitespace().hasPrefix("InitiatorName=") }) else { return nil }
        let old = String(lines[index].trimmingWhitespace().dropFirst("InitiatorName=".count))
        guard old.hasPrefix("iqn."), let colon = old.lastIndex(of: ":") else {
            throw InputError("\(path): InitiatorName=\(old) is not an iqn. name with a ':' before its unique part (fix the file or skip the task with --skip iscsi-initiator)")
        }
        let length = max(old.distance(from: colon, to: old.endIndex) - 1, 12)
        let new = String(old[...colon]) + (try newSuffix(length))
        lines[index] = "InitiatorName=\(new)"
        return (old, new, lines.joined(separator: "\n"))
    }

    public func apply(_ decision: Decision, in context: ApplyContext) throws {
        try context.root.writeFileAtomically(Self.path, contents: Array(decision.contents.utf8), attributes: decision.attributes)
        try context.changeApplied(0)
    }

    public func verify(_ decision: Decision, in context: ApplyContext) throws {
        guard try context.root.readText(Self.path)?.contains("InitiatorName=\(decision.name)") == true else {
            throw VerificationError("\(Self.path) does not name \(decision.name)")
        }
    }
}

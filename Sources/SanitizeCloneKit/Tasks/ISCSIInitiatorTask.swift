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
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map(String.init)
        guard let index = lines.firstIndex(where: { $0.trimmingWhitespace().hasPrefix("InitiatorName=") }) else {
            return .skip("\(Self.path) names no initiator (a template may leave it for open-iscsi to generate)")
        }
        let old = String(lines[index].trimmingWhitespace().dropFirst("InitiatorName=".count))
        guard old.hasPrefix("iqn."), let colon = old.lastIndex(of: ":") else {
            throw InputError("\(Self.path): InitiatorName=\(old) is not an iqn. name with a ':' before its unique part (fix the file or skip the task with --skip \(name))")
        }
        let prefix = old[...colon]
        let length = max(old.distance(from: colon, to: old.endIndex) - 1, 12)
        let suffix = String(Hex.encode(try RandomBytes.generate((length + 1) / 2)).prefix(length))
        let new = String(prefix) + suffix
        lines[index] = "InitiatorName=\(new)"
        let contents = lines.joined(separator: "\n")
        return TaskPlan(changes: [Change(path: Self.path, action: "write", old: old, new: new,
                                         diff: LineDiff.unified(old: text, new: contents, path: Self.path))],
                        decision: Decision(contents: contents, attributes: FileAttributes(of: status), name: new))
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

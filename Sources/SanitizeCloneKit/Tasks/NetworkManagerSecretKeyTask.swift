/// Regenerates NetworkManager's `secret_key`, from which it derives stable-privacy IPv6
/// addresses (RFC 7217) and stable MAC addresses: clones sharing it share those too.
public struct NetworkManagerSecretKeyTask: SanitizeTask {
    /// What `plan` decided and `apply` carries out.
    public struct Decision: Sendable {
        let size: Int
        let attributes: FileAttributes
    }

    static let path = "/var/lib/NetworkManager/secret_key"

    public let name = "nm-secret-key"
    public let summary = "Regenerate NetworkManager's secret_key (stable-privacy IPv6 addresses derive from it)"

    public init() {}

    public func plan(in context: PlanningContext) throws -> TaskPlan<Decision> {
        guard let status = try context.root.regularFileStatus(of: Self.path) else {
            return .skip("no NetworkManager secret_key in this root")
        }
        // NetworkManager writes 32 random bytes; an older, longer key keeps its length.
        var attributes = FileAttributes(of: status)
        attributes.mode = 0o600
        return TaskPlan(changes: [Change(path: Self.path, action: "write", old: "<secret>", new: "<secret>", isSecret: true)],
                        decision: Decision(size: max(Int(status.size), 32), attributes: attributes))
    }

    public func apply(_ decision: Decision, in context: ApplyContext) throws {
        try context.root.writeFileAtomically(Self.path, contents: try RandomBytes.generate(decision.size), attributes: decision.attributes)
        try context.changeApplied(0)
    }

    public func verify(_ decision: Decision, in context: ApplyContext) throws {
        guard let status = try context.root.followedStatus(of: Self.path), status.size == decision.size, status.mode == 0o600 else {
            throw VerificationError("\(Self.path) is not a \(decision.size)-byte 0600 key")
        }
    }
}

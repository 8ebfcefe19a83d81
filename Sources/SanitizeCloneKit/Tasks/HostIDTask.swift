/// Regenerates `/etc/hostid` (gethostid(3): ZFS pools and some licence checks read it) when the
/// template has one: four random bytes, never zero.
public struct HostIDTask: SanitizeTask {
    /// What `plan` decided and `apply` carries out.
    public struct Decision: Sendable {
        let value: [UInt8]
        let attributes: FileAttributes
    }

    static let path = "/etc/hostid"

    public let name = "hostid"
    public let summary = "Regenerate /etc/hostid when present"

    public init() {}

    public func plan(in context: PlanningContext) throws -> TaskPlan<Decision> {
        guard let old = try context.root.readFile(Self.path), let status = try context.root.followedStatus(of: Self.path) else {
            return .skip("no /etc/hostid in this root")
        }
        var value = try RandomBytes.generate(4)
        while value == [0, 0, 0, 0] || value == old { value = try RandomBytes.generate(4) }
        return TaskPlan(changes: [Change(path: Self.path, action: "write", old: Self.display(old), new: Self.display(value))],
                        decision: Decision(value: value, attributes: FileAttributes(of: status)))
    }

    /// The id as `hostid(1)` prints it (the bytes are a little-endian 32-bit number).
    static func display(_ bytes: [UInt8]) -> String {
        guard bytes.count == 4 else { return "(\(bytes.count) bytes)" }
        return Hex.encode(bytes.reversed())
    }

    public func apply(_ decision: Decision, in context: ApplyContext) throws {
        try context.root.writeFileAtomically(Self.path, contents: decision.value, attributes: decision.attributes)
        try context.changeApplied(0)
    }

    public func verify(_ decision: Decision, in context: ApplyContext) throws {
        guard try context.root.readFile(Self.path) == decision.value else {
            throw VerificationError("\(Self.path) does not hold the new id")
        }
    }
}

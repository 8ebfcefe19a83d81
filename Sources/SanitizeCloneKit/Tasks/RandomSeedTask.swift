/// Refills the saved random seed, so clones do not start their entropy pool from the template's.
///
/// `/var/lib/systemd/random-seed` (and sysvinit's `/var/lib/urandom/random-seed`) get fresh bytes
/// from the kernel's generator, the same size and mode, and are never marked creditable: the
/// `user.random-seed-creditable` extended attribute is dropped, since a cloned seed must not be
/// credited (systemd mixes the machine-id in first, so the new id helps too).
public struct RandomSeedTask: SanitizeTask {
    /// What `plan` decided and `apply` carries out.
    public struct Decision: Sendable {
        let seeds: [(path: String, size: Int, attributes: FileAttributes)]
    }

    static let paths = ["/var/lib/systemd/random-seed", "/var/lib/urandom/random-seed"]
    static let creditableAttribute = "user.random-seed-creditable"

    public let name = "random-seed"
    public let summary = "Refill the saved random seed from the kernel's generator (never creditable)"

    public init() {}

    public func plan(in context: PlanningContext) throws -> TaskPlan<Decision> {
        var seeds: [(path: String, size: Int, attributes: FileAttributes)] = []
        var changes: [Change] = []
        for path in Self.paths {
            guard let status = try context.root.regularFileStatus(of: path) else { continue }
            var attributes = FileAttributes(of: status)
            var extended = try context.root.extendedAttributes(of: path)
            extended.removeValue(forKey: Self.creditableAttribute)
            attributes.extendedAttributes = extended
            // An empty or tiny seed is refilled at systemd's usual size.
            let size = max(Int(status.size), 512)
            seeds.append((path, size, attributes))
            changes.append(Change(path: path, action: "write", old: "<secret>", new: "<secret>", isSecret: true))
        }
        guard !seeds.isEmpty else { return .skip("no saved random seed in this root") }
        return TaskPlan(changes: changes, decision: Decision(seeds: seeds))
    }

    public func apply(_ decision: Decision, in context: ApplyContext) throws {
        for (index, seed) in decision.seeds.enumerated() {
            try context.root.writeFileAtomically(seed.path, contents: try RandomBytes.generate(seed.size), attributes: seed.attributes)
            try context.changeApplied(index)
        }
    }

    public func verify(_ decision: Decision, in context: ApplyContext) throws {
        for seed in decision.seeds {
            guard try context.root.readFile(seed.path)?.count == seed.size else {
                throw VerificationError("\(seed.path) does not hold a \(seed.size)-byte seed")
            }
            if try context.root.extendedAttributes(of: seed.path)[Self.creditableAttribute] != nil {
                throw VerificationError("\(seed.path) is still marked creditable")
            }
        }
    }
}

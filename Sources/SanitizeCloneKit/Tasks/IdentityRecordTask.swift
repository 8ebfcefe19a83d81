/// Marks a sealed root's identity record as done when a manual run (`run --root`, `run --image`,
/// or by hand on the running system) gives it its identity, so that the clone's first boot does
/// not give it another one (and lose a `--hostname` given here): the boot service then finds the
/// record unsealed, records the machine it runs on, and changes nothing.
///
/// The template's part of the record stays, so `verify` still compares with the template. The
/// machine part becomes what this run knows of the machine the root belongs to (`--product-uuid`,
/// `--nic`, or the running system's); with nothing known it is left empty for the first boot to
/// fill in. The boot service's own run updates the record itself, so this task skips there.
public struct IdentityRecordTask: SanitizeTask {
    /// What `plan` decided and `apply` carries out.
    public struct Decision: Sendable {
        let record: RecordedIdentity
    }

    public let name = "identity-record"
    public let summary = "Mark a sealed template's record as done, so the clone's first boot changes nothing more (manual runs)"

    public init() {}

    public func plan(in context: PlanningContext) throws -> TaskPlan<Decision> {
        guard context.options.mode == .manual else { return .skip("the boot service updates the record after its run") }
        guard var record = try RecordedIdentity.load(from: context.root) else {
            return .skip("no identity recorded (the template was not sealed)")
        }
        guard record.sealed else { return .skip("\(RecordedIdentity.path) is not sealed") }
        record.machine = RecordedIdentity.Fingerprint(of: PlatformFacts(productUUID: context.productUUID,
                                                                        interfaces: try context.currentInterfaces() ?? []))
        record.sealed = false
        record.recordedAt = Clock.nowMilliseconds()
        let known = !record.machine.isEmpty
        return TaskPlan(changes: [Change(path: RecordedIdentity.path, action: "write", old: "sealed",
                                         new: known ? "sanitized, on the machine given" : "sanitized; the first boot records the machine")],
                        decision: Decision(record: record),
                        notes: ["the clone's first boot will find this root sanitized and change nothing more"])
    }

    public func apply(_ decision: Decision, in context: ApplyContext) throws {
        try decision.record.save(to: context.root)
        try context.changeApplied(0)
    }

    public func verify(_ decision: Decision, in context: ApplyContext) throws {
        guard let record = try RecordedIdentity.load(from: context.root), !record.sealed else {
            throw VerificationError("\(RecordedIdentity.path) still says the template is sealed")
        }
    }
}

/// Decides whether this machine is a clone of the template its root records.
///
/// The DMI product UUID decides when the platform has one (compared case-insensitively, either
/// byte order). Only without it do the permanent MACs decide: a clone has none of the recorded
/// NICs. A NIC added or replaced, a disk added, a migration: not a clone.
public struct CloneDetector: Sendable {
    /// The verdict and why.
    public enum Verdict: String, Sendable {
        /// The template was sealed: its first boot as a clone.
        case sealed
        /// A clone of the recorded machine.
        case clone
        /// The recorded machine itself (or the same machine changed a little).
        case sameMachine = "same-machine"
        /// Nothing recorded yet: this is the template's own boot; record it.
        case unrecorded
    }

    public let recorded: RecordedIdentity?
    public let platform: PlatformFacts

    public init(recorded: RecordedIdentity?, platform: PlatformFacts) {
        self.recorded = recorded
        self.platform = platform
    }

    /// The verdict with its reasons, one line each.
    public func decide(machineIDUninitialized: Bool = false) -> (verdict: Verdict, reasons: [String]) {
        if machineIDUninitialized {
            return (.sealed, ["/etc/machine-id is 'uninitialized': the template was sealed"])
        }
        guard let recorded else {
            return (.unrecorded, ["no identity recorded in \(RecordedIdentity.path): this is taken to be the template itself"])
        }
        if recorded.sealed {
            return (.sealed, ["\(RecordedIdentity.path) says the template was sealed"])
        }
        if let now = platform.productUUID, let then = recorded.machine.productUUID {
            if ProductUUID.same(now, then) {
                return (.sameMachine, ["DMI product UUID \(now) is the recorded one"])
            }
            return (.clone, ["DMI product UUID \(now) differs from the recorded \(then)"])
        }
        let recordedMACs = Set(recorded.machine.macs)
        let currentMACs = Set(platform.permanentMACs)
        var reasons = [platform.productUUID == nil ? "the platform has no DMI product UUID: the permanent MACs decide"
                                                    : "no product UUID was recorded: the permanent MACs decide"]
        if recordedMACs.isEmpty || currentMACs.isEmpty {
            reasons.append("no NICs to compare (recorded \(recordedMACs.count), present \(currentMACs.count)): not treated as a clone")
            return (.sameMachine, reasons)
        }
        if recordedMACs.isDisjoint(with: currentMACs) {
            reasons.append("none of the recorded NICs (\(recordedMACs.sorted().joined(separator: ", "))) is present")
            return (.clone, reasons)
        }
        let added = currentMACs.subtracting(recordedMACs), removed = recordedMACs.subtracting(currentMACs)
        if !added.isEmpty || !removed.isEmpty {
            reasons.append("some recorded NICs are still present (added \(added.sorted().joined(separator: ", ")), gone \(removed.sorted().joined(separator: ", "))): a NIC change, not a clone")
        } else {
            reasons.append("the recorded NICs are present")
        }
        return (.sameMachine, reasons)
    }
}

/// The identities a `run --image` gave the image's partitions, confirmed from the image file
/// itself once the run's loop devices are detached.
///
/// What the run's own devices show is no proof: a write can sit in a device's page cache, where
/// `blkid -p` sees it, and never reach the file (a tool that does not sync, then a detach that
/// drops the cache), or reach the file through another path than the one blkid reads. So a
/// change counts only once a fresh, read-only attachment of the image (new loop devices, with
/// nothing cached) shows it. Partitions are matched by their offset and size in the image, and so
/// are the LVs inside its LVM PVs: the fresh attachment finds them again from the VG metadata the
/// image file holds, at the same byte ranges.
struct ImageReadBack {
    /// One partition the run changed: its identity before the run and as the run left it.
    struct Expectation: Sendable {
        let partition: AttachedDiskImage.Partition
        let before: BlockDeviceIdentity?
        let after: BlockDeviceIdentity
    }

    let image: String
    let expectations: [Expectation]

    /// The partitions of `attached` whose identity (type, UUID) differs from `before` (the probe
    /// made when the image was attached), as its devices show them now. Runs `blkid -p` on each
    /// partition; throws like `BlockDeviceIdentity.probe(_:)`.
    init(image: String, attached: AttachedDiskImage, before: [BlockDeviceIdentity]) throws {
        self.image = image
        var expectations: [Expectation] = []
        for partition in attached.partitions {
            guard let now = try BlockDeviceIdentity.probe(partition.device) else { continue }
            let earlier = before.first { $0.device == partition.device }
            if let earlier, Self.sameIdentity(earlier, now) { continue }
            expectations.append(Expectation(partition: partition, before: earlier, after: now))
        }
        self.expectations = expectations
    }

    /// Attaches the image again, read-only, and probes every changed partition through its new
    /// loop device; detaches it again.
    ///
    /// Throws `ImageReadBackError` naming the first partition whose identity differs (with the
    /// flushes that failed at the detach, `flushFailures`, as the likely reason); what attaching
    /// throws when the image cannot be attached again.
    func confirm(flushFailures: [SystemError] = []) throws {
        guard !expectations.isEmpty else { return }
        // Our devices are gone once the last process that opened them lets go.
        _ = try AttachedDiskImage.waitUntilDetached(image)
        let fresh = try AttachedDiskImage(image: image, readOnly: true)
        defer { fresh.detach() }
        for expected in expectations {
            let partition = fresh.partitions.first { $0.offset == expected.partition.offset && $0.size == expected.partition.size }
            let found = try partition.flatMap { try BlockDeviceIdentity.probe($0.device) }
            guard let found, Self.sameIdentity(found, expected.after) else {
                throw ImageReadBackError(image: image, expected: expected, found: found,
                                         flushFailures: flushFailures.map(\.description))
            }
        }
    }

    /// Same type and UUID (hex digits compared without regard to case: vfat serials are upper case).
    static func sameIdentity(_ first: BlockDeviceIdentity, _ second: BlockDeviceIdentity) -> Bool {
        first.type == second.type && first.uuid?.lowercased() == second.uuid?.lowercased()
    }
}

/// A partition of the image does not hold the identity the run gave it once the run's devices
/// were detached; the run was rolled back (exit 1).
public struct ImageReadBackError: Error, CustomStringConvertible, Sendable {
    let image: String
    let partition: String
    let expected: String
    let found: String
    let flushFailures: [String]
    /// Set when rolling the run back failed too.
    var rollbackFailure: String?

    init(image: String, expected: ImageReadBack.Expectation, found: BlockDeviceIdentity?, flushFailures: [String]) {
        self.image = image
        let part = expected.partition
        partition = "\(part.name) (\(part.device) during the run, \(expected.after.type) at byte \(part.offset))"
        self.expected = expected.after.uuid ?? "no UUID"
        self.found = found.map { "\($0.type.isEmpty ? "no filesystem" : $0.type) with UUID \($0.uuid ?? "none")" } ?? "no signature"
        self.flushFailures = flushFailures
    }

    public var description: String {
        let flushes = flushFailures.isEmpty ? "" : " (\(flushFailures.joined(separator: "; ")))"
        let outcome = rollbackFailure.map { "rolling the run back failed too: \($0)" } ?? "the run was rolled back"
        return "\(image): \(partition) should have UUID \(expected), but read back from the image file it holds \(found)\(flushes): \(outcome) (check the host's storage under \(image) with dmesg, then run again)"
    }
}

import Foundation
@testable import SanitizeCloneKit
import Testing

/// Clone detection as `run --auto` and `detect` decide it: the DMI product UUID when the platform
/// has one; only without it, the permanent MACs.
@Suite("clone detection")
struct CloneDetectorTests {
    static func recorded(uuid: String?, macs: [String], sealed: Bool = false) -> RecordedIdentity {
        RecordedIdentity(
            template: .init(machineID: FixtureRoot.templateMachineID, hostname: "golden", sshFingerprints: [], macs: macs, filesystemUUIDs: []),
            machine: .init(productUUID: uuid, macs: macs), sealed: sealed, recordedAt: 0)
    }

    static func platform(uuid: String?, macs: [String]) -> PlatformFacts {
        PlatformFacts(productUUID: uuid, interfaces: macs.enumerated().map { NetworkInterface(name: "ens\($0.offset + 3)", mac: $0.element) })
    }

    static func decide(recorded: RecordedIdentity?, now: PlatformFacts, uninitialized: Bool = false) -> (verdict: CloneDetector.Verdict, reasons: [String]) {
        CloneDetector(recorded: recorded, platform: now).decide(machineIDUninitialized: uninitialized)
    }

    @Test("the recorded product UUID: the same machine, even with every NIC replaced")
    func sameProductUUIDIsTheSameMachine() {
        let (verdict, reasons) = Self.decide(recorded: Self.recorded(uuid: BootFixture.templateUUID, macs: [BootFixture.templateMAC]),
                                             now: Self.platform(uuid: BootFixture.templateUUID, macs: [BootFixture.cloneMAC]))
        #expect(verdict == .sameMachine, "\(reasons)")
        #expect(reasons.contains { $0.contains(BootFixture.templateUUID) }, "\(reasons)")
    }

    @Test("another product UUID: a clone, even with the recorded MACs")
    func otherProductUUIDIsAClone() {
        let (verdict, reasons) = Self.decide(recorded: Self.recorded(uuid: BootFixture.templateUUID, macs: [BootFixture.templateMAC]),
                                             now: Self.platform(uuid: BootFixture.cloneUUID, macs: [BootFixture.templateMAC]))
        #expect(verdict == .clone)
        #expect(reasons.contains { $0.contains(BootFixture.cloneUUID) && $0.contains(BootFixture.templateUUID) }, "names both UUIDs: \(reasons)")
    }

    @Test("product UUIDs compare case-insensitively, and the byte-swapped first three groups are the same UUID",
          arguments: [BootFixture.templateUUID.uppercased(), BootFixture.templateUUIDByteSwapped, BootFixture.templateUUIDByteSwapped.uppercased()])
    func productUUIDForms(_ now: String) {
        let recorded = Self.recorded(uuid: BootFixture.templateUUID, macs: [BootFixture.templateMAC])
        #expect(Self.decide(recorded: recorded, now: Self.platform(uuid: now, macs: [BootFixture.cloneMAC])).verdict == .sameMachine)
        // And the other way round: recorded in the other form, read now as recorded first.
        let swappedRecord = Self.recorded(uuid: now, macs: [BootFixture.templateMAC])
        #expect(Self.decide(recorded: swappedRecord, now: Self.platform(uuid: BootFixture.templateUUID, macs: [])).verdict == .sameMachine)
    }

    @Test("without a product UUID, a clone has none of the recorded NICs")
    func noRecordedNICIsAClone() {
        let recorded = Self.recorded(uuid: nil, macs: [BootFixture.templateMAC, BootFixture.secondTemplateMAC])
        let (verdict, reasons) = Self.decide(recorded: recorded, now: Self.platform(uuid: nil, macs: [BootFixture.cloneMAC, BootFixture.secondCloneMAC]))
        #expect(verdict == .clone, "\(reasons)")
        #expect(reasons.contains { $0.contains("MACs decide") }, "\(reasons)")
        #expect(reasons.contains { $0.contains(BootFixture.templateMAC) && $0.contains("none of the recorded NICs") }, "\(reasons)")
    }

    @Test("without a product UUID, a NIC added is not a clone, and the reason names it")
    func addedNICIsNotAClone() {
        let recorded = Self.recorded(uuid: nil, macs: [BootFixture.templateMAC])
        let (verdict, reasons) = Self.decide(recorded: recorded, now: Self.platform(uuid: nil, macs: [BootFixture.templateMAC, BootFixture.cloneMAC]))
        #expect(verdict == .sameMachine, "\(reasons)")
        #expect(reasons.last?.contains("added \(BootFixture.cloneMAC)") == true && reasons.last?.contains("not a clone") == true, "\(reasons)")
    }

    @Test("without a product UUID, one of two NICs replaced is not a clone, and the reason names both")
    func replacedNICIsNotAClone() {
        let recorded = Self.recorded(uuid: nil, macs: [BootFixture.templateMAC, BootFixture.secondTemplateMAC])
        let (verdict, reasons) = Self.decide(recorded: recorded, now: Self.platform(uuid: nil, macs: [BootFixture.templateMAC, BootFixture.cloneMAC]))
        #expect(verdict == .sameMachine, "\(reasons)")
        let reason = reasons.last ?? ""
        #expect(reason.contains("added \(BootFixture.cloneMAC)") && reason.contains("gone \(BootFixture.secondTemplateMAC)"), "\(reasons)")
    }

    @Test("without a product UUID, the recorded NICs all present: the same machine")
    func sameNICsAreTheSameMachine() {
        let recorded = Self.recorded(uuid: nil, macs: [BootFixture.templateMAC])
        #expect(Self.decide(recorded: recorded, now: Self.platform(uuid: nil, macs: [BootFixture.templateMAC.uppercased()])).verdict == .sameMachine)
    }

    @Test("a product UUID now but none recorded: the MACs decide")
    func noRecordedProductUUIDFallsBackToMACs() {
        let recorded = Self.recorded(uuid: nil, macs: [BootFixture.templateMAC])
        let (verdict, reasons) = Self.decide(recorded: recorded, now: Self.platform(uuid: BootFixture.cloneUUID, macs: [BootFixture.cloneMAC]))
        #expect(verdict == .clone)
        #expect(reasons.first?.contains("no product UUID was recorded") == true, "\(reasons)")
        #expect(Self.decide(recorded: recorded, now: Self.platform(uuid: BootFixture.cloneUUID, macs: [BootFixture.templateMAC])).verdict == .sameMachine)
    }

    @Test("no NICs to compare and no product UUID: not treated as a clone")
    func nothingToCompareIsNotAClone() {
        let (verdict, reasons) = Self.decide(recorded: Self.recorded(uuid: nil, macs: []), now: Self.platform(uuid: nil, macs: [BootFixture.cloneMAC]))
        #expect(verdict == .sameMachine)
        #expect(reasons.last?.contains("no NICs to compare") == true, "\(reasons)")
    }

    @Test("nothing recorded: 'unrecorded', taken to be the template itself")
    func nothingRecorded() {
        let (verdict, reasons) = Self.decide(recorded: nil, now: Self.platform(uuid: BootFixture.cloneUUID, macs: [BootFixture.cloneMAC]))
        #expect(verdict == .unrecorded)
        #expect(verdict.rawValue == "unrecorded")
        #expect(reasons.first?.contains(RecordedIdentity.path) == true, "\(reasons)")
    }

    @Test("a machine-id of 'uninitialized', or a record that says so: sealed, whatever the platform says")
    func sealedComesFirst() {
        let unchanged = Self.platform(uuid: BootFixture.templateUUID, macs: [BootFixture.templateMAC])
        #expect(Self.decide(recorded: nil, now: unchanged, uninitialized: true).verdict == .sealed)
        #expect(Self.decide(recorded: Self.recorded(uuid: BootFixture.templateUUID, macs: [BootFixture.templateMAC]), now: unchanged, uninitialized: true).verdict == .sealed)
        let sealedRecord = Self.recorded(uuid: BootFixture.templateUUID, macs: [BootFixture.templateMAC], sealed: true)
        let (verdict, reasons) = Self.decide(recorded: sealedRecord, now: unchanged)
        #expect(verdict == .sealed)
        #expect(reasons.first?.contains("sealed") == true, "\(reasons)")
    }

    @Test("the permanent MACs of physical NICs count: a changed current MAC or a bridge makes no clone")
    func permanentMACsOfPhysicalNICs() {
        let facts = PlatformFacts(productUUID: nil, interfaces: [
            NetworkInterface(name: "ens4", mac: "02:00:00:00:00:99", permanentMAC: BootFixture.secondTemplateMAC.uppercased()),
            NetworkInterface(name: "ens3", mac: BootFixture.templateMAC),
            NetworkInterface(name: "br0", mac: "02:00:00:00:00:01", isPhysical: false),
        ])
        #expect(facts.permanentMACs == [BootFixture.templateMAC, BootFixture.secondTemplateMAC])
        let recorded = Self.recorded(uuid: nil, macs: [BootFixture.templateMAC, BootFixture.secondTemplateMAC])
        #expect(Self.decide(recorded: recorded, now: facts).verdict == .sameMachine)
        let virtualOnly = PlatformFacts(productUUID: nil, interfaces: [NetworkInterface(name: "veth0", mac: BootFixture.cloneMAC, isPhysical: false)])
        #expect(virtualOnly.permanentMACs == [BootFixture.cloneMAC], "all NICs count when none is physical")
    }
}

/// DMI product UUIDs as firmware reports them, and the machine-ids systemd derives from them
/// (which two clones started with one `-uuid` would share).
@Suite("product UUIDs and the machine-ids derived from them")
struct ProductUUIDTests {
    @Test("normalized: lowercase with dashes, from any case, without dashes, with sysfs's newline")
    func normalizedForms() {
        let expected = "01234567-89ab-cdef-0123-456789abcdef"
        for form in ["01234567-89AB-CDEF-0123-456789ABCDEF", "0123456789abcdef0123456789abcdef", " 01234567-89ab-cdef-0123-456789abcdef\n"] {
            #expect(ProductUUID.normalized(form) == expected, "\(form.debugDescription)")
        }
        #expect(PlatformFacts(productUUID: "01234567-89AB-CDEF-0123-456789ABCDEF\n", interfaces: []).productUUID == expected)
    }

    @Test("no product UUID: empty, all zeros, all ones or malformed values",
          arguments: ["", "00000000-0000-0000-0000-000000000000", "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
                      "Not Settable", "01234567-89ab-cdef-0123-456789abcde", "0123456g-89ab-cdef-0123-456789abcdef"])
    func noProductUUID(_ value: String) {
        #expect(ProductUUID.normalized(value) == nil)
        #expect(PlatformFacts(productUUID: value, interfaces: []).productUUID == nil)
        #expect(ProductUUID.derivedMachineIDs(value).isEmpty)
        #expect(!ProductUUID.same(value, value), "an absent UUID never matches")
    }

    @Test("byte-swapping reverses the bytes of the first three groups only, and twice is the identity")
    func byteSwapping() {
        #expect(ProductUUID.byteSwapped("01234567-89ab-cdef-0123-456789abcdef") == "67452301-ab89-efcd-0123-456789abcdef")
        #expect(ProductUUID.byteSwapped(ProductUUID.byteSwapped(BootFixture.templateUUID)) == BootFixture.templateUUID)
        #expect(ProductUUID.byteSwapped(BootFixture.templateUUID) == BootFixture.templateUUIDByteSwapped)
    }

    @Test("the same UUID: any case, either byte order; another UUID is not")
    func sameUUID() {
        #expect(ProductUUID.same(BootFixture.templateUUID, BootFixture.templateUUID.uppercased()))
        #expect(ProductUUID.same(BootFixture.templateUUIDByteSwapped.uppercased(), BootFixture.templateUUID))
        #expect(!ProductUUID.same(BootFixture.templateUUID, BootFixture.cloneUUID))
        // Swapping the last two groups is not a firmware byte order.
        #expect(!ProductUUID.same("01234567-89ab-cdef-0123-456789abcdef", "01234567-89ab-cdef-2301-efcdab896745"))
    }

    @Test("the derived machine-ids: both byte orders, dashes removed, lowercase")
    func derivedMachineIDs() {
        let ids = ProductUUID.derivedMachineIDs("01234567-89AB-CDEF-0123-456789ABCDEF")
        #expect(ids == ["0123456789abcdef0123456789abcdef", "67452301ab89efcd0123456789abcdef"])
        #expect(ids.allSatisfy { BootFixture.isMachineIDFile($0 + "\n") })
    }

    @Test("ids shared with other clones: the template's recorded id and both ids derived from the product UUID")
    func sharedMachineIDs() {
        let facts = BootFacts(templateMachineID: FixtureRoot.templateMachineID, productUUID: "01234567-89ab-cdef-0123-456789abcdef")
        #expect(facts.sharedMachineIDs == [FixtureRoot.templateMachineID, "0123456789abcdef0123456789abcdef", "67452301ab89efcd0123456789abcdef"])
        #expect(BootFacts(templateMachineID: nil, productUUID: "01234567-89AB-CDEF-0123-456789ABCDEF").sharedMachineIDs
                == ["0123456789abcdef0123456789abcdef", "67452301ab89efcd0123456789abcdef"])
        #expect(BootFacts(templateMachineID: FixtureRoot.templateMachineID, productUUID: nil).sharedMachineIDs == [FixtureRoot.templateMachineID])
        #expect(BootFacts(templateMachineID: nil, productUUID: nil).sharedMachineIDs.isEmpty)
        #expect(BootFacts(templateMachineID: nil, productUUID: "00000000-0000-0000-0000-000000000000").sharedMachineIDs.isEmpty)
    }
}

/// `detect` and `run --auto` decide from the facts given with `--root`: `--product-uuid` and `--nic NAME=MAC`.
@Suite("detect: the clone verdict on a root", .requiresFileOwnership)
struct DetectCommandTests {
    /// A Debian-like root whose identity `run --auto` recorded with these facts.
    static func recordedRoot(uuid: String?, macs: [String]) throws -> FixtureRoot {
        let root = try FixtureRoot.debianLike()
        do {
            let result = try SanitizeClone.json(["run", "--auto", "--root", root.path, "--json"] + BootFixture.platform(uuid: uuid, macs: macs))
            #expect(result["verdict"]?.string == "unrecorded", "\(result)")
        } catch {
            root.remove()
            throw error
        }
        return root
    }

    static func detect(_ root: FixtureRoot, uuid: String?, macs: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> JSONValue {
        try SanitizeClone.json(["detect", "--root", root.path, "--json"] + BootFixture.platform(uuid: uuid, macs: macs), sourceLocation: sourceLocation)
    }

    @Test("detect --json: virtualization {kind, name, evidence}, product_uuid, macs, verdict, reasons")
    func jsonShape() throws {
        let root = try Self.recordedRoot(uuid: BootFixture.templateUUID, macs: [BootFixture.templateMAC])
        defer { root.remove() }
        let detected = try Self.detect(root, uuid: BootFixture.cloneUUID.uppercased(), macs: [BootFixture.cloneMAC.uppercased(), BootFixture.templateMAC])

        let virtualization = try #require(detected["virtualization"]?.object, "\(detected)")
        #expect(Set(virtualization.keys) == ["kind", "name", "evidence"], "\(virtualization)")
        #expect(["vm", "container", "none"].contains(virtualization["kind"]?.string ?? ""), "\(virtualization)")
        #expect(virtualization["name"]?.string != nil || virtualization["name"]?.isNull == true)
        #expect(virtualization["evidence"]?.array?.isEmpty == false && virtualization["evidence"]?.array?.allSatisfy { $0.string != nil } == true)
        #expect(detected["product_uuid"]?.string == BootFixture.cloneUUID, "normalized to lowercase")
        #expect(detected["macs"]?.array?.compactMap(\.string) == [BootFixture.templateMAC, BootFixture.cloneMAC], "lowercase, sorted")
        #expect(detected["verdict"]?.string == "clone")
        #expect(detected["reasons"]?.array?.isEmpty == false && detected["reasons"]?.array?.allSatisfy { $0.string != nil } == true)
        #expect(Set(detected.object?.keys.map { $0 } ?? []) == ["virtualization", "product_uuid", "macs", "interfaces", "verdict", "reasons"])

        let text = try SanitizeClone.run(["detect", "--root", root.path] + BootFixture.platform(uuid: BootFixture.cloneUUID, macs: []))
        #expect(text.exitCode == 0 && text.stdout.contains("Verdict: clone") && text.stdout.contains("Virtualization:"), "\(text)")
    }

    /// One machine booting a recorded root, and the verdict an administrator expects.
    struct Case: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let recordedUUID: String?
        let recordedMACs: [String]
        let uuid: String?
        let macs: [String]
        let verdict: String
        /// Words the last reason holds.
        let because: [String]
    }

    static let cases: [Case] = [
        Case(testDescription: "the recorded product UUID, NICs replaced: same machine",
             recordedUUID: BootFixture.templateUUID, recordedMACs: [BootFixture.templateMAC],
             uuid: BootFixture.templateUUID, macs: [BootFixture.cloneMAC], verdict: "same-machine", because: ["is the recorded one"]),
        Case(testDescription: "the recorded product UUID in upper case: same machine",
             recordedUUID: BootFixture.templateUUID, recordedMACs: [BootFixture.templateMAC],
             uuid: BootFixture.templateUUID.uppercased(), macs: [BootFixture.templateMAC], verdict: "same-machine", because: ["is the recorded one"]),
        Case(testDescription: "the recorded product UUID byte-swapped: same machine",
             recordedUUID: BootFixture.templateUUID, recordedMACs: [BootFixture.templateMAC],
             uuid: BootFixture.templateUUIDByteSwapped, macs: [BootFixture.templateMAC], verdict: "same-machine", because: ["is the recorded one"]),
        Case(testDescription: "another product UUID, the recorded NICs: clone",
             recordedUUID: BootFixture.templateUUID, recordedMACs: [BootFixture.templateMAC],
             uuid: BootFixture.cloneUUID, macs: [BootFixture.templateMAC], verdict: "clone", because: ["differs from the recorded"]),
        Case(testDescription: "no product UUID, none of the recorded NICs: clone",
             recordedUUID: nil, recordedMACs: [BootFixture.templateMAC, BootFixture.secondTemplateMAC],
             uuid: nil, macs: [BootFixture.cloneMAC, BootFixture.secondCloneMAC], verdict: "clone", because: ["none of the recorded NICs"]),
        Case(testDescription: "no product UUID, a NIC added: same machine",
             recordedUUID: nil, recordedMACs: [BootFixture.templateMAC],
             uuid: nil, macs: [BootFixture.templateMAC, BootFixture.cloneMAC], verdict: "same-machine",
             because: ["added \(BootFixture.cloneMAC)", "not a clone"]),
        Case(testDescription: "no product UUID, one of two NICs replaced: same machine",
             recordedUUID: nil, recordedMACs: [BootFixture.templateMAC, BootFixture.secondTemplateMAC],
             uuid: nil, macs: [BootFixture.templateMAC, BootFixture.cloneMAC], verdict: "same-machine",
             because: ["added \(BootFixture.cloneMAC)", "gone \(BootFixture.secondTemplateMAC)", "not a clone"]),
    ]

    @Test("detect exits 0 with the verdict and its reasons", arguments: cases)
    func verdicts(_ example: Case) throws {
        let root = try Self.recordedRoot(uuid: example.recordedUUID, macs: example.recordedMACs)
        defer { root.remove() }
        let detected = try Self.detect(root, uuid: example.uuid, macs: example.macs)
        #expect(detected["verdict"]?.string == example.verdict, "\(detected)")
        let reason = detected["reasons"]?.array?.last?.string ?? ""
        for words in example.because { #expect(reason.contains(words), "\(detected)") }
    }

    @Test("nothing recorded: 'unrecorded', exit 0")
    func unrecorded() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let before = try root.signature()
        let detected = try Self.detect(root, uuid: BootFixture.templateUUID, macs: [BootFixture.templateMAC])
        #expect(detected["verdict"]?.string == "unrecorded", "\(detected)")
        #expect(root.identityRecord == nil, "detect records nothing")
        try expectUnchanged(root, since: before, "detect")
    }

    @Test("a sealed root: 'sealed', exit 0")
    func sealed() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try root.write("/etc/machine-id", "uninitialized\n", mode: 0o444)
        let detected = try Self.detect(root, uuid: BootFixture.templateUUID, macs: [])
        #expect(detected["verdict"]?.string == "sealed", "\(detected)")
    }

    @Test("run --auto with a NIC added changes nothing and says why it is not a clone")
    func autoRunOnANICChange() throws {
        let root = try Self.recordedRoot(uuid: nil, macs: [BootFixture.templateMAC])
        defer { root.remove() }
        let before = try root.signature()
        let record = root.read("/var/lib/sanitize-clone/identity.json")

        let text = try SanitizeClone.run(["run", "--auto", "--root", root.path] + BootFixture.platform(uuid: nil, macs: [BootFixture.templateMAC, BootFixture.cloneMAC]))
        #expect(text.exitCode == 0, "\(text)")
        #expect(text.stdout.contains("Not a clone") && text.stdout.contains("added \(BootFixture.cloneMAC)"), "\(text)")
        try expectUnchanged(root, since: before, "run --auto on the same machine with a NIC added")
        #expect(root.read("/var/lib/sanitize-clone/identity.json") == record, "the record stays as it was")
        #expect(root.runIDs().isEmpty, "no run was started")
    }

    @Test("--nic without NAME=MAC is refused (exit 2)")
    func malformedNIC() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let result = try SanitizeClone.run(["detect", "--root", root.path, "--json", "--nic", "52:54:00:12:34:56"])
        #expect(try SanitizeClone.expectError(result, exitCode: 2).contains("NAME=MAC"))
    }
}

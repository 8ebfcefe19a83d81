import FoundationEssentials

/// The template's identity and the machine's fingerprint, kept in
/// `<root>/var/lib/sanitize-clone/identity.json`: written by `seal` (or by the first `run --auto`
/// on a machine without one) and updated after every successful boot-time run.
public struct RecordedIdentity: Codable, Sendable, Equatable {
    /// The identity a clone must not keep.
    public struct Template: Codable, Sendable, Equatable {
        public var machineID: String?
        public var hostname: String?
        /// SHA256 fingerprints of the template's SSH host keys.
        public var sshFingerprints: [String]
        /// Permanent MACs of the template's NICs.
        public var macs: [String]
        /// The template's NICs with their names and PCI addresses, so a clone's NIC can be found
        /// in the template NIC's place (absent in records written before this was kept).
        public var interfaces: [NetworkInterface]?
        /// Filesystem UUIDs the template's fstab names, as written there.
        public var filesystemUUIDs: [String]
        /// The identities of the template's storage as read from its devices: filesystem, swap and
        /// LUKS UUIDs, LVM PV/VG UUIDs and VG names, partition table identifiers. Nil in records
        /// written before they were kept (`verify` then has nothing to compare them with), and
        /// empty when none of the devices the fstab names was in view.
        public var storage: StorageIdentities? = nil
    }

    /// What identifies the machine this root last ran on.
    public struct Fingerprint: Codable, Sendable, Equatable {
        public var productUUID: String?
        public var macs: [String]

        /// The machine `platform` describes, as `CloneDetector` compares it later.
        public init(of platform: PlatformFacts) {
            self.init(productUUID: platform.productUUID, macs: platform.permanentMACs)
        }

        public init(productUUID: String?, macs: [String]) {
            self.productUUID = productUUID
            self.macs = macs
        }

        /// True when nothing is known of the machine (recorded by a run that was not told it).
        public var isEmpty: Bool { productUUID == nil && macs.isEmpty }
    }

    public var template: Template
    public var machine: Fingerprint
    /// True from `seal` until the first successful boot-time run.
    public var sealed: Bool
    public var recordedAt: Int64

    /// Where the record lives inside the root.
    public static let path = "/var/lib/sanitize-clone/identity.json"

    /// The record of `root`, or nil when there is none. A record that cannot be read is an
    /// error naming the file.
    public static func load(from root: RootDirectory) throws -> RecordedIdentity? {
        guard let bytes = try root.readFile(path) else { return nil }
        do {
            return try JSONDecoder().decode(RecordedIdentity.self, from: Data(bytes))
        } catch {
            throw InputError("\(path) cannot be read (\(error)); remove it and run 'sanitize-clone seal' or 'run --auto' again to record a new one")
        }
    }

    /// Writes the record atomically (0600 in the 0700 state directory).
    public func save(to root: RootDirectory) throws {
        try StateDirectory.ensureSafeDirectories(in: root)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try root.writeFileAtomically(Self.path, contents: Array(try encoder.encode(self)) + [0x0a], attributes: FileAttributes(mode: 0o600))
    }

    /// The identity `root` has now, with the platform's fingerprint. With `storageScope`, the
    /// storage identities of what the root's fstab and crypttab name within it are read too
    /// (`StorageIdentities.current`, which throws what reading a device throws).
    public static func current(of root: RootDirectory, platform: PlatformFacts, sealed: Bool,
                               storageScope: DeviceScope? = nil) throws -> RecordedIdentity {
        let keys = try SSHHostKeysTask.existingKeyFingerprints(in: root)
        let hostname = try root.readText("/etc/hostname")?.split(whereSeparator: \.isNewline).first.map { $0.trimmingWhitespace() }
        return RecordedIdentity(
            template: Template(machineID: MachineID.parse(try root.readText("/etc/machine-id")), hostname: hostname,
                               sshFingerprints: keys, macs: platform.permanentMACs,
                               interfaces: platform.interfaces,
                               filesystemUUIDs: try FstabReferences.uuids(in: root),
                               storage: try storageScope.map { try StorageIdentities.current(of: root, in: $0) }),
            machine: Fingerprint(of: platform),
            sealed: sealed, recordedAt: Clock.nowMilliseconds())
    }
}

/// Filesystem UUIDs named in the root's /etc/fstab (`UUID=…` entries).
public enum FstabReferences {
    public static func uuids(in root: RootDirectory) throws -> [String] {
        guard let text = try root.readText("/etc/fstab") else { return [] }
        return text.split(whereSeparator: \.isNewline).compactMap { line -> String? in
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let first = fields.first, !first.hasPrefix("#"), first.hasPrefix("UUID=") else { return nil }
            return String(first.dropFirst(5)).trimmingCharacters(in: "\"").lowercased()
        }
    }
}

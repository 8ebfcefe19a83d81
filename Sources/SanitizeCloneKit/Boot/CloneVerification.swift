#if canImport(Glibc)
import Glibc
#endif

/// `sanitize-clone verify`: proves the clone — every identity differs from the template's
/// recorded one and is consistent.
public struct CloneVerification: Sendable {
    /// One check and its result.
    public struct Check: Sendable {
        public let name: String
        public let passed: Bool
        public let detail: String
    }

    public init() {}

    /// Runs every check against `root`. `interfaces` are the NICs of the machine the root belongs
    /// to (the live system's, or those given for a `--root`); without them the network
    /// configuration is not checked.
    /// `devices`: the block devices the root's filesystems must be on (a disk image's), when not
    /// the running system's; every fstab UUID must then name one of them.
    public func checks(root: RootDirectory, interfaces: [NetworkInterface] = [], devices: [BlockDeviceIdentity]? = nil) throws -> [Check] {
        var checks: [Check] = []
        let recorded = try RecordedIdentity.load(from: root)
        let template = recorded?.template
        func check(_ name: String, _ passed: Bool, _ detail: String) { checks.append(Check(name: name, passed: passed, detail: detail)) }

        let machineID = MachineID.parse(try root.readText("/etc/machine-id"))
        check("machine-id is valid", machineID != nil, machineID ?? "/etc/machine-id holds no valid id")
        if let machineID, let old = template?.machineID {
            check("machine-id differs from the template's", machineID != old, machineID == old ? "still \(old)" : "\(machineID) (template \(old))")
        }
        // systemd derives a sealed clone's id from the SMBIOS product UUID, which clones started
        // with one UUID share: such an id was never replaced.
        if let machineID, root.isLiveSystem, let uuid = PlatformFacts.live().productUUID {
            let derived = ProductUUID.derivedMachineIDs(uuid).contains(machineID)
            check("machine-id is not derived from the product UUID", !derived, derived ? "\(machineID) comes from product UUID \(uuid)" : machineID)
        }
        if machineID != nil, try root.followedStatus(of: "/var/lib/dbus/machine-id") != nil {
            let dbus = MachineID.parse(try root.readText("/var/lib/dbus/machine-id"))
            check("D-Bus machine-id equals /etc/machine-id", dbus != nil && dbus == machineID, dbus ?? "invalid")
        }

        let hostname = try root.readText("/etc/hostname")?.split(whereSeparator: \.isNewline).first.map { $0.trimmingWhitespace() } ?? ""
        check("hostname is valid", (try? Hostname.validate(hostname, source: "/etc/hostname")) != nil, hostname.isEmpty ? "/etc/hostname is empty" : hostname)
        if let old = template?.hostname {
            check("hostname differs from the template's", hostname.lowercased() != old.lowercased(), "\(hostname) (template \(old))")
        }
        let shortName = Hostname.split(hostname).name
        let hosts = try root.readText("/etc/hosts") ?? ""
        let named = hosts.split(whereSeparator: \.isNewline).contains { HostsFile.fields(String($0)).dropFirst().contains { $0.lowercased() == shortName.lowercased() } }
        check("hostname is in /etc/hosts", named, named ? shortName : "no line of /etc/hosts names \(shortName)")

        for path in try SSHHostKeysTask.keyPaths(in: root) {
            let privateKey = try root.readTextLeniently(path).flatMap(SSHKey.init(privateKeyText:))
            let publicKey = try root.readTextLeniently(path + ".pub").flatMap(SSHKey.init(publicKeyText:))
            guard let publicKey else {
                check("\(path).pub matches its private key", false, "missing or unreadable")
                continue
            }
            if let privateKey {
                check("\(path).pub matches its private key", privateKey.blob == publicKey.blob, publicKey.fingerprint)
            }
            if let old = template?.sshFingerprints {
                check("\(path) is not the template's key", !old.contains(publicKey.fingerprint), publicKey.fingerprint)
            }
        }

        if let devices {
            let inventory = BlockDeviceInventory(devices: devices)
            for uuid in try FstabReferences.uuids(in: root) {
                let device = inventory.device(withUUID: uuid)
                check("fstab UUID \(uuid) is present", device != nil, device?.device ?? "no partition of the image has it")
            }
        } else if root.isLiveSystem {
            // udev names vfat ids in upper case (/dev/disk/by-uuid/CE0E-39C2): compare without case.
            let links = Set(Sysfs.entries(of: "/dev/disk/by-uuid").map { $0.lowercased() })
            for uuid in try FstabReferences.uuids(in: root) {
                let present = links.contains(uuid.lowercased())
                check("fstab UUID \(uuid) is present", present, present ? "/dev/disk/by-uuid/\(uuid)" : "no device has it")
            }
        }
        if !interfaces.isEmpty {
            let present = Set(interfaces.flatMap { [$0.mac, $0.permanentMAC] })
            for (path, macs) in try NetworkConfigMACs.named(in: root) {
                let missing = macs.filter { !present.contains($0) }
                check("\(path) names only present NICs", missing.isEmpty,
                      missing.isEmpty ? macs.joined(separator: ", ") : "no NIC has \(missing.joined(separator: ", "))")
            }
        }
        if recorded == nil {
            check("template identity recorded", false, "no \(RecordedIdentity.path): nothing to compare with (seal the template first)")
        }
        return checks
    }
}

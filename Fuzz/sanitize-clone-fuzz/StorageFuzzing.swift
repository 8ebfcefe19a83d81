import FoundationEssentials
@testable import SanitizeCloneKit

/// The files and tool output `fs-uuids` and `run --image` read: fstab, crypttab, the next-boot
/// list, the files that name filesystems (GRUB, BLS entries, the kernel command line, LVM's
/// devices file), `blkid -o export` and `sfdisk --json` of a stranger's image.
enum StorageFuzzing {
    static let newUUID = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"

    /// fstab, crypttab and the next-boot list read from a root; each UUID they name gets a new
    /// one and each volume group a device path names a new name, in the same text.
    static func feedFilesystemTables(_ bytes: [UInt8]) {
        let scratch = FuzzRoot.shared
        for path in ["/etc/fstab", "/etc/crypttab", NextBootUUIDs.pendingFile] { scratch.write(path, bytes) }
        let references = (try? FilesystemTable.references(in: scratch.root)) ?? []
        _ = try? FstabReferences.uuids(in: scratch.root)
        _ = try? NextBootUUIDs.pending(in: scratch.root)
        guard let text = FuzzInput.text(bytes) else { return }
        var uuids: [String: String] = [:]
        var names: [String: String] = [:]
        for reference in references {
            _ = reference.specification
            switch reference.source {
            case .uuid(let uuid), .partUUID(let uuid):
                uuids[uuid] = newUUID
            case .device(let path):
                if let group = VolumeGroupNames.volumeGroup(namedBy: path) { names[group] = VolumeGroupNames.unused(basedOn: group, taken: [group]) }
            case .label, .partLabel:
                break
            }
        }
        rewrite(text, uuids: uuids, exactly: [:], names: names, path: "/etc/fstab")
    }

    /// A file that names filesystems (grub.cfg, a BLS entry, /etc/kernel/cmdline, LVM's devices
    /// file, GRUB's core.img) with the identities the seeds hold changed.
    static func feedReferences(_ bytes: [UInt8]) {
        _ = UUIDReferences.binary(bytes, names: ["1b4e28ba-2fa1-4d12-883f-0016d3cca427", "5A3E-1C2B"])
        guard let text = FuzzInput.text(bytes) else { return }
        let uuids = ["1b4e28ba-2fa1-4d12-883f-0016d3cca427": newUUID, "5a3e-1c2b": "7b1d-9e0f", "e5f2b1c0-2d3e-4f5a-8b9c-0d1e2f3a4b5c": newUUID]
        let lvm = ["Xq3vWd-8HkT-mN2p-Lr7s-Yb4c-Zf9g-Ae1hJk": "Pf6tRu-2CvB-nM8k-Qs4w-Ex7y-Lz3a-Dh5gTj"]
        rewrite(text, uuids: uuids, exactly: lvm, names: ["vg0": "vg01", "data-vg": "data-vg1"], path: "/boot/grub/grub.cfg")
    }

    /// What `fs-uuids` writes: every reference rewritten, LVM's devices file with new PVIDs, and
    /// the plan's diff.
    static func rewrite(_ text: String, uuids: [String: String], exactly: [String: String], names: [String: String], path: String) {
        var pvids: [String: String] = [:]
        for field in text.split(whereSeparator: { $0 == " " || $0 == "\n" }) where field.hasPrefix("PVID=") {
            pvids[String(field.dropFirst("PVID=".count))] = "Pf6tRu2CvBnM8kQs4wEx7yLz3aDh5gTj"
        }
        for new in [UUIDReferences.rewritten(text, replacing: uuids, exactly: exactly), VolumeGroupNames.rewritten(text, renaming: names),
                    LVMIdentityChanger.rewrittenDevicesFile(text, pvids: pvids)] {
            if let new { NetworkFileFuzzing.show(old: text, new: new, path: path) }
        }
    }

    /// The LVM metadata a stranger's PV holds (`pvck --dump metadata`), with its VG and PV ids
    /// replaced as `fs-uuids` replaces them.
    static func feedLVMMetadata(_ bytes: [UInt8]) {
        guard let text = FuzzInput.text(bytes), let metadata = try? LVMMetadataText(parsing: text, device: "/dev/vda2") else { return }
        let edited = metadata.replacingIdentity(pvUUID: "Pf6tRu-2CvB-nM8k-Qs4w-Ex7y-Lz3a-Dh5gTj", vgUUID: "Xq3vWd-8HkT-mN2p-Lr7s-Yb4c-Zf9g-Ae1hJk")
        NetworkFileFuzzing.show(old: text, new: edited, path: "/dev/vda2")
    }

    /// `blkid -p -o export` of a device whose label and UUIDs a stranger wrote; `/proc/self/mountinfo`
    /// escapes.
    static func feedBlkidExport(_ bytes: [UInt8]) {
        guard let text = FuzzInput.text(bytes) else { return }
        for value in BlockDeviceIdentity.parseExport(text).values { _ = MountTable.unescape(value) }
    }

    /// An image's first bytes (its format) and `sfdisk --json` of its partition table, checked
    /// against three image sizes.
    static func feedPartitionTable(_ bytes: [UInt8]) {
        _ = DiskImageFormat.nonRaw(header: bytes)
        guard let text = FuzzInput.text(bytes),
              let dump = try? JSONDecoder().decode(PartitionLayout.Dump.self, from: Data(PartitionLayout.jsonDocument(in: text).utf8)) else { return }
        for size: UInt64 in [0, 1 << 30, .max] {
            _ = try? PartitionLayout.entries(of: dump.partitiontable, image: "/srv/images/clone.raw", size: size)
        }
    }
}

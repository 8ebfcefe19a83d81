/// The undo of `fs-uuids`' device changes: a filesystem's or LUKS volume's UUID, an LVM physical
/// volume's PV and VG UUIDs (values "PV VG"), or its volume group's name (values "PV NAME", the
/// PV UUID it had before and after), set back on the device that has the new identity now; when
/// none has it but one has the old, it is already set back (undo is idempotent).
///
/// The journal holds the type and the two identities, never a device: the device is looked for
/// only among those the run's `DeviceScope` allows, so a journal cannot lead to a host device.
public struct StorageIdentityUndo: UndoKind {
    /// The blkid type of an LVM physical volume.
    public static let lvmType = "LVM2_member"
    /// The journal's type for a volume group's name (renamed when it collides with the host's).
    public static let volumeGroupNameType = "LVM2_member VG name"

    public let name = "block-device-identity"

    public init() {}

    /// How a change from `original` to `current` of a device of `type` is journaled.
    static func record(type: String, current: String, original: String) -> Change.Undo {
        .inverse(kind: "block-device-identity", values: [type, current, original])
    }

    /// The (type, from, to) of a recorded undo of this kind, when `action` is one.
    public static func change(in action: UndoAction) -> (type: String, from: String, to: String)? {
        guard case .inverse("block-device-identity", let values) = action, values.count == 3 else { return nil }
        return (values[0], values[1], values[2])
    }

    public func validate(_ values: [String]) throws {
        guard values.count == 3 else { throw InputError("a device identity undo holds a type and two identities") }
        let (type, from, to) = (values[0], values[1], values[2])
        switch type {
        case Self.volumeGroupNameType:
            for pair in [from, to] {
                let parts = pair.split(separator: " ").map(String.init)
                guard parts.count == 2 else { throw InputError("malformed volume group identity '\(pair)'") }
                _ = try LVMIdentityChanger.requireWellFormed(parts[0], of: "PV")
                try LVMIdentityChanger.requireValidName(parts[1])
            }
        case Self.lvmType:
            for pair in [from, to] {
                let parts = pair.split(separator: " ").map(String.init)
                guard (1...2).contains(parts.count) else { throw InputError("malformed LVM identity '\(pair)'") }
                for part in parts { _ = try LVMIdentityChanger.requireWellFormed(part, of: "PV or VG") }
            }
        default:
            guard FilesystemUUIDChanger.supports(type) else { throw InputError("'\(type)' is not a type whose UUID fs-uuids changes") }
            try FilesystemUUIDChanger.requireWellFormed(from, type: type)
            try FilesystemUUIDChanger.requireWellFormed(to, type: type)
        }
    }

    public func summary(_ values: [String]) -> String {
        guard values.count == 3 else { return "set a device identity back" }
        return "set the \(values[0]) UUID \(values[1]) back to \(values[2])"
    }

    public func undo(_ values: [String], in context: UndoContext) throws {
        try Self.setBack(type: values[0], from: values[1], to: values[2], devices: try context.devices())
    }

    /// Sets the identity back on the one device of `devices` that has `from` (see the type).
    public static func setBack(type: String, from: String, to: String, devices: BlockDeviceInventory) throws {
        if type == volumeGroupNameType {
            let new = from.split(separator: " ").map(String.init), old = to.split(separator: " ").map(String.init)
            guard new.count == 2, old.count == 2 else { throw InputError("malformed volume group names '\(from)' and '\(to)' in the journal") }
            // The PV UUID changes in the same run: the rename may be undone before or after it.
            guard let device = devices.device(withUUID: new[0]) ?? devices.device(withUUID: old[0]) else {
                throw InputError("no device of this root has the PV UUID \(new[0]) (nor \(old[0])) any more: attach the disk (or image) and roll back again")
            }
            try LVMIdentityChanger.renameVolumeGroup(on: device.device, from: new[1], to: old[1])
            return
        }
        if type == lvmType {
            let new = from.split(separator: " ").map(String.init), old = to.split(separator: " ").map(String.init)
            guard let newPV = new.first, let oldPV = old.first else { throw InputError("malformed LVM identities '\(from)' and '\(to)' in the journal") }
            if let device = devices.device(withUUID: newPV) {
                try LVMIdentityChanger.setIdentity(pvUUID: oldPV, vgUUID: old.count > 1 ? old[1] : nil, on: device.device)
            } else if devices.device(withUUID: oldPV) == nil {
                throw InputError("no device of this root has the PV UUID \(newPV) (nor \(oldPV)) any more: attach the disk (or image) and roll back again")
            }
            return
        }
        if let device = devices.device(withUUID: from) {
            try FilesystemUUIDChanger.setUUID(to, on: device.device, type: type)
        } else if devices.device(withUUID: to) == nil {
            throw InputError("no device of this root has the UUID \(from) (nor \(to)) any more: attach the disk (or image, or name it with --device) and roll back again")
        }
    }
}

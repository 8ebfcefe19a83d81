/// Setting a block device's identity back, for every kind `fs-uuids` changes: a filesystem's or
/// LUKS volume's UUID, an LVM physical volume's PV and VG UUIDs (written "PV VG"), or the name of
/// its volume group (written "PV NAME", the PV UUID it had before and after). The device
/// is the one that has the new identity now; when none has it but one has the old, it is already
/// set back (undo is idempotent).
public enum StorageIdentityUndo {
    /// The blkid type of an LVM physical volume.
    public static let lvmType = "LVM2_member"
    /// The journal's type for a volume group's name (renamed when it collides with the host's).
    public static let volumeGroupNameType = "LVM2_member VG name"

    public static func setBack(type: String, from: String, to: String, devices: BlockDeviceInventory) throws {
        if type == volumeGroupNameType {
            let new = from.split(separator: " ").map(String.init), old = to.split(separator: " ").map(String.init)
            guard new.count == 2, old.count == 2 else { throw InputError("malformed volume group names '\(from)' and '\(to)' in the journal") }
            // The PV UUID changes in the same run: the rename may be undone before or after it.
            guard let device = devices.device(withUUID: new[0]) ?? devices.device(withUUID: old[0]) else {
                throw InputError("no device has the PV UUID \(new[0]) (nor \(old[0])) any more: attach the disk (or image) and roll back again")
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
                throw InputError("no device has the PV UUID \(newPV) (nor \(oldPV)) any more: attach the disk (or image) and roll back again")
            }
            return
        }
        if let device = devices.device(withUUID: from) {
            try FilesystemUUIDChanger.setUUID(to, on: device.device, type: type)
        } else if devices.device(withUUID: to) == nil {
            throw InputError("no device has the UUID \(from) (nor \(to)) any more: attach the disk (or image) and roll back again")
        }
    }
}

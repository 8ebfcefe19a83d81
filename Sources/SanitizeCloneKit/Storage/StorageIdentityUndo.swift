/// Setting a block device's identity back, for every kind `fs-uuids` changes: a filesystem's or
/// LUKS volume's UUID, or an LVM physical volume's PV and VG UUIDs (written "PV VG"). The device
/// is the one that has the new identity now; when none has it but one has the old, it is already
/// set back (undo is idempotent).
public enum StorageIdentityUndo {
    /// The blkid type of an LVM physical volume.
    public static let lvmType = "LVM2_member"

    public static func setBack(type: String, from: String, to: String, devices: BlockDeviceInventory) throws {
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

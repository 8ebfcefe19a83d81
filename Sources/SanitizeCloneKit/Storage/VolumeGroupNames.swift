/// LVM volume group names as a root's configuration refers to them, and choosing a new name when
/// a clone's volume group would share its name with one the host already sees.
///
/// Two VGs of one name on one host are a trap: LVM warns ("VG name … is used by VGs …"), refuses
/// to activate either by name, and a `/dev/mapper/VG-LV` in an fstab then names whichever LVM
/// picked. LVM's own answer for cloned disks is `vgimportclone`, which appends a number to the
/// name (`vg0` becomes `vg01`); `unused(basedOn:taken:)` chooses the same way, and
/// `rewritten(_:renaming:)` follows the new name everywhere a name is written.
public enum VolumeGroupNames {
    /// `base` with the lowest number from 1 up appended that is not in `taken` (vgimportclone's
    /// rule), kept within LVM's 127 characters. Pure.
    public static func unused(basedOn base: String, taken: Set<String>) -> String {
        var number = 1
        while true {
            let suffix = String(number)
            let candidate = String(base.prefix(127 - suffix.count)) + suffix
            if !taken.contains(candidate) { return candidate }
            number += 1
        }
    }

    /// The volume group a device path names: /dev/mapper/VG-LV (a '-' in a name doubled) or /dev/VG/LV.
    public static func volumeGroup(namedBy path: String) -> String? {
        if path.hasPrefix("/dev/mapper/") {
            let name = Array(path.dropFirst("/dev/mapper/".count))
            var index = 0
            while index < name.count {
                if name[index] == "-" {
                    if index + 1 < name.count && name[index + 1] == "-" { index += 2; continue }
                    return index > 0 ? String(name[0..<index]).replacing("--", with: "-") : nil
                }
                index += 1
            }
            return nil
        }
        let parts = path.split(separator: "/")
        guard parts.count == 3, parts[0] == "dev", !["disk", "mapper", "md", "loop"].contains(parts[1]),
              !parts[1].hasPrefix("sd"), !parts[1].hasPrefix("vd") else { return nil }
        return String(parts[1])
    }

    /// A VG or LV name as device-mapper writes it inside `VG-LV`: every `-` doubled.
    public static func mapperEscaped(_ name: String) -> String { name.replacing("-", with: "--") }

    /// `text` with every reference to a renamed volume group naming the new one, or nil when none
    /// does. A reference is one of:
    ///
    /// - `/dev/mapper/VG-LV` and `/dev/disk/by-id/dm-name-VG-LV` (dashes in names doubled),
    /// - GRUB's `lvm/VG-LV` device names (same escaping),
    /// - `/dev/VG/LV`,
    /// - dracut's `rd.lvm.vg=VG` and `rd.lvm.lv=VG/LV`.
    ///
    /// Anything else that merely contains the name (a hostname, a comment's prose) stays as it
    /// is. Pure.
    public static func rewritten(_ text: String, renaming names: [String: String]) -> String? {
        guard !names.isEmpty else { return nil }
        let bytes = Array(text.utf8)
        var edits: [TextEdit] = []
        var index = 0
        while index < bytes.count {
            if let edit = reference(in: bytes, at: index, renaming: names) {
                edits.append(edit)
                index = edit.range.upperBound
            } else {
                index += 1
            }
        }
        return edits.isEmpty ? nil : TextEdit.apply(edits, to: text)
    }

    /// How a name is written after each kind of prefix, and what must follow it.
    private enum Form { case mapper, path, kernelVG }

    private static let prefixes: [(prefix: [UInt8], form: Form, needsBoundaryBefore: Bool)] = [
        (Array("/dev/mapper/".utf8), .mapper, false),
        (Array("/dev/disk/by-id/dm-name-".utf8), .mapper, false),
        (Array("lvm/".utf8), .mapper, true),
        (Array("/dev/".utf8), .path, false),
        (Array("rd.lvm.lv=".utf8), .path, true),
        (Array("rd.lvm.vg=".utf8), .kernelVG, true),
    ]

    private static func reference(in bytes: [UInt8], at index: Int, renaming names: [String: String]) -> TextEdit? {
        for (prefix, form, needsBoundary) in prefixes where bytes[index...].starts(with: prefix) {
            // `lvm/` inside a path (/etc/lvm/…) is no GRUB device name.
            if needsBoundary && index > 0 && (isNameByte(bytes[index - 1]) || bytes[index - 1] == UInt8(ascii: "/")) { continue }
            let start = index + prefix.count
            for (old, new) in names {
                let written = Array((form == .mapper ? mapperEscaped(old) : old).utf8)
                guard bytes[start...].starts(with: written) else { continue }
                let end = start + written.count
                let next: UInt8? = end < bytes.count ? bytes[end] : nil
                let follows: Bool
                switch form {
                // VG-LV: one dash, then the LV's name (a doubled dash would still be the VG's).
                case .mapper: follows = next == UInt8(ascii: "-") && end + 1 < bytes.count && bytes[end + 1] != UInt8(ascii: "-")
                case .path: follows = next == UInt8(ascii: "/")
                case .kernelVG: follows = next.map { !isNameByte($0) } ?? true
                }
                guard follows else { continue }
                return TextEdit(range: start..<end, replacement: form == .mapper ? mapperEscaped(new) : new)
            }
        }
        return nil
    }

    /// The bytes of an LVM name: letters, digits and `+_.-`.
    private static func isNameByte(_ byte: UInt8) -> Bool {
        (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte)
            || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
    }
}

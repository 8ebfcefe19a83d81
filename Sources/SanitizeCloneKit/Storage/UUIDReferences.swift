/// The files that name filesystems by UUID, and rewriting every reference to a changed UUID in
/// them, token by token, in the file's own case: fstab, crypttab, GRUB's defaults and generated
/// configuration (`search --fs-uuid`, `root=UUID=`, the EFI stub's `search.fs_uuid`), Boot Loader
/// Specification entries, `/etc/kernel/cmdline`, `resume=`/`RESUME=` in initramfs configuration,
/// and LVM's devices file.
public enum UUIDReferences {
    /// Files to rewrite: exact paths and (directory, suffix) patterns.
    static let files = ["/etc/fstab", "/etc/crypttab", "/etc/default/grub", "/boot/grub/grub.cfg", "/boot/grub2/grub.cfg",
                        "/etc/kernel/cmdline", "/etc/initramfs-tools/conf.d/resume", "/etc/uswsusp.conf",
                        "/etc/lvm/devices/system.devices"]
    static let patterns: [(directory: String, suffix: String)] = [
        ("/etc/default/grub.d", ".cfg"), ("/boot/loader/entries", ".conf"), ("/efi/loader/entries", ".conf"),
        ("/boot/efi/loader/entries", ".conf"), ("/etc/dracut.conf.d", ".conf"), ("/etc/initramfs-tools/conf.d", ""),
    ]
    /// EFI system partitions hold a stub grub.cfg per vendor directory.
    static let efiDirectories = ["/boot/efi/EFI", "/efi/EFI"]

    /// Every reference file present in the root (symlinks followed), sorted, without duplicates.
    public static func candidateFiles(in root: RootDirectory) throws -> [String] {
        var result: [String] = []
        for path in files where try root.regularFileStatus(of: path) != nil { result.append(path) }
        for pattern in patterns {
            for name in try root.directoryEntries(pattern.directory).sorted() where !name.hasPrefix(".") && (pattern.suffix.isEmpty || name.hasSuffix(pattern.suffix)) {
                let path = RootPath.join(pattern.directory, name)
                if try root.regularFileStatus(of: path) != nil, !result.contains(path) { result.append(path) }
            }
        }
        for directory in efiDirectories {
            for vendor in try root.directoryEntries(directory).sorted() {
                let path = RootPath.join(RootPath.join(directory, vendor), "grub.cfg")
                if try root.regularFileStatus(of: path) != nil { result.append(path) }
            }
        }
        return result
    }

    /// `text` with every whole-token occurrence of an old UUID (compared case-insensitively)
    /// replaced by its new one, written in the old one's case (as given when the old one has no
    /// letters), and every whole-token occurrence
    /// of a key of `exactly` (compared and written as given: LVM's mixed-case UUIDs, as in GRUB's
    /// `lvmid/VG/LV` hints) replaced by its value. Nil when nothing changed.
    public static func rewritten(_ text: String, replacing map: [String: String], exactly: [String: String] = [:]) -> String? {
        guard !map.isEmpty || !exactly.isEmpty else { return nil }
        let lowered = Dictionary(map.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
        let lengths = Set(lowered.keys.map(\.utf8.count)).union(exactly.keys.map(\.utf8.count))
        let bytes = Array(text.utf8)
        func isTokenByte(_ byte: UInt8) -> Bool {
            (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte) || byte == 45
        }
        var edits: [TextEdit] = []
        var index = 0
        while index < bytes.count {
            guard index == 0 || !isTokenByte(bytes[index - 1]), isTokenByte(bytes[index]) else { index += 1; continue }
            var end = index
            while end < bytes.count && isTokenByte(bytes[end]) { end += 1 }
            // A token may hold the UUID followed by more (never): compare whole tokens only.
            if lengths.contains(end - index) {
                let token = String(decoding: bytes[index..<end], as: UTF8.self)
                if let new = exactly[token] {
                    edits.append(TextEdit(range: index..<end, replacement: new))
                } else if let new = lowered[token.lowercased()] {
                    // An old UUID of digits alone (a vfat serial such as 1209-7059) shows no case:
                    // the new one is written as given (a vfat serial upper-case, as udev names it).
                    let upper = token.contains(where: \.isUppercase), lower = token.contains(where: \.isLowercase)
                    edits.append(TextEdit(range: index..<end, replacement: upper && !lower ? new.uppercased() : lower ? new.lowercased() : new))
                }
            }
            index = end
        }
        return edits.isEmpty ? nil : TextEdit.apply(edits, to: text)
    }

    /// True when the binary file names one of `uuids` (e.g. GRUB's BIOS core.img embedding the
    /// /boot filesystem's UUID), so the plan can say the boot loader must be reinstalled.
    public static func binary(_ bytes: [UInt8], names uuids: [String]) -> [String] {
        let text = String(decoding: bytes, as: UTF8.self).lowercased()
        return uuids.filter { text.contains($0.lowercased()) }
    }
}

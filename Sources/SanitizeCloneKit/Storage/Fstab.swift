/// One filesystem line of `/etc/fstab` (or a source of `/etc/crypttab`): how it names its device.
public struct FilesystemReference: Sendable, Equatable {
    /// How the line names the device.
    public enum Source: Sendable, Equatable {
        case uuid(String)
        case label(String)
        case partUUID(String)
        case partLabel(String)
        /// A device path (/dev/vda1, /dev/disk/by-uuid/…, /dev/mapper/…).
        case device(String)
    }

    public let source: Source
    /// Where it is mounted ("/", "/boot", "none" for swap); for crypttab, the mapping's name.
    public let mountPoint: String
    /// The fstab type ("ext4", "swap", "auto"…); "crypto_LUKS" for crypttab.
    public let type: String
    /// The file and line, for messages.
    public let file: String
    public let line: Int

    /// The source as fstab writes it.
    public var specification: String {
        switch source {
        case .uuid(let value): "UUID=\(value)"
        case .label(let value): "LABEL=\(value)"
        case .partUUID(let value): "PARTUUID=\(value)"
        case .partLabel(let value): "PARTLABEL=\(value)"
        case .device(let path): path
        }
    }
}

/// Reads `/etc/fstab` and `/etc/crypttab` for the block devices a root's own configuration names.
public enum FilesystemTable {
    /// Filesystem types that live on no local block device.
    static let virtualTypes: Set<String> = ["proc", "sysfs", "tmpfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "securityfs",
                                            "debugfs", "tracefs", "mqueue", "hugetlbfs", "efivarfs", "nfs", "nfs4", "cifs",
                                            "smb3", "9p", "virtiofs", "fuse", "overlay", "bind", "none", "autofs", "binfmt_misc"]

    /// Every local filesystem and swap line of the root's fstab, then every crypttab source.
    public static func references(in root: RootDirectory) throws -> [FilesystemReference] {
        var references: [FilesystemReference] = []
        if let text = try root.readText("/etc/fstab") {
            for (number, fields) in lines(text) where fields.count >= 3 {
                let type = fields[2]
                guard !virtualTypes.contains(type), !fields[1].hasPrefix("/proc"), let source = source(fields[0]) else { continue }
                if (fields.count > 3 ? fields[3] : "").split(separator: ",").contains("bind") { continue }
                references.append(FilesystemReference(source: source, mountPoint: fields[1], type: type, file: "/etc/fstab", line: number))
            }
        }
        if let text = try root.readText("/etc/crypttab") {
            for (number, fields) in lines(text) where fields.count >= 2 {
                guard let source = source(fields[1]) else { continue }
                references.append(FilesystemReference(source: source, mountPoint: fields[0], type: "crypto_LUKS", file: "/etc/crypttab", line: number))
            }
        }
        return references
    }

    /// The non-comment lines as fields (fstab's \040-style escapes decoded, as blkid's are), with line numbers.
    static func lines(_ text: String) -> [(Int, [String])] {
        text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().compactMap { index, line -> (Int, [String])? in
            let trimmed = line.trimmingBlanks()
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#") else { return nil }
            return (index + 1, trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" }).map { MountTable.unescape(String($0)) })
        }
    }

    /// "UUID=…", "LABEL=…", "PARTUUID=…", "PARTLABEL=…" (quotes allowed) or a /dev path; nil otherwise.
    static func source(_ spec: String) -> FilesystemReference.Source? {
        func value(_ prefix: String) -> String? {
            guard spec.uppercased().hasPrefix(prefix) else { return nil }
            return String(Substring(spec.dropFirst(prefix.count)).unquoted())
        }
        if let uuid = value("UUID=") { return .uuid(uuid) }
        if let label = value("LABEL=") { return .label(label) }
        if let uuid = value("PARTUUID=") { return .partUUID(uuid) }
        if let label = value("PARTLABEL=") { return .partLabel(label) }
        if spec.hasPrefix("/dev/disk/by-uuid/") { return .uuid(String(spec.dropFirst("/dev/disk/by-uuid/".count))) }
        if spec.hasPrefix("/dev/disk/by-label/") { return .label(String(spec.dropFirst("/dev/disk/by-label/".count))) }
        if spec.hasPrefix("/dev/disk/by-partuuid/") { return .partUUID(String(spec.dropFirst("/dev/disk/by-partuuid/".count))) }
        if spec.hasPrefix("/dev/") { return .device(spec) }
        return nil
    }
}

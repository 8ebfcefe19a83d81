#if canImport(Glibc)
import Glibc
#endif
import CShims

/// What kind of thing a path names, with its owner, group and permission bits (stat(2)).
public struct FileStatus: Sendable, Equatable {
    /// The kind of directory entry.
    public enum Kind: String, Sendable, Codable {
        case regular, directory, symlink, other
    }

    public var kind: Kind
    /// What the entry is, in words for messages: "a regular file", "a FIFO", "a character device"…
    public var kindDescription: String
    /// Permission bits including setuid/setgid/sticky (`st_mode & 07777`).
    public var mode: UInt32
    public var owner: UInt32
    public var group: UInt32
    public var size: Int64
    public var device: UInt64
    public var inode: UInt64

    init(_ raw: stat) {
        switch raw.st_mode & S_IFMT {
        case S_IFREG: (kind, kindDescription) = (.regular, "a regular file")
        case S_IFDIR: (kind, kindDescription) = (.directory, "a directory")
        case S_IFLNK: (kind, kindDescription) = (.symlink, "a symlink")
        case S_IFIFO: (kind, kindDescription) = (.other, "a FIFO")
        case S_IFSOCK: (kind, kindDescription) = (.other, "a socket")
        case S_IFCHR: (kind, kindDescription) = (.other, "a character device")
        case S_IFBLK: (kind, kindDescription) = (.other, "a block device")
        default: (kind, kindDescription) = (.other, "neither a file nor a directory")
        }
        mode = UInt32(raw.st_mode & 0o7777)
        owner = raw.st_uid
        group = raw.st_gid
        size = Int64(raw.st_size)
        device = UInt64(raw.st_dev)
        inode = UInt64(raw.st_ino)
    }

    /// The mode as four octal digits, e.g. "0640".
    public var octalMode: String {
        let digits = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}

/// The owner, group and mode a file we write should carry before it becomes visible.
public struct FileAttributes: Sendable, Equatable, Codable {
    public var owner: UInt32
    public var group: UInt32
    public var mode: UInt32
    /// Extended attributes to give the file (SELinux label, `user.*`…). nil: keep those of the
    /// file being replaced, so a rewrite never loses a label.
    public var extendedAttributes: [String: [UInt8]]?

    public init(owner: UInt32 = 0, group: UInt32 = 0, mode: UInt32, extendedAttributes: [String: [UInt8]]? = nil) {
        self.owner = owner
        self.group = group
        self.mode = mode
        self.extendedAttributes = extendedAttributes
    }

    /// The attributes of an existing file, so a rewrite keeps them.
    public init(of status: FileStatus) {
        self.init(owner: status.owner, group: status.group, mode: status.mode)
    }
}

/// Reading and setting extended attributes through a descriptor.
enum ExtendedAttributes {
    /// The errors that mean "no such attribute" (ENODATA: removed since it was listed) or "none
    /// at all" (ENOTSUP, which is EOPNOTSUPP on Linux: the file system keeps no extended
    /// attributes).
    private static let none: Set<Int32> = [ENODATA, EOPNOTSUPP]

    /// Every extended attribute of the open file `fd` (empty when its file system has none).
    /// Throws `SystemError` naming `path` when they cannot be read: a file rewritten without
    /// them would lose its SELinux label.
    static func all(of fd: Int32, path: String) throws -> [String: [UInt8]] {
        guard let names = try System.allowing(none, {
            try System.extendedAttributeNames(of: fd, path: path)
        }) else { return [:] }
        var result: [String: [UInt8]] = [:]
        for name in names {
            result[name] = try System.allowing(none) {
                try System.extendedAttribute(name, of: fd, path: path)
            }
        }
        return result
    }

    /// Sets `attributes` on `fd`.
    static func set(_ attributes: [String: [UInt8]], on fd: Int32, path: String) throws {
        for (name, value) in attributes.sorted(by: { $0.key < $1.key }) {
            try System.setExtendedAttribute(name, to: value, on: fd, operation: "set extended attribute \(name) on", path: path)
        }
    }
}

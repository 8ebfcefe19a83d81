#if canImport(Glibc)
import Glibc
#endif

/// What kind of thing a path names, with its owner, group and permission bits (stat(2)).
public struct FileStatus: Sendable, Equatable {
    /// The kind of directory entry.
    public enum Kind: String, Sendable, Codable {
        case regular, directory, symlink, other
    }

    public var kind: Kind
    /// Permission bits including setuid/setgid/sticky (`st_mode & 07777`).
    public var mode: UInt32
    public var owner: UInt32
    public var group: UInt32
    public var size: Int64
    public var device: UInt64
    public var inode: UInt64

    init(_ raw: stat) {
        switch raw.st_mode & S_IFMT {
        case S_IFREG: kind = .regular
        case S_IFDIR: kind = .directory
        case S_IFLNK: kind = .symlink
        default: kind = .other
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

    public init(owner: UInt32 = 0, group: UInt32 = 0, mode: UInt32) {
        self.owner = owner
        self.group = group
        self.mode = mode
    }

    /// The attributes of an existing file, so a rewrite keeps them.
    public init(of status: FileStatus) {
        self.init(owner: status.owner, group: status.group, mode: status.mode)
    }
}

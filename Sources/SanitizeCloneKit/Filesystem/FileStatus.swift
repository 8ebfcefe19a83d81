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
    /// Every extended attribute of the open file `fd` (empty when the file system has none).
    static func all(of fd: Int32) -> [String: [UInt8]] {
        let size = flistxattr(fd, nil, 0)
        guard size > 0 else { return [:] }
        var names = [CChar](repeating: 0, count: size)
        let length = flistxattr(fd, &names, size)
        guard length > 0 else { return [:] }
        var result: [String: [UInt8]] = [:]
        for name in names[0..<length].split(separator: 0).map({ String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self) }) {
            let valueSize = fgetxattr(fd, name, nil, 0)
            guard valueSize >= 0 else { continue }
            var value = [UInt8](repeating: 0, count: valueSize)
            let read = value.withUnsafeMutableBytes { fgetxattr(fd, name, $0.baseAddress, valueSize) }
            if read >= 0 { result[name] = Array(value[0..<read]) }
        }
        return result
    }

    /// Sets `attributes` on `fd`.
    static func set(_ attributes: [String: [UInt8]], on fd: Int32, path: String) throws {
        for (name, value) in attributes.sorted(by: { $0.key < $1.key }) {
            let result = value.withUnsafeBytes { fsetxattr(fd, name, $0.baseAddress, value.count, 0) }
            if result != 0 {
                throw SystemError(code: errno, operation: "set extended attribute \(name) on", path: path)
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import CShims
import Synchronization

/// The directory tree sanitize-clone works on, opened once as a file descriptor.
///
/// Every path given to it is read as an absolute path *inside* the root and resolved with
/// `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`: an absolute symlink resolves inside the root
/// and `..` at the top stays at the top, so a hostile guest image cannot make us read or write a
/// file of the host. No method builds a `root + path` string and opens it.
public final class RootDirectory: @unchecked Sendable {
    // @unchecked: the only stored state is an immutable descriptor and strings; the kernel
    // serialises what happens through the descriptor.
    let descriptor: Int32
    /// The root's canonical path on the host, e.g. "/" or "/srv/images/template".
    public let hostPath: String
    /// The name fragment of our temporary files; recovery removes files carrying it.
    public let temporaryTag: String
    /// When set, directory fsyncs after a rename are collected and done once per directory by
    /// `flushDirectorySyncs()` instead of after every file.
    let deferredDirectorySyncs: DeferredDirectorySyncs?

    /// Opens `path` as the root. Throws `SystemError` when it is missing or not a directory.
    public init(path: String, temporaryTag: String = "sanitize-clone") throws {
        let fd = try System.open(path, O_RDONLY | O_DIRECTORY, operation: "open root directory")
        descriptor = fd
        hostPath = (try? RootDirectory.procPath(of: fd)) ?? path
        self.temporaryTag = temporaryTag
        deferredDirectorySyncs = nil
    }

    private init(descriptor: Int32, hostPath: String, temporaryTag: String, deferringDirectorySyncs: Bool) {
        self.descriptor = descriptor
        self.hostPath = hostPath
        self.temporaryTag = temporaryTag
        deferredDirectorySyncs = deferringDirectorySyncs ? DeferredDirectorySyncs() : nil
    }

    deinit { System.close(descriptor) }

    /// A second handle on the same root whose temporary files carry `tag`. With
    /// `deferringDirectorySyncs`, the fsync of a directory after a rename waits for
    /// `flushDirectorySyncs()`, so a task that writes several files in one directory syncs it once.
    public func withTemporaryTag(_ tag: String, deferringDirectorySyncs: Bool = false) throws -> RootDirectory {
        let fd = try System.duplicate(descriptor, operation: "reopen root directory", path: hostPath)
        return RootDirectory(descriptor: fd, hostPath: hostPath, temporaryTag: tag, deferringDirectorySyncs: deferringDirectorySyncs)
    }

    /// True when the root is the running system's own `/`.
    public var isLiveSystem: Bool { hostPath == "/" }

    // MARK: Opening

    /// Opens `path` inside the root; symlinks are followed but never leave it.
    /// The caller closes the descriptor.
    func openDescriptor(_ path: String, flags: Int32, mode: UInt32 = 0) throws -> Int32 {
        guard let fd = try openIfPresent(path, flags: flags, mode: mode, allowing: []) else {
            throw SystemError(code: ENOENT, operation: "open", path: path)
        }
        return fd
    }

    /// Opens `path` like `openDescriptor`, or returns nil when it (or a directory on the way)
    /// does not exist.
    func openIfPresent(_ path: String, flags: Int32, mode: UInt32 = 0, allowing allowed: Set<Int32> = [ENOENT, ENOTDIR]) throws -> Int32? {
        do {
            return try System.openInsideRoot(descriptor, RootPath.relative(path), flags, mode: mode, path: path)
        } catch where allowed.contains(error.code) {
            return nil
        } catch where error.code == ENOSYS {
            throw SystemError(code: ENOSYS, operation: "open (openat2(2) is refused: a kernel older than 5.6, or a seccomp filter such as systemd's RestrictSUIDSGID=; sanitize-clone never resolves guest paths without it)", path: path)
        }
    }

    /// Opens the directory that contains `path` (following symlinks inside the root), for
    /// `*at()` calls on the last component.
    func openParent(of path: String, writable: Bool = false) throws -> Int32 {
        try openDescriptor(RootPath.parent(of: path), flags: O_RDONLY | O_DIRECTORY)
    }

    // MARK: Reading

    /// The status of `path` itself (a symlink is reported as a symlink), or nil when absent.
    public func status(of path: String) throws -> FileStatus? {
        if RootPath.relative(path).isEmpty { return try followedStatus(of: path) }
        guard let parent = try openIfPresent(RootPath.parent(of: path), flags: O_RDONLY | O_DIRECTORY) else { return nil }
        defer { System.close(parent) }
        return try System.allowing([ENOENT, ENOTDIR]) {
            try System.statusNotFollowing(RootPath.lastComponent(of: path), in: parent, path: path)
        }.map(FileStatus.init)
    }

    /// The status of what `path` leads to after following symlinks inside the root, or nil.
    public func followedStatus(of path: String) throws -> FileStatus? {
        guard let fd = try openIfPresent(path, flags: SC_O_PATH) else { return nil }
        defer { System.close(fd) }
        return FileStatus(try System.status(of: fd, path: path))
    }

    /// The status of the regular file `path` leads to (symlinks followed inside the root), or nil
    /// when nothing is there. Throws `InputError` (exit 2) when something else is — a FIFO, socket,
    /// device or directory: it is never taken for a missing file, never opened (a FIFO would block,
    /// a device may act on being opened) and never replaced.
    public func regularFileStatus(of path: String) throws -> FileStatus? {
        guard let status = try followedStatus(of: path) else { return nil }
        try requireRegularFile(status, at: path)
        return status
    }

    private func requireRegularFile(_ status: FileStatus, at path: String) throws {
        guard status.kind != .regular else { return }
        let verb = try self.status(of: path)?.kind == .symlink ? "leads to" : "is"
        throw InputError("\(path) \(verb) \(status.kindDescription), not a regular file: remove it and run again")
    }

    /// The bytes of the regular file `path` leads to, or nil when it does not exist.
    /// Throws `InputError` when it is not a regular file (see `regularFileStatus(of:)`),
    /// `SystemError` when it cannot be read.
    public func readFile(_ path: String, limit: Int = 64 << 20) throws -> [UInt8]? {
        guard try regularFileStatus(of: path) != nil,
              let fd = try openIfPresent(path, flags: O_RDONLY | O_NOCTTY | O_NONBLOCK) else { return nil }
        defer { System.close(fd) }
        // Checked again on what was opened: the path may have been replaced in between.
        try requireRegularFile(FileStatus(try System.status(of: fd, path: path)), at: path)
        return try FileDescriptorIO.readAll(fd, path: path, limit: limit)
    }

    /// The text of the guest's file `path`, or nil when absent. Throws `InputError` (exit 2) when
    /// it is not UTF-8 text (see `GuestText`): configuration is parsed and edited byte for byte,
    /// so it is never read with bad bytes repaired.
    public func readText(_ path: String) throws -> String? {
        guard let bytes = try readFile(path) else { return nil }
        return try GuestText.decode(bytes, path: path)
    }

    /// The bytes of `path` as UTF-8 with invalid sequences repaired, or nil when absent: only for
    /// what is looked into and never edited — kernel interfaces (/proc, /sys), credentials, key
    /// files, whose bytes need not be text.
    public func readTextLeniently(_ path: String) throws -> String? {
        try readFile(path).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The target of the symlink `path`, or nil when `path` is not a symlink.
    public func symlinkTarget(_ path: String) throws -> String? {
        guard try status(of: path)?.kind == .symlink else { return nil }
        let parent = try openParent(of: path)
        defer { System.close(parent) }
        return try System.symlinkTarget(RootPath.lastComponent(of: path), in: parent, path: path)
    }

    /// The names in directory `path`, sorted; empty when it does not exist.
    public func directoryEntries(_ path: String) throws -> [String] {
        guard let fd = try openIfPresent(path, flags: O_RDONLY | O_DIRECTORY) else { return [] }
        return try System.directoryEntries(consuming: fd, path: path).sorted()
    }

    /// Where `path` really lives inside the root once every symlink on the way — the last
    /// component included — is followed (as systemd's chase() does). A missing last component is
    /// allowed: the result is then where it would be created.
    public func canonicalPath(_ path: String) throws -> String {
        var current = RootPath.normalized(path)
        // The common case in one open: the path exists and its last component is no symlink;
        // the kernel followed every link on the way inside the root.
        if let fd = try openIfPresent(current, flags: SC_O_PATH | O_NOFOLLOW) {
            defer { System.close(fd) }
            if try System.status(of: fd, path: path).st_mode & S_IFMT != S_IFLNK {
                return try insideRoot(hostPath: try RootDirectory.procPath(of: fd), for: path)
            }
        }
        for _ in 0..<40 {
            let parent = try canonicalDirectory(RootPath.parent(of: current))
            let name = RootPath.lastComponent(of: current)
            let candidate = RootPath.join(parent, name)
            if name.isEmpty { return parent }
            guard let target = try symlinkTarget(candidate) else { return candidate }
            current = target.hasPrefix("/") ? RootPath.normalized(target) : RootPath.normalized(RootPath.join(parent, target))
        }
        throw SystemError(code: ELOOP, operation: "resolve", path: path)
    }

    /// The canonical path of an existing directory, through /proc/self/fd.
    private func canonicalDirectory(_ path: String) throws -> String {
        let fd = try openDescriptor(path, flags: SC_O_PATH | O_DIRECTORY)
        defer { System.close(fd) }
        let host = try RootDirectory.procPath(of: fd)
        return try insideRoot(hostPath: host, for: path)
    }

    private func insideRoot(hostPath host: String, for path: String) throws -> String {
        if hostPath == "/" { return host }
        if host == hostPath { return "/" }
        guard host.hasPrefix(hostPath + "/") else {
            // A bind mount from elsewhere: we cannot name it inside the root.
            throw SystemError(code: EXDEV, operation: "resolve (it is mounted from outside the root)", path: path)
        }
        return String(host.dropFirst(hostPath.count))
    }

    /// The host path behind a descriptor (readlink of /proc/self/fd/N).
    static func procPath(of fd: Int32) throws -> String {
        try System.symlinkTarget("/proc/self/fd/\(fd)", operation: "resolve descriptor")
    }

    /// A path another program can open to reach `name` in the directory held by `directory`:
    /// `/proc/<our pid>/fd/<fd>/<name>`. The program only ever sees what we resolved.
    static func pathForOtherProgram(directory: Int32, name: String) -> String {
        "/proc/\(getpid())/fd/\(directory)/\(name)"
    }
}

/// Reading and writing whole buffers through a descriptor.
enum FileDescriptorIO {
    static func readAll(_ fd: Int32, path: String, limit: Int) throws -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = try chunk.withUnsafeMutableBytes { (buffer) throws -> Int in
                try System.read(fd, into: buffer, path: path)
            }
            if count == 0 { return result }
            result.append(contentsOf: chunk[0..<count])
            if result.count > limit {
                throw SystemError(code: EFBIG, operation: "read (file larger than \(limit) bytes)", path: path)
            }
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let count = try bytes.withUnsafeBytes { (buffer) throws -> Int in
                try System.write(fd, UnsafeRawBufferPointer(rebasing: buffer[offset...]), path: path)
            }
            offset += count
        }
    }
}

/// Directories whose fsync is owed (see `RootDirectory.withTemporaryTag(_:deferringDirectorySyncs:)`).
final class DeferredDirectorySyncs: Sendable {
    let pending = Mutex<Set<String>>([])
}

extension RootDirectory {
    /// The parent directories of `paths` that this root lacks, parents first (for a task that
    /// creates them before its files, and whose undo removes them once empty).
    public func missingDirectories(for paths: [String]) throws -> [String] {
        var missing: [String] = []
        for path in paths {
            var chain: [String] = []
            var directory = RootPath.parent(of: path)
            while directory != "/", try followedStatus(of: directory) == nil {
                chain.insert(directory, at: 0)
                directory = RootPath.parent(of: directory)
            }
            missing += chain.filter { !missing.contains($0) }
        }
        return missing
    }
}

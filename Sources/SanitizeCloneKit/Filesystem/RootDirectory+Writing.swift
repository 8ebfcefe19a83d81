#if canImport(Glibc)
import Glibc
#endif
import CShims

extension RootDirectory {
    /// One file to write atomically.
    public struct FileWrite: Sendable {
        public var path: String
        public var contents: [UInt8]
        public var attributes: FileAttributes

        public init(path: String, contents: [UInt8], attributes: FileAttributes) {
            self.path = path
            self.contents = contents
            self.attributes = attributes
        }
    }

    /// Replaces the file `path` leads to with `contents`, atomically: a temporary file in the same
    /// directory is created 0600, given `attributes`, written, fsync'ed, renamed over the target,
    /// and the directory is fsync'ed. The target never exists half-written or with the wrong mode.
    /// On any failure the temporary file is removed and the target is unchanged.
    public func writeFileAtomically(_ path: String, contents: [UInt8], attributes: FileAttributes) throws {
        try writeFilesAtomically([FileWrite(path: path, contents: contents, attributes: attributes)]) { _ in }
    }

    /// Writes several files atomically, each as `writeFileAtomically` does, with their syncs
    /// grouped: every temporary file is written and its writeback started before the first fsync,
    /// so one journal commit carries them all. `afterEach(i)` runs right after file `i` is in
    /// place. On a failure, files already renamed stay (the caller's journal undoes them) and every
    /// temporary file is removed.
    public func writeFilesAtomically(_ writes: [FileWrite], afterEach: (Int) throws -> Void) throws {
        var staged: [StagedFile] = []
        defer { staged.forEach { $0.discard() } }
        for write in writes {
            staged.append(try stage(write))
        }
        for (index, file) in staged.enumerated() {
            try file.install()
            try syncDirectory(file.directory, of: file.target)
            try afterEach(index)
        }
    }

    /// A temporary file written beside its target, not yet in place.
    final class StagedFile {
        let directory: Int32
        let descriptor: Int32
        let temporary: String
        let name: String
        let target: String
        private var installed = false

        init(directory: Int32, descriptor: Int32, temporary: String, name: String, target: String) {
            self.directory = directory
            self.descriptor = descriptor
            self.temporary = temporary
            self.name = name
            self.target = target
        }

        /// Syncs the data and renames the file over its target.
        func install() throws {
            try Syscall.call(.fsync, "flush", path: target) { fsync(descriptor) }
            try Syscall.call(.rename, "replace", path: target) { renameat(directory, temporary, directory, name) }
            installed = true
        }

        /// Removes the temporary file unless it was installed; closes the descriptors.
        func discard() {
            if !installed { unlinkat(directory, temporary, 0) }
            close(descriptor)
            close(directory)
        }
    }

    /// Creates, fills and starts writing back the temporary file for `write`.
    private func stage(_ write: FileWrite) throws -> StagedFile {
        let target = try canonicalPath(write.path)
        let directory = try openParent(of: target)
        let name = RootPath.lastComponent(of: target)
        let temporary = temporaryName(for: name)
        let attributes = write.attributes
        let extended: [String: [UInt8]]
        let fd: Int32
        do {
            extended = try attributes.extendedAttributes ?? existingExtendedAttributes(name, in: directory)
            fd = try Syscall.call(.open, "create a temporary file beside", path: target) {
                openat(directory, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            }
        } catch {
            close(directory)
            throw error
        }
        // From here the staged file owns both descriptors.
        let file = StagedFile(directory: directory, descriptor: fd, temporary: temporary, name: name, target: target)
        do {
            try Syscall.call(.chown, "set the owner of", path: target) { fchown(fd, attributes.owner, attributes.group) }
            try Syscall.call(.chmod, "set the mode of", path: target) { fchmod(fd, attributes.mode) }
            try ExtendedAttributes.set(extended, on: fd, path: target)
            try FileDescriptorIO.writeAll(fd, write.contents, path: target)
            _ = sc_start_writeback(fd)
        } catch {
            file.discard()
            throw error
        }
        return file
    }

    /// Rewrites the existing file `path` in place (same inode), for a file that is the source of a
    /// bind mount and so cannot be replaced by a rename. Not atomic: used for /run files only.
    public func overwriteInPlace(_ path: String, contents: [UInt8]) throws {
        let fd = try openDescriptor(path, flags: O_WRONLY | O_TRUNC | O_NOFOLLOW)
        defer { close(fd) }
        try FileDescriptorIO.writeAll(fd, contents, path: path)
        try Syscall.call(.fsync, "flush", path: path) { fsync(fd) }
    }

    /// The extended attributes of `name` in `directory` (none when it does not exist).
    private func existingExtendedAttributes(_ name: String, in directory: Int32) throws -> [String: [UInt8]] {
        let fd = openat(directory, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return [:] }
        defer { close(fd) }
        return ExtendedAttributes.all(of: fd)
    }

    /// The extended attributes of the file `path` leads to (none when absent).
    public func extendedAttributes(of path: String) throws -> [String: [UInt8]] {
        guard let fd = try openIfPresent(path, flags: O_RDONLY | O_NONBLOCK | O_NOCTTY) else { return [:] }
        defer { close(fd) }
        return ExtendedAttributes.all(of: fd)
    }

    /// Makes `path` a symlink to `target`, atomically replacing what is there (a symlink is
    /// never followed here: the link itself is replaced).
    public func createSymlink(_ path: String, pointingTo linkTarget: String) throws {
        let directory = try openParent(of: path)
        defer { close(directory) }
        let name = RootPath.lastComponent(of: path)
        let temporary = temporaryName(for: name)
        try Syscall.call(.symlink, "create a link at", path: path) { symlinkat(linkTarget, directory, temporary) }
        do {
            try Syscall.call(.rename, "replace", path: path) { renameat(directory, temporary, directory, name) }
        } catch {
            unlinkat(directory, temporary, 0)
            throw error
        }
        try syncDirectory(directory, of: path)
    }

    /// Removes the file or symlink `path` itself (not what a symlink points to). Absent is fine.
    public func removeFile(_ path: String) throws {
        guard let directory = try openIfPresent(RootPath.parent(of: path), flags: O_RDONLY | O_DIRECTORY) else { return }
        defer { close(directory) }
        let removed = try Syscall.call(.unlink, "remove", path: path, allowing: [ENOENT]) {
            unlinkat(directory, RootPath.lastComponent(of: path), 0)
        }
        guard removed != nil else { return }
        try syncDirectory(directory, of: path)
    }

    /// Makes a rename in `directory` (holding `path`) durable: now, or — when this handle defers
    /// directory syncs — at the next `flushDirectorySyncs()`.
    func syncDirectory(_ directory: Int32, of path: String) throws {
        if let deferred = deferredDirectorySyncs {
            deferred.pending.withLock { _ = $0.insert(RootPath.parent(of: path)) }
            return
        }
        try Syscall.call(.fsync, "flush the directory of", path: path) { fsync(directory) }
    }

    /// Syncs every directory whose sync was deferred, once each.
    public func flushDirectorySyncs() throws {
        guard let deferred = deferredDirectorySyncs else { return }
        let directories = deferred.pending.withLock { pending in
            defer { pending.removeAll() }
            return pending.sorted()
        }
        for path in directories {
            guard let fd = try openIfPresent(path, flags: O_RDONLY | O_DIRECTORY) else { continue }
            defer { close(fd) }
            try Syscall.call(.fsync, "flush the directory", path: path) { fsync(fd) }
        }
    }

    /// Removes the directory `path` and everything below it without following any symlink.
    public func removeTree(_ path: String) throws {
        guard let status = try status(of: path) else { return }
        guard status.kind == .directory else { return try removeFile(path) }
        for name in try directoryEntries(path) {
            try removeTree(RootPath.join(path, name))
        }
        let directory = try openParent(of: path)
        defer { close(directory) }
        _ = try Syscall.call(.unlink, "remove", path: path, allowing: [ENOENT]) {
            unlinkat(directory, RootPath.lastComponent(of: path), AT_REMOVEDIR)
        }
    }

    /// Renames `path` (a file or directory, not followed) to `newPath`, which must not exist,
    /// both inside the root; the new name's directory is synced.
    public func move(_ path: String, to newPath: String) throws {
        let from = try openParent(of: path)
        defer { close(from) }
        let to = try openParent(of: newPath)
        defer { close(to) }
        try Syscall.call(.rename, "rename \(path) to", path: newPath) {
            sc_renameat_noreplace(from, RootPath.lastComponent(of: path), to, RootPath.lastComponent(of: newPath))
        }
        try syncDirectory(to, of: newPath)
    }

    /// Removes the directory `path` itself; it must be empty. Absent is fine.
    public func removeEmptyDirectory(_ path: String) throws {
        guard let directory = try openIfPresent(RootPath.parent(of: path), flags: O_RDONLY | O_DIRECTORY) else { return }
        defer { close(directory) }
        _ = try Syscall.call(.unlink, "remove the directory", path: path, allowing: [ENOENT]) {
            unlinkat(directory, RootPath.lastComponent(of: path), AT_REMOVEDIR)
        }
        try syncDirectory(directory, of: path)
    }

    /// Creates the directory `path` (its parent must exist) with `attributes`, or gives an
    /// existing one those attributes.
    public func makeDirectory(_ path: String, attributes: FileAttributes) throws {
        if try status(of: path) == nil {
            let directory = try openParent(of: path)
            defer { close(directory) }
            _ = try Syscall.call(.mkdir, "create directory", path: path, allowing: [EEXIST]) {
                mkdirat(directory, RootPath.lastComponent(of: path), 0o700)
            }
            try syncDirectory(directory, of: path)
        }
        try setAttributes(path, attributes)
    }

    /// Creates `path` and missing parents with `mode`; existing directories are left as they are.
    public func makeDirectories(_ path: String, mode: UInt32 = 0o755) throws {
        if try followedStatus(of: path)?.kind == .directory { return }
        var current = "/"
        for component in RootPath.normalized(path).split(separator: "/") {
            let next = RootPath.join(current, String(component))
            if try followedStatus(of: next)?.kind != .directory {
                let directory = try openDescriptor(current, flags: O_RDONLY | O_DIRECTORY)
                defer { close(directory) }
                _ = try Syscall.call(.mkdir, "create directory", path: next, allowing: [EEXIST]) {
                    mkdirat(directory, String(component), mode)
                }
            }
            current = try canonicalPath(next)
        }
    }

    /// Sets owner, group and mode of the file `path` leads to.
    public func setAttributes(_ path: String, _ attributes: FileAttributes) throws {
        let fd = try openDescriptor(path, flags: O_RDONLY | O_NONBLOCK)
        defer { close(fd) }
        try Syscall.call(.chown, "set the owner of", path: path) { fchown(fd, attributes.owner, attributes.group) }
        try Syscall.call(.chmod, "set the mode of", path: path) { fchmod(fd, attributes.mode) }
    }

    /// Removes temporary files carrying `tag` from `directory` (left behind by a killed run).
    /// Returns the paths removed.
    @discardableResult
    public func removeTemporaryFiles(in directory: String, tag: String) throws -> [String] {
        var removed: [String] = []
        for name in try directoryEntries(directory) where name.hasPrefix(".") && name.contains(".\(tag)") {
            let path = RootPath.join(directory, name)
            try removeTree(path)
            removed.append(path)
        }
        return removed
    }

    /// The name of a temporary file beside `name`: hidden, tagged with the run, unique.
    func temporaryName(for name: String) -> String {
        ".\(name).\(temporaryTag).\(UInt32.random(in: 0...UInt32.max))"
    }

    /// Throws a one-line error when `path` (or, when it does not exist, its directory) cannot be
    /// changed: a read-only file system or an immutable or append-only inode.
    public func checkChangeable(_ path: String) throws {
        let existing = try followedStatus(of: path) != nil
        let probe = existing ? path : RootPath.parent(of: path)
        guard let fd = try openIfPresent(probe, flags: O_RDONLY | O_NONBLOCK | O_NOCTTY) else {
            // The directory does not exist yet; its nearest existing ancestor decides.
            return try checkChangeable(RootPath.parent(of: probe))
        }
        defer { close(fd) }
        var info = statvfs()
        if fstatvfs(fd, &info) == 0, info.f_flag & UInt(ST_RDONLY) != 0 {
            throw SystemError(code: EROFS, operation: "change", path: path)
        }
        var flags = 0
        if sc_inode_flags(fd, &flags) == 0, sc_flags_forbid_change(flags) != 0 {
            throw SystemError(code: EPERM, operation: "change (the file is immutable or append-only: chattr -i)", path: probe)
        }
        if existing {
            let directory = try openParent(of: try canonicalPath(path))
            defer { close(directory) }
            if sc_inode_flags(directory, &flags) == 0, sc_flags_forbid_change(flags) != 0 {
                throw SystemError(code: EPERM, operation: "change (its directory is immutable: chattr -i)", path: path)
            }
        }
    }

    /// Free bytes on the file system holding `path` (or its nearest existing ancestor).
    public func availableBytes(near path: String) throws -> Int64 {
        var probe = path
        while try followedStatus(of: probe) == nil, probe != "/" { probe = RootPath.parent(of: probe) }
        let fd = try openDescriptor(probe, flags: SC_O_PATH)
        defer { close(fd) }
        var info = statvfs()
        guard fstatvfs(fd, &info) == 0 else { throw SystemError(code: sc_errno(), operation: "measure free space", path: path) }
        return Int64(info.f_bavail) * Int64(info.f_frsize)
    }
}

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
            try System.fsync(descriptor, path: target)
            try System.rename(temporary, in: directory, to: name, in: directory, path: target)
            installed = true
        }

        /// Removes the temporary file unless it was installed; closes the descriptors. A failed
        /// removal is ignored: this runs on the way out of another error, which is the one to
        /// report, and the hidden tagged file left is removed by the next run's recovery.
        func discard() {
            if !installed { try? System.unlink(temporary, in: directory, path: target) }
            System.close(descriptor)
            System.close(directory)
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
            extended = try attributes.extendedAttributes ?? existingExtendedAttributes(name, in: directory, path: target)
            fd = try System.open(temporary, in: directory, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o600,
                                 operation: "create a temporary file beside", path: target)
        } catch {
            System.close(directory)
            throw error
        }
        // From here the staged file owns both descriptors.
        let file = StagedFile(directory: directory, descriptor: fd, temporary: temporary, name: name, target: target)
        do {
            try System.setOwner(of: fd, to: attributes.owner, group: attributes.group, path: target)
            try System.setMode(of: fd, to: attributes.mode, path: target)
            try ExtendedAttributes.set(extended, on: fd, path: target)
            try FileDescriptorIO.writeAll(fd, write.contents, path: target)
            System.startWriteback(fd)
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
        defer { System.close(fd) }
        try FileDescriptorIO.writeAll(fd, contents, path: path)
        try System.fsync(fd, path: path)
    }

    /// The extended attributes of `name` in `directory` (none when it does not exist), at
    /// `path`. Throws when it exists but cannot be opened: writing without its label would lose it.
    private func existingExtendedAttributes(_ name: String, in directory: Int32, path: String) throws -> [String: [UInt8]] {
        guard let fd = try System.allowing([ENOENT], {
            try System.open(name, in: directory, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, operation: "read the extended attributes of", path: path)
        }) else { return [:] }
        defer { System.close(fd) }
        return try ExtendedAttributes.all(of: fd, path: path)
    }

    /// The extended attributes of the file `path` leads to (none when absent).
    public func extendedAttributes(of path: String) throws -> [String: [UInt8]] {
        guard let fd = try openIfPresent(path, flags: O_RDONLY | O_NONBLOCK | O_NOCTTY) else { return [:] }
        defer { System.close(fd) }
        return try ExtendedAttributes.all(of: fd, path: path)
    }

    /// Makes `path` a symlink to `target`, atomically replacing what is there (a symlink is
    /// never followed here: the link itself is replaced).
    public func createSymlink(_ path: String, pointingTo linkTarget: String) throws {
        let directory = try openParent(of: path)
        defer { System.close(directory) }
        let name = RootPath.lastComponent(of: path)
        let temporary = temporaryName(for: name)
        try System.makeSymlink(temporary, in: directory, pointingTo: linkTarget, path: path)
        do {
            try System.rename(temporary, in: directory, to: name, in: directory, path: path)
        } catch {
            // The rename's error is the one to report; a link left behind is hidden, tagged and
            // removed by the next run's recovery.
            try? System.unlink(temporary, in: directory, path: path)
            throw error
        }
        try syncDirectory(directory, of: path)
    }

    /// Removes the file or symlink `path` itself (not what a symlink points to). Absent is fine.
    public func removeFile(_ path: String) throws {
        guard let directory = try openIfPresent(RootPath.parent(of: path), flags: O_RDONLY | O_DIRECTORY) else { return }
        defer { System.close(directory) }
        let removed: Void? = try System.allowing([ENOENT]) {
            try System.unlink(RootPath.lastComponent(of: path), in: directory, path: path)
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
        try System.fsync(directory, operation: "flush the directory of", path: path)
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
            defer { System.close(fd) }
            try System.fsync(fd, operation: "flush the directory", path: path)
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
        defer { System.close(directory) }
        _ = try System.allowing([ENOENT]) {
            try System.unlink(RootPath.lastComponent(of: path), in: directory, flags: AT_REMOVEDIR, path: path)
        }
    }

    /// Renames `path` (a file or directory, not followed) to `newPath`, which must not exist,
    /// both inside the root; the new name's directory is synced.
    public func move(_ path: String, to newPath: String) throws {
        let from = try openParent(of: path)
        defer { System.close(from) }
        let to = try openParent(of: newPath)
        defer { System.close(to) }
        try System.renameWithoutReplacing(RootPath.lastComponent(of: path), in: from, to: RootPath.lastComponent(of: newPath), in: to,
                                          operation: "rename \(path) to", path: newPath)
        try syncDirectory(to, of: newPath)
    }

    /// Removes the directory `path` itself; it must be empty. Absent is fine.
    public func removeEmptyDirectory(_ path: String) throws {
        guard let directory = try openIfPresent(RootPath.parent(of: path), flags: O_RDONLY | O_DIRECTORY) else { return }
        defer { System.close(directory) }
        _ = try System.allowing([ENOENT]) {
            try System.unlink(RootPath.lastComponent(of: path), in: directory, flags: AT_REMOVEDIR, operation: "remove the directory", path: path)
        }
        try syncDirectory(directory, of: path)
    }

    /// Creates the directory `path` (its parent must exist) with `attributes`, or gives an
    /// existing one those attributes.
    public func makeDirectory(_ path: String, attributes: FileAttributes) throws {
        if try status(of: path) == nil {
            let directory = try openParent(of: path)
            defer { System.close(directory) }
            _ = try System.allowing([EEXIST]) {
                try System.makeDirectory(RootPath.lastComponent(of: path), in: directory, mode: 0o700, path: path)
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
                defer { System.close(directory) }
                _ = try System.allowing([EEXIST]) {
                    try System.makeDirectory(String(component), in: directory, mode: mode, path: next)
                }
            }
            current = try canonicalPath(next)
        }
    }

    /// Sets owner, group and mode of the file `path` leads to.
    public func setAttributes(_ path: String, _ attributes: FileAttributes) throws {
        let fd = try openDescriptor(path, flags: O_RDONLY | O_NONBLOCK)
        defer { System.close(fd) }
        try System.setOwner(of: fd, to: attributes.owner, group: attributes.group, path: path)
        try System.setMode(of: fd, to: attributes.mode, path: path)
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
        defer { System.close(fd) }
        if try System.fileSystemStatus(of: fd, path: probe).f_flag & UInt(ST_RDONLY) != 0 {
            throw SystemError(code: EROFS, operation: "change", path: path)
        }
        if try System.isImmutableOrAppendOnly(fd, path: probe) {
            throw SystemError(code: EPERM, operation: "change (the file is immutable or append-only: chattr -i)", path: probe)
        }
        if existing {
            let directory = try openParent(of: try canonicalPath(path))
            defer { System.close(directory) }
            if try System.isImmutableOrAppendOnly(directory, path: RootPath.parent(of: path)) {
                throw SystemError(code: EPERM, operation: "change (its directory is immutable: chattr -i)", path: path)
            }
        }
    }

    /// Free bytes on the file system holding `path` (or its nearest existing ancestor).
    public func availableBytes(near path: String) throws -> Int64 {
        var probe = path
        while try followedStatus(of: probe) == nil, probe != "/" { probe = RootPath.parent(of: probe) }
        let fd = try openDescriptor(probe, flags: SC_O_PATH)
        defer { System.close(fd) }
        let info = try System.fileSystemStatus(of: fd, operation: "measure free space", path: path)
        return Int64(info.f_bavail) * Int64(info.f_frsize)
    }
}

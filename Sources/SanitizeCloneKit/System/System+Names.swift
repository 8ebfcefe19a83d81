#if canImport(Glibc)
import Glibc
#endif
import CShims

/// Making, removing, renaming, linking and listing names in directories.
extension System {
    // MARK: Directories

    /// mkdir(2) of a host path.
    static func makeDirectory(_ path: String, mode: mode_t, operation: String = "create") throws(SystemError) {
        try Syscall.call(.mkdir, operation, path: path) { mkdir(path, mode) }
    }

    /// mkdirat(2) of `name` in the directory `directory`; `path` names it in errors.
    static func makeDirectory(_ name: String, in directory: Int32, mode: mode_t,
                              operation: String = "create directory", path: String) throws(SystemError) {
        try Syscall.call(.mkdir, operation, path: path) { mkdirat(directory, name, mode) }
    }

    /// mkdtemp(3): creates a new 0700 directory named `prefix` followed by six random characters,
    /// and returns its path.
    static func makeUniqueDirectory(_ prefix: String, operation: String = "create a directory in", path: String) throws(SystemError) -> String {
        var template = Array("\(prefix)XXXXXX".utf8CString)
        try Syscall.call(.mkdir, operation, path: path) {
            template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) == nil ? -1 : 0 }
        }
        return String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// rmdir(2) of a host path.
    static func removeDirectory(_ path: String, operation: String = "remove the directory") throws(SystemError) {
        try Syscall.call(.unlink, operation, path: path) { rmdir(path) }
    }

    // MARK: Removing and renaming

    /// unlink(2) of a host path.
    static func unlink(_ path: String, operation: String = "remove") throws(SystemError) {
        try Syscall.call(.unlink, operation, path: path) { Glibc.unlink(path) }
    }

    /// unlinkat(2) of `name` in `directory`; with `AT_REMOVEDIR` in `flags`, an empty directory.
    static func unlink(_ name: String, in directory: Int32, flags: Int32 = 0,
                       operation: String = "remove", path: String) throws(SystemError) {
        try Syscall.call(.unlink, operation, path: path) { unlinkat(directory, name, flags) }
    }

    /// renameat(2): `name` in `directory` replaces `newName` in `newDirectory`, atomically.
    static func rename(_ name: String, in directory: Int32, to newName: String, in newDirectory: Int32,
                       operation: String = "replace", path: String) throws(SystemError) {
        try Syscall.call(.rename, operation, path: path) { renameat(directory, name, newDirectory, newName) }
    }

    /// renameat2(2) with RENAME_NOREPLACE (sc_renameat_noreplace): like `rename`, but fails with
    /// EEXIST instead of replacing `newName`.
    static func renameWithoutReplacing(_ name: String, in directory: Int32, to newName: String, in newDirectory: Int32,
                                       operation: String = "rename", path: String) throws(SystemError) {
        try Syscall.call(.rename, operation, path: path) { sc_renameat_noreplace(directory, name, newDirectory, newName) }
    }

    // MARK: Symlinks

    /// symlinkat(2): makes `name` in `directory` a symlink to `target`.
    static func makeSymlink(_ name: String, in directory: Int32, pointingTo target: String,
                            operation: String = "create a link at", path: String) throws(SystemError) {
        try Syscall.call(.symlink, operation, path: path) { symlinkat(target, directory, name) }
    }

    /// readlink(2) of a host path: the target of the symlink.
    static func symlinkTarget(_ path: String, operation: String = "read link") throws(SystemError) -> String {
        try readingLink(operation, path: path) { readlink(path, $0, $1) }
    }

    /// readlinkat(2) of `name` in `directory`: the target of the symlink.
    static func symlinkTarget(_ name: String, in directory: Int32, operation: String = "read link", path: String) throws(SystemError) -> String {
        try readingLink(operation, path: path) { readlinkat(directory, name, $0, $1) }
    }

    /// The text a readlink-like `body` puts into a buffer of PATH_MAX bytes.
    private static func readingLink(_ operation: String, path: String,
                                    _ body: (UnsafeMutablePointer<CChar>, Int) -> Int) throws(SystemError) -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = try buffer.withUnsafeMutableBufferPointer { (pointer) throws(SystemError) -> Int in
            try Syscall.call(.readlink, operation, path: path) { body(pointer.baseAddress!, Int(PATH_MAX)) }
        }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// realpath(3): the canonical host path of `path`, every symlink followed.
    static func canonicalPath(_ path: String, operation: String = "resolve") throws(SystemError) -> String {
        var resolved: UnsafeMutablePointer<CChar>?
        try Syscall.call(.readlink, operation, path: path) { () -> Int32 in
            resolved = realpath(path, nil)
            return resolved == nil ? -1 : 0
        }
        defer { free(resolved) }
        return String(cString: resolved!)
    }

    // MARK: Listing

    /// The names in the host directory `path`, without "." and ".." (opendir(3), readdir(3)).
    static func directoryEntries(_ path: String, operation: String = "list") throws(SystemError) -> [String] {
        try directoryEntries(consuming: try open(path, O_RDONLY | O_DIRECTORY, operation: operation), operation: operation, path: path)
    }

    /// The names in the open directory `descriptor`, without "." and ".." (fdopendir(3),
    /// readdir(3), closedir(3)). Takes the descriptor over: it is closed when this returns.
    static func directoryEntries(consuming descriptor: Int32, operation: String = "list", path: String) throws(SystemError) -> [String] {
        var opened: OpaquePointer?
        do throws(SystemError) {
            try Syscall.call(.open, operation, path: path) { () -> Int32 in
                opened = fdopendir(descriptor)
                return opened == nil ? -1 : 0
            }
        } catch {
            close(descriptor)
            throw error
        }
        guard let stream = opened else { return [] }
        defer { closedir(stream) }
        var names: [String] = []
        while true {
            var entry: UnsafeMutablePointer<dirent>?
            // readdir returns NULL both at the end and on an error; only an error sets errno.
            try Syscall.call(.read, operation, path: path) { () -> Int32 in
                errno = 0
                entry = readdir(stream)
                return entry == nil && errno != 0 ? -1 : 0
            }
            guard let entry else { return names }
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// A private 0700 directory under `/run` (a tmpfs at boot; `/tmp` when `/run` is not writable),
/// outside any root, where host programs make new secrets (SSH keys, a TLS key) before they are
/// written into the root. Programs reach it only through our descriptor
/// (`/proc/<pid>/fd/<fd>/name`). Its files are shredded and it is removed when released; one left
/// by a killed run (its process is gone) is shredded by the next that makes one.
final class PrivateWorkDirectory: Sendable {
    let path: String
    let descriptor: Int32

    /// Creates `<parent>/<prefix><pid>.XXXXXX`, after shredding abandoned ones with that prefix.
    init(prefix: String, purpose: String) throws {
        // Any doubt about /run (absent, read-only, not ours to write) sends the secrets to /tmp.
        let parent = (try? System.isAccessible("/run", W_OK)) == true ? "/run" : "/tmp"
        Self.removeAbandoned(prefix: prefix, in: parent)
        let path = try System.makeUniqueDirectory("\(parent)/\(prefix)\(getpid()).",
                                                  operation: "create a private directory for \(purpose) under", path: parent)
        do {
            descriptor = try System.open(path, O_RDONLY | O_DIRECTORY)
        } catch {
            // The open's error is the one to report; the empty directory left behind is removed
            // by the next run that makes one (`removeAbandoned`).
            try? System.removeDirectory(path)
            throw error
        }
        self.path = path
    }

    /// The path another program is given for `name` in the directory.
    func pathForOtherProgram(_ name: String) -> String {
        RootDirectory.pathForOtherProgram(directory: descriptor, name: name)
    }

    /// The bytes of `name`.
    func read(_ name: String) throws -> [UInt8] {
        let fd = try System.open(name, in: descriptor, O_RDONLY | O_NOFOLLOW, operation: "read")
        defer { System.close(fd) }
        return try FileDescriptorIO.readAll(fd, path: name, limit: 1 << 20)
    }

    /// The bytes of `name`, at most `limit`; throws `InputError` naming `purpose` when larger.
    func read(_ name: String, limit: Int, purpose: String) throws -> [UInt8] {
        let fd = try System.open(name, in: descriptor, O_RDONLY | O_NOFOLLOW, operation: "read")
        defer { System.close(fd) }
        let size = try System.status(of: fd, path: "\(path)/\(name)").st_size
        guard size <= limit else { throw InputError("\(purpose) is larger than \(limit >> 20) MiB; remove it or move it off the volume, then run again") }
        return try FileDescriptorIO.readAll(fd, path: name, limit: limit)
    }

    /// Removes `name` if present. Never throws: what is left goes with the directory (deinit).
    func remove(_ name: String) {
        // Left behind, it is shredded with the directory when released.
        try? System.unlink(name, in: descriptor, path: "\(path)/\(name)")
    }

    /// Creates `name` (0600) holding `contents`.
    func write(_ name: String, _ contents: [UInt8]) throws {
        let fd = try System.open(name, in: descriptor, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o600, operation: "create")
        defer { System.close(fd) }
        try FileDescriptorIO.writeAll(fd, contents, path: "\(path)/\(name)")
    }

    deinit {
        System.close(descriptor)
        Self.shred(path)
    }

    /// Shreds directories with `prefix` in `parent` whose process is gone.
    static func removeAbandoned(prefix: String, in parent: String) {
        guard let entries = try? RootDirectory(path: parent).directoryEntries("/") else { return }
        for name in entries where name.hasPrefix(prefix) {
            guard let pid = Int32(name.dropFirst(prefix.count).prefix { $0 != "." }), pid != getpid(),
                  System.processIsGone(pid) else { continue }
            shred("\(parent)/\(name)")
        }
    }

    /// Overwrites every file in `path` with random bytes, removes them and the directory.
    ///
    /// Best effort, so nothing here throws: it runs from deinit and when tidying up after a
    /// killed run, and what it cannot shred now (a file that cannot be opened or overwritten)
    /// is removed all the same, or — when even that fails — tried again by the next run.
    static func shred(_ path: String) {
        guard let descriptor = try? System.open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW) else { return }
        defer {
            System.close(descriptor)
            try? System.removeDirectory(path)
        }
        guard let names = try? RootDirectory(path: path).directoryEntries("/") else { return }
        for name in names {
            if let fd = try? System.open(name, in: descriptor, O_WRONLY | O_NOFOLLOW) {
                if let size = try? System.status(of: fd, path: name).st_size, let noise = try? RandomBytes.generate(Int(size)) {
                    try? FileDescriptorIO.writeAll(fd, noise, path: name)
                }
                System.close(fd)
            }
            try? System.unlink(name, in: descriptor, path: "\(path)/\(name)")
        }
    }
}

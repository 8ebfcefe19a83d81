#if canImport(Glibc)
import Glibc
#endif
import CShims

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
        let parent = access("/run", W_OK) == 0 ? "/run" : "/tmp"
        Self.removeAbandoned(prefix: prefix, in: parent)
        var template = Array("\(parent)/\(prefix)\(getpid()).XXXXXX".utf8CString)
        guard let created = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw SystemError(code: sc_errno(), operation: "create a private directory for \(purpose) under", path: parent)
        }
        let path = String(cString: created)
        do {
            descriptor = try Syscall.call(.open, "open", path: path) { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        } catch {
            rmdir(path)
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
        let fd = try Syscall.call(.open, "read", path: name) { openat(descriptor, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
        defer { close(fd) }
        return try FileDescriptorIO.readAll(fd, path: name, limit: 1 << 20)
    }

    /// Creates `name` (0600) holding `contents`.
    func write(_ name: String, _ contents: [UInt8]) throws {
        let fd = try Syscall.call(.open, "create", path: name) {
            openat(descriptor, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        }
        defer { close(fd) }
        try FileDescriptorIO.writeAll(fd, contents, path: "\(path)/\(name)")
    }

    deinit {
        close(descriptor)
        Self.shred(path)
    }

    /// Shreds directories with `prefix` in `parent` whose process is gone.
    static func removeAbandoned(prefix: String, in parent: String) {
        guard let entries = try? RootDirectory(path: parent).directoryEntries("/") else { return }
        for name in entries where name.hasPrefix(prefix) {
            guard let pid = Int32(name.dropFirst(prefix.count).prefix { $0 != "." }), pid != getpid(),
                  kill(pid, 0) != 0, sc_errno() == ESRCH else { continue }
            shred("\(parent)/\(name)")
        }
    }

    /// Overwrites every file in `path` with random bytes, removes them and the directory.
    static func shred(_ path: String) {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        defer {
            close(descriptor)
            rmdir(path)
        }
        guard let names = try? RootDirectory(path: path).directoryEntries("/") else { return }
        for name in names {
            let fd = openat(descriptor, name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)
            if fd >= 0 {
                var info = stat()
                if fstat(fd, &info) == 0, let noise = try? RandomBytes.generate(Int(info.st_size)) {
                    try? FileDescriptorIO.writeAll(fd, noise, path: name)
                }
                close(fd)
            }
            unlinkat(descriptor, name, 0)
        }
    }
}

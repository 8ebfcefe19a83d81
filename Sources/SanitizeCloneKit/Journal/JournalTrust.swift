#if canImport(Glibc)
import Glibc
#endif

/// Which journals a run may follow: those written by this machine for this root.
///
/// Every record is tagged with HMAC-SHA-256 under this machine's `JournalKey` over the root's
/// binding, the run id and the record. A journal planted in a guest, copied from another root,
/// written by another host (an offline run elsewhere) or by a version before the tags fails on
/// its first record: it is *foreign*, reported by `status` and never followed. The undo actions
/// of an authenticated journal are still validated against the registered `UndoKinds`.
public struct JournalTrust: Sendable {
    /// This machine's key; nil while it has none (then every journal found is foreign).
    let key: [UInt8]?
    /// What the journals belong to: "system" (the running system), "root:PATH" or "image:PATH".
    public let binding: String
    /// The undo kinds the tasks registered.
    public let undoKinds: UndoKinds

    public init(key: [UInt8]?, binding: String, undoKinds: UndoKinds) {
        self.key = key
        self.binding = binding
        self.undoKinds = undoKinds
    }

    /// The binding of `root` (the running system, or a `--root` by its canonical path), or of the
    /// disk image `image` whose root is mounted there (by the image's canonical path).
    public static func binding(of root: RootDirectory, image: String? = nil) throws -> String {
        if let image {
            let absolute = image.hasPrefix("/") ? image : RootPath.join(try RootDirectory(path: ".").hostPath, image)
            let directory = try RootDirectory(path: RootPath.parent(of: absolute))
            return "image:" + RootPath.join(directory.hostPath, RootPath.lastComponent(of: absolute))
        }
        return root.isLiveSystem ? "system" : "root:" + root.hostPath
    }

    /// The tag of one record of run `runID`.
    func tag(runID: String, json: [UInt8]) throws -> String {
        guard let key else { throw InputError("no journal key on this machine (\(JournalKey.path))") }
        return HMACSHA256.hex(key: key, message: message(runID: runID, json: json))
    }

    /// True when `tag` is this machine's tag of the record for this root and run.
    func accepts(tag: Substring, runID: String, json: [UInt8]) -> Bool {
        guard let key else { return false }
        return HMACSHA256.equal(String(tag), HMACSHA256.hex(key: key, message: message(runID: runID, json: json)))
    }

    private func message(runID: String, json: [UInt8]) -> [UInt8] {
        Array("sanitize-clone journal 2\0\(binding)\0\(runID)\0".utf8) + json
    }
}

/// The secret that authenticates this machine's journals: 32 random bytes in
/// `/var/lib/sanitize-clone/journal.key` of the machine the tool runs on — never a file of a
/// `--root` or an image — owned by root, 0600, created with the first journal. `seal` removes it
/// from a template so each clone makes its own. `SANITIZE_CLONE_JOURNAL_KEY` names another file
/// (tests that run without root).
public enum JournalKey {
    /// Where the key lives on this machine.
    public static var path: String {
        if let override = getenv("SANITIZE_CLONE_JOURNAL_KEY"), override.pointee != 0 { return String(cString: override) }
        return StateDirectory.keyPath
    }

    /// The key, or nil when this machine has none yet. Throws when the file is not a 32-byte
    /// regular file that only its owner (this user) can read.
    public static func load() throws -> [UInt8]? {
        let (directory, name) = try location()
        guard let status = try directory.status(of: name) else { return nil }
        guard status.kind == .regular, status.owner == geteuid(), status.mode & 0o077 == 0, status.size == 32,
              let key = try directory.readFile(name), key.count == 32 else {
            throw InputError("\(path) is not this machine's journal key (a 32-byte file, 0600, owned by this user): remove it and run again (journals written with it are then foreign: see 'sanitize-clone status')")
        }
        return key
    }

    /// The key, created (0600, synced) when this machine has none. The key appears whole or not
    /// at all: it is written to a temporary name and moved into place without replacing, so runs
    /// starting at once (on other roots) never read it half-written, and all end with the one
    /// key that won.
    public static func loadOrCreate() throws -> [UInt8] {
        if let key = try load() { return key }
        let (directory, name) = try location()
        let temporary = "\(name).new-\(getpid())-\(Hex.encode(try RandomBytes.generate(4)))"
        let fd = try directory.openDescriptor(temporary, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode: 0o600)
        defer { try? directory.removeFile(temporary) }
        do {
            defer { System.close(fd) }
            try FileDescriptorIO.writeAll(fd, try RandomBytes.generate(32), path: path)
            try System.fsync(fd, path: path)
        }
        do {
            try directory.move(temporary, to: name)
        } catch let error as SystemError where error.code == EEXIST {
            // Another run made it a moment ago: that one is the key.
        }
        guard let key = try load() else { throw InputError("\(path) vanished as it was made: run again") }
        return key
    }

    /// The key's directory (created 0700 for the default place) and the key's path inside it.
    private static func location() throws -> (RootDirectory, String) {
        let parent = RootPath.parent(of: path)
        if path == StateDirectory.keyPath {
            try RootDirectory(path: "/").makeDirectories(parent, mode: 0o700)
        }
        return (try RootDirectory(path: parent), "/" + RootPath.lastComponent(of: path))
    }
}

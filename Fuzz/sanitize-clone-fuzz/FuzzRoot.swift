#if canImport(Glibc)
import Glibc
#endif
@testable import SanitizeCloneKit

/// A scratch root (under `$TMPDIR`, else /tmp), made once per process, for the parsers that read
/// their file from a root: each input is written there, then read back as the tool reads it.
///
/// `make fuzz` points TMPDIR into build/ and removes it afterwards; a crashed run leaves its root
/// behind for a look.
final class FuzzRoot: Sendable {
    /// The root's directory on the host.
    let path: String
    let root: RootDirectory

    /// The one root of this process.
    static let shared = FuzzRoot()

    private init() {
        let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array((base + "/sanitize-clone-fuzz.XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            fatalError("sanitize-clone-fuzz: cannot make a scratch root under \(base): \(String(cString: strerror(errno)))")
        }
        path = String(cString: made)
        do {
            root = try RootDirectory(path: path)
        } catch {
            fatalError("sanitize-clone-fuzz: cannot open the scratch root \(path): \(error)")
        }
    }

    /// Replaces `inside` (an absolute path in the root; its directory is made first) with `bytes`.
    func write(_ inside: String, _ bytes: [UInt8]) {
        do {
            try root.makeDirectories(RootPath.parent(of: inside))
            let fd = try root.openDescriptor(inside, flags: O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode: 0o644)
            defer { close(fd) }
            try FileDescriptorIO.writeAll(fd, bytes, path: inside)
        } catch {
            fatalError("sanitize-clone-fuzz: cannot write \(inside) in the scratch root \(path): \(error)")
        }
    }

    /// Writes `text` to `inside`, as `write(_:_:)`.
    func write(_ inside: String, _ text: String) {
        write(inside, Array(text.utf8))
    }
}

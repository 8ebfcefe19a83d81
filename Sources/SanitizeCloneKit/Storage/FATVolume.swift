#if canImport(Glibc)
import Glibc
#endif

/// Files on a FAT filesystem (an EFI system partition) read and written in userspace with mtools,
/// for a host whose kernel has no vfat driver: list (`mdir -/ -b`), read (`mcopy` out into a
/// private directory) and write (`mcopy -o` in, then the device flushed).
///
/// The volume is a block device (a loop device of the run's scope) or an image file at a byte
/// offset (`IMAGE@@OFFSET`). mtools runs with `MTOOLS_SKIP_CHECK=1`, a private `MTOOLSRC` and
/// `HOME` (so no user's `~/.mtoolsrc` or drive letters take part), and only ever with the drive
/// `::`. Every path inside the volume is validated (`validatedPath`): absolute, no `.` or `..`,
/// no drive letter, backslash, wildcard or control character. What a file holds is the guest's
/// untrusted input: it is never printed, and errors quote mtools' messages, never file contents.
///
/// mtools writes in place, not atomically: it frees the old clusters, then writes the new ones,
/// the directory entry and the FAT. A crash in the middle can leave the file old, new, cut short
/// or absent, and lost clusters (harmless; `fsck.vfat` frees them). Callers journal the old bytes
/// first (`FATFileUndo`), so recovery writes them back.
public final class FATVolume: Sendable {
    /// The device or image file.
    public let source: String
    /// The byte offset of the filesystem in `source` (an image file), or nil for a device.
    public let offset: Int?
    private let work: PrivateWorkDirectory
    private let counter = SharedSlot<Int>()

    /// The largest file read (a unified kernel image is tens of MiB).
    public static let readLimit = 256 << 20

    /// The FAT filesystem on block device `device`. Throws `MissingProgramError` when mtools is
    /// not installed, `InputError` for a path mtools would misread, `SystemError` when the private
    /// directory cannot be made.
    public convenience init(device: String) throws {
        try self.init(source: device, offset: nil)
    }

    /// The FAT filesystem at byte `offset` of the image file `image`.
    public convenience init(image: String, offset: Int) throws {
        try self.init(source: image, offset: offset)
    }

    private init(source: String, offset: Int?) throws {
        // mtools reads everything after the first "@@" as an offset, and a ':' as a drive letter's.
        guard source.hasPrefix("/"), !source.contains("@@"), !source.contains(":"), offset.map({ $0 >= 0 }) ?? true else {
            throw InputError("\(source): a FAT volume is opened by its absolute path without \"@@\" or ':' (mtools would misread them); rename it")
        }
        _ = try Self.program("mdir")
        self.source = source
        self.offset = offset
        work = try PrivateWorkDirectory(prefix: "sanitize-clone-fat.", purpose: "files of a FAT volume")
        try work.write("mtoolsrc", Array("mtools_skip_check=1\n".utf8))
    }

    /// `::/PATH` for mtools, after `validatedPath`.
    static func mtoolsPath(_ path: String) throws -> String { "::" + (try validatedPath(path)) }

    /// `path` inside the volume when it is safe to hand to mtools: absolute, components neither
    /// empty, `.` nor `..`, and no drive letter (`:`), backslash, wildcard (`*?[]`), `@@`, quote
    /// or control character. Throws `InputError` otherwise (a journal's path is untrusted).
    public static func validatedPath(_ path: String) throws -> String {
        let components = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        guard path.hasPrefix("/"), path.utf8.count <= 1024, !path.contains("@@"), !components.isEmpty,
              components.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." && $0.utf8.count <= 255 }),
              path.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7f && !":\\*?[]\"".unicodeScalars.contains($0) }) else {
            throw InputError("'\(String(path.unicodeScalars.filter { $0.value >= 0x20 && $0.value < 0x7f }))' is not a path inside a FAT volume (absolute, printable ASCII, no '..', drive letter, backslash or wildcard)")
        }
        return path
    }

    /// One entry of the volume.
    public struct Entry: Sendable, Equatable {
        /// Absolute inside the volume, e.g. "/EFI/debian/grub.cfg".
        public let path: String
        public let isDirectory: Bool
    }

    /// Every file and directory of the volume (`mdir -/ -b`), sorted. Names that are not safe
    /// paths (`validatedPath`) are left out. Throws `FATVolumeError` when mdir fails.
    public func list() throws -> [Entry] {
        let result = try run("mdir", ["-/", "-b", "-i", image, "::/"])
        guard result.exitCode == 0 else {
            // mdir -b says an empty root directory is "not found" (exit 1).
            if result.output.contains("File \"::/\" not found") { return [] }
            throw failure("list the files of", result)
        }
        var entries: [Entry] = []
        for line in result.output.split(whereSeparator: \.isNewline) where line.hasPrefix("::/") {
            var path = String(line.dropFirst(2))
            let isDirectory = path.hasSuffix("/") && path.count > 1
            if isDirectory { path.removeLast() }
            guard let valid = try? Self.validatedPath(path) else { continue }
            entries.append(Entry(path: valid, isDirectory: isDirectory))
        }
        return entries.sorted { $0.path < $1.path }
    }

    /// The bytes of the file `path`, or nil when it is absent. Throws `FATVolumeError` when
    /// mcopy fails otherwise, `InputError` for an unsafe path or a file over `limit` bytes.
    public func read(_ path: String, limit: Int = FATVolume.readLimit) throws -> [UInt8]? {
        let inside = try Self.mtoolsPath(path)
        let name = nextName("read")
        defer { work.remove(name) }
        let result = try run("mcopy", ["-n", "-i", image, inside, work.pathForOtherProgram(name)])
        guard result.exitCode == 0 else {
            if result.output.contains("not found") { return nil }
            throw failure("read \(path) from", result)
        }
        return try work.read(name, limit: limit, purpose: "\(source): \(path)")
    }

    /// Replaces the file `path` with `contents` (`mcopy -o`; created if absent, in an existing
    /// directory), then flushes the device, so a crash after this returns keeps the write.
    /// Throws `FATVolumeError` naming the volume and the fix, `SystemError` when the flush fails.
    public func write(_ path: String, contents: [UInt8]) throws {
        let inside = try Self.mtoolsPath(path)
        let name = nextName("write")
        defer { work.remove(name) }
        try work.write(name, contents)
        let result = try run("mcopy", ["-o", "-i", image, work.pathForOtherProgram(name), inside])
        guard result.exitCode == 0 else { throw failure("write \(path) on", result) }
        try flush()
    }

    /// fsync(2) of the device (or image file): mtools closes it without, and a loop device
    /// detached before its page cache is written back loses the write (issue 12).
    func flush() throws {
        let fd = try System.open(source, O_RDONLY | O_CLOEXEC, operation: "open (to flush)")
        defer { System.close(fd) }
        try System.fsync(fd, operation: "flush the FAT volume", path: source)
    }

    /// The `-i` argument: the device, or `IMAGE@@OFFSET`.
    private var image: String { offset.map { "\(source)@@\($0)" } ?? source }

    private var description: String { offset.map { "\(source) at byte \($0)" } ?? source }

    private func nextName(_ purpose: String) -> String {
        let next = (counter.get() ?? 0) + 1
        counter.set(next)
        return "\(purpose)-\(next)"
    }

    private func run(_ tool: String, _ arguments: [String]) throws -> ProgramOutput {
        try Self.program(tool).run(arguments, environment: Program.defaultEnvironment + [
            "MTOOLS_SKIP_CHECK=1", "MTOOLSRC=\(work.pathForOtherProgram("mtoolsrc"))", "HOME=\(work.path)",
        ])
    }

    /// ": <mtools' reason>" on one line, or nothing.
    private static func reasonSuffix(_ output: String) -> String {
        let reason = FilesystemUUIDError.oneLineReason(output)
        return reason.isEmpty ? "" : ": \(reason)"
    }

    private static func program(_ tool: String) throws -> Program { try Program.find(tool, package: "mtools") }

    private func failure(_ what: String, _ result: ProgramOutput) -> FATVolumeError {
        let tool = result.command.split(separator: " ").first.map { String($0.split(separator: "/").last ?? $0) } ?? "mtools"
        return FATVolumeError(description: "Failed to \(what) the FAT volume \(description): \(tool) exited with \(result.exitCode)\(Self.reasonSuffix(result.output)) (check it with `fsck.vfat -n \(source)`, then retry)")
    }
}

/// mtools could not list, read or write a FAT volume; one line naming the volume and the fix.
public struct FATVolumeError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

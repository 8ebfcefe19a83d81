#if canImport(Glibc)
import Glibc
#endif
import CShims

/// Opening, reading, writing and syncing files through descriptors.
extension System {
    // MARK: Opening and closing

    /// open(2) of a host path, close-on-exec. The caller closes the descriptor.
    static func open(_ path: String, _ flags: Int32, mode: mode_t = 0, operation: String = "open") throws(SystemError) -> Int32 {
        try Syscall.call(.open, operation, path: path) { Glibc.open(path, flags | O_CLOEXEC, mode) }
    }

    /// openat(2) of `name` in the directory `directory`, close-on-exec; `path` names it in errors.
    static func open(_ name: String, in directory: Int32, _ flags: Int32, mode: mode_t = 0,
                     operation: String = "open", path: String? = nil) throws(SystemError) -> Int32 {
        try Syscall.call(.open, operation, path: path ?? name) { openat(directory, name, flags | O_CLOEXEC, mode) }
    }

    /// openat2(2) with `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS` (sc_openat2): opens `relative`
    /// inside the directory `root` as if it were `/`, close-on-exec. An absolute symlink resolves
    /// inside `root`, `..` at the top stays at the top, and /proc's magic links are refused.
    static func openInsideRoot(_ root: Int32, _ relative: String, _ flags: Int32, mode: mode_t = 0,
                               operation: String = "open", path: String) throws(SystemError) -> Int32 {
        try Syscall.call(.open, operation, path: path) {
            sc_openat2(
                root, relative.isEmpty ? "." : relative,
                UInt64(UInt32(bitPattern: flags | O_CLOEXEC)), UInt64(mode),
                UInt64(SC_RESOLVE_IN_ROOT | SC_RESOLVE_NO_MAGICLINKS))
        }
    }

    /// fcntl(2) F_DUPFD_CLOEXEC (dup(2), close-on-exec): a second descriptor for what
    /// `descriptor` holds.
    static func duplicate(_ descriptor: Int32, operation: String = "reopen", path: String? = nil) throws(SystemError) -> Int32 {
        try Syscall.call(.open, operation, path: path) { fcntl(descriptor, F_DUPFD_CLOEXEC, 0) }
    }

    /// close(2). Never made to fail and never retried: Linux releases the descriptor whatever
    /// close returns (a retry could close a descriptor another thread was just given), and the
    /// errors it can report (EIO of a delayed write-back) are reported by the fsync that comes
    /// before every close whose data matter.
    static func close(_ descriptor: Int32) {
        _ = Glibc.close(descriptor)
    }

    // MARK: Reading and writing

    /// read(2) into `buffer`; returns the bytes read, 0 at the end of the file.
    static func read(_ descriptor: Int32, into buffer: UnsafeMutableRawBufferPointer,
                     operation: String = "read", path: String?) throws(SystemError) -> Int {
        try Syscall.call(.read, operation, path: path) { Glibc.read(descriptor, buffer.baseAddress, buffer.count) }
    }

    /// pread(2) into `buffer` from byte `offset`; returns the bytes read.
    static func read(_ descriptor: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int,
                     operation: String = "read", path: String?) throws(SystemError) -> Int {
        try Syscall.call(.read, operation, path: path) { pread(descriptor, buffer.baseAddress, buffer.count, off_t(offset)) }
    }

    /// write(2) of `buffer`; returns the bytes written, which may be fewer.
    static func write(_ descriptor: Int32, _ buffer: UnsafeRawBufferPointer,
                      operation: String = "write", path: String?) throws(SystemError) -> Int {
        try Syscall.call(.write, operation, path: path) { Glibc.write(descriptor, buffer.baseAddress, buffer.count) }
    }

    /// write(2) to standard error. Never made to fail: it is how messages reach the user, and an
    /// injected write failure meant for a file must not be taken by a log line. Returns the bytes
    /// written, or nil when standard error is gone (nothing is left to tell).
    static func writeToStandardError(_ buffer: UnsafeRawBufferPointer) -> Int? {
        try? Syscall.callUninjectable("write to standard error") { Glibc.write(2, buffer.baseAddress, buffer.count) }
    }

    /// ftruncate(2): cuts the file to `length` bytes.
    static func truncate(_ descriptor: Int32, to length: Int, operation: String = "truncate", path: String?) throws(SystemError) {
        try Syscall.call(.write, operation, path: path) { ftruncate(descriptor, off_t(length)) }
    }

    // MARK: Syncing

    /// fsync(2): the file's data and metadata are on disk when this returns.
    static func fsync(_ descriptor: Int32, operation: String = "flush", path: String?) throws(SystemError) {
        try Syscall.call(.fsync, operation, path: path) { Glibc.fsync(descriptor) }
    }

    /// fdatasync(2): the file's data (and the size needed to read it) are on disk.
    static func fdatasync(_ descriptor: Int32, operation: String = "flush", path: String?) throws(SystemError) {
        try Syscall.call(.fsync, operation, path: path) { Glibc.fdatasync(descriptor) }
    }

    /// sync_file_range(2) with SYNC_FILE_RANGE_WRITE (sc_start_writeback): starts writing the
    /// file's data back now, so the fsync that follows finds it on its way. Only a head start:
    /// that fsync reports every error, so this one is ignored and never made to fail (a failure
    /// injected for the fsync must reach the fsync).
    static func startWriteback(_ descriptor: Int32) {
        _ = sc_start_writeback(descriptor)
    }
}

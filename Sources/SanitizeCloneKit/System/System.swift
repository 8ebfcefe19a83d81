#if canImport(Glibc)
import Glibc
#endif

/// The system calls the library makes, one named wrapper each (as swift-system's internal
/// `system_*` functions are). Each wrapper goes through `Syscall`, so a test can make it fail, and
/// throws `SystemError` with what was being done and the path concerned; the few that never fail
/// on purpose say why.
///
/// Descriptors opened here are close-on-exec, so a program we start inherits none of them.
enum System {
    /// Runs `body`, returning nil instead of throwing when it fails with one of `codes`
    /// (e.g. ENOENT for "absent is fine").
    static func allowing<Result>(_ codes: Set<Int32>, _ body: () throws -> Result) throws -> Result? {
        do {
            return try body()
        } catch let error as SystemError where codes.contains(error.code) {
            return nil
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// close(2), for code that holds a raw descriptor from `RootDirectory`.
@discardableResult
func closeDescriptor(_ fd: Int32) -> Int32 { close(fd) }

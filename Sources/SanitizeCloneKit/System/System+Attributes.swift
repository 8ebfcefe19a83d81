#if canImport(Glibc)
import Glibc
#endif
import CShims

/// Owners, modes and extended attributes of open files.
extension System {
    /// fchown(2): gives the open file `owner` and `group`.
    static func setOwner(of descriptor: Int32, to owner: uid_t, group: gid_t,
                         operation: String = "set the owner of", path: String) throws(SystemError) {
        try Syscall.call(.chown, operation, path: path) { fchown(descriptor, owner, group) }
    }

    /// fchmod(2): gives the open file the permission bits `mode`.
    static func setMode(of descriptor: Int32, to mode: mode_t, operation: String = "set the mode of", path: String) throws(SystemError) {
        try Syscall.call(.chmod, operation, path: path) { fchmod(descriptor, mode) }
    }

    /// flistxattr(2): the names of the open file's extended attributes. Throws ENOTSUP when its
    /// file system keeps none.
    static func extendedAttributeNames(of descriptor: Int32, operation: String = "list the extended attributes of",
                                       path: String) throws(SystemError) -> [String] {
        let bytes = try sizedRead(operation, path: path) { flistxattr(descriptor, $0, $1) }
        return bytes.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }

    /// fgetxattr(2): the value of the open file's extended attribute `name`. Throws ENODATA when
    /// it has none of that name.
    static func extendedAttribute(_ name: String, of descriptor: Int32,
                                  operation: String = "read the extended attributes of", path: String) throws(SystemError) -> [UInt8] {
        try sizedRead(operation, path: path) { fgetxattr(descriptor, name, $0, $1) }
    }

    /// fsetxattr(2): gives the open file the extended attribute `name` with `value`.
    static func setExtendedAttribute(_ name: String, to value: [UInt8], on descriptor: Int32,
                                     operation: String, path: String) throws(SystemError) {
        try Syscall.call(.extendedAttribute, operation, path: path) {
            value.withUnsafeBytes { fsetxattr(descriptor, name, $0.baseAddress, value.count, 0) }
        }
    }

    /// The bytes of an xattr call that is asked for the size first (`body(nil, 0)`), then for
    /// the bytes; asked again when they grew in between (ERANGE).
    private static func sizedRead(_ operation: String, path: String,
                                  _ body: (UnsafeMutablePointer<CChar>?, Int) -> Int) throws(SystemError) -> [UInt8] {
        while true {
            let size = try Syscall.call(.extendedAttribute, operation, path: path) { body(nil, 0) }
            guard size > 0 else { return [] }
            var buffer = [CChar](repeating: 0, count: size)
            do throws(SystemError) {
                let length = try buffer.withUnsafeMutableBufferPointer { (pointer) throws(SystemError) -> Int in
                    try Syscall.call(.extendedAttribute, operation, path: path) { body(pointer.baseAddress, size) }
                }
                return buffer[0..<length].map { UInt8(bitPattern: $0) }
            } catch where error.code == ERANGE {
                continue
            }
        }
    }
}

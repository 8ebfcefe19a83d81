/// Lexical helpers for absolute paths inside a root ("/etc/hostname"). They never touch the disk.
public enum RootPath {
    /// `path` made absolute, with `.`, empty components and `..` resolved lexically; `..` at the
    /// top stays at the top, as RESOLVE_IN_ROOT does.
    public static func normalized(_ path: String) -> String {
        if isNormalized(path) { return path }
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }

    /// True when `path` is already absolute and clean: no empty, `.` or `..` component, no
    /// trailing slash (the common case, checked without splitting).
    static func isNormalized(_ path: String) -> Bool {
        let bytes = path.utf8
        guard bytes.first == UInt8(ascii: "/") else { return false }
        if bytes.count == 1 { return true }
        guard bytes.last != UInt8(ascii: "/") else { return false }
        var componentLength = 0
        var dots = 0
        for byte in bytes.dropFirst() {
            if byte == UInt8(ascii: "/") {
                if componentLength == 0 || componentLength == dots && dots <= 2 { return false }
                componentLength = 0
                dots = 0
            } else {
                componentLength += 1
                if byte == UInt8(ascii: ".") { dots += 1 }
            }
        }
        return !(componentLength == dots && dots <= 2)
    }

    /// The path without its leading slash, as openat2 wants it relative to the root descriptor.
    static func relative(_ path: String) -> String {
        String(normalized(path).dropFirst())
    }

    /// The directory part: "/etc" for "/etc/hostname", "/" for "/etc".
    public static func parent(of path: String) -> String {
        let clean = normalized(path)
        guard let slash = clean.lastIndex(of: "/"), slash != clean.startIndex else { return "/" }
        return String(clean[..<slash])
    }

    /// The last component: "hostname" for "/etc/hostname", "" for "/".
    public static func lastComponent(of path: String) -> String {
        let clean = normalized(path)
        guard let slash = clean.lastIndex(of: "/") else { return clean }
        return String(clean[clean.index(after: slash)...])
    }

    /// `directory` and `name` joined with one slash.
    public static func join(_ directory: String, _ name: String) -> String {
        if name.isEmpty { return directory }
        return directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// True when `path` is absolute and has no `..` component: the only form a journal record
    /// may name. Anything else in a journal is treated as tampering.
    public static func isSafeJournalPath(_ path: String) -> Bool {
        guard path.hasPrefix("/"), !path.contains("\0") else { return false }
        return !path.split(separator: "/").contains("..")
    }
}

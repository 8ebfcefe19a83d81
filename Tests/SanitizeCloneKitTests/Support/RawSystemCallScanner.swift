import Foundation

/// Finds raw system calls (C library and CShims functions) in Swift source: what must only be
/// written inside `Sources/SanitizeCloneKit/System/`, where each has a named wrapper.
///
/// It reads code the way a reviewer would: comments and the text of string literals are not
/// code (an interpolation `\(…)` is), a call after a dot (`directory.read(…)`) is a method, and
/// an unqualified call of a function the same file declares (`func read`) is that function.
/// `Glibc.write(…)` and every `sc_…` function of CShims are raw calls.
struct RawSystemCallScanner {
    /// One raw call: its 1-based line and the function called.
    struct Finding: Equatable, CustomStringConvertible {
        var line: Int
        var function: String
        var description: String { "line \(line): \(function)(…)" }
    }

    /// The C functions that are system calls, or do them for us.
    static let functions: Set<String> = [
        "open", "openat", "close", "read", "write", "pread", "pwrite", "fsync", "fdatasync", "sync_file_range",
        "unlink", "unlinkat", "rename", "renameat", "mkdir", "mkdirat", "mkdtemp", "rmdir",
        "stat", "fstat", "fstatat", "lstat", "statfs", "fstatfs", "statvfs", "fstatvfs", "access", "faccessat",
        "flock", "fcntl", "sethostname", "gethostname", "getrandom",
        "getxattr", "lgetxattr", "fgetxattr", "listxattr", "flistxattr", "setxattr", "fsetxattr", "removexattr", "fremovexattr",
        "opendir", "fdopendir", "readdir", "closedir", "readlink", "readlinkat", "realpath", "symlinkat", "linkat",
        "chown", "fchown", "chmod", "fchmod", "truncate", "ftruncate", "lseek",
        "mount", "umount", "umount2", "unshare", "setns", "ioctl",
        "socket", "bind", "connect", "sendto", "recvfrom", "poll",
        "kill", "pause", "dup", "dup2", "pipe", "pipe2", "posix_spawn", "posix_spawnp", "fork", "execve", "waitpid",
    ]

    /// Modules whose functions are raw calls even when qualified.
    static let cModules: Set<String> = ["Glibc", "Darwin", "CShims"]

    /// The raw calls in `source`.
    static func findings(in source: String) -> [Finding] {
        let code = codeOnly(source)
        let text = code as NSString
        let declared = Set(matches(#"\bfunc\s+([A-Za-z_][A-Za-z0-9_]*)"#, in: code).map { $0.groups[0] })
        var findings: [Finding] = []
        for match in matches(#"\b([A-Za-z_][A-Za-z0-9_]*)\s*\((\s*\))?"#, in: code) {
            let (name, emptyArguments) = (match.groups[0], match.groups[1])
            guard isSystemCall(name) else { continue }
            let before = word(before: match.location, in: text)
            if before.dot {
                // A method, unless qualified by a C module.
                guard cModules.contains(before.word) else { continue }
            } else {
                if before.word == "func" || before.word == "case" { continue }
                if declared.contains(name) { continue }
                // `stat()`, `statvfs()`: the C structs' initializers, not the calls.
                if !emptyArguments.isEmpty && !name.hasPrefix("sc_") { continue }
            }
            findings.append(Finding(line: lineNumber(of: match.location, in: code), function: name))
        }
        return findings
    }

    /// What comes before `offset`, spaces skipped: a dot (and the identifier before it), or the
    /// identifier there (e.g. `func`).
    private static func word(before offset: Int, in text: NSString) -> (dot: Bool, word: String) {
        func isSpace(_ character: unichar) -> Bool { character == 0x20 || character == 0x0a || character == 0x09 }
        func isIdentifier(_ character: unichar) -> Bool {
            (character >= 0x30 && character <= 0x39) || (character >= 0x41 && character <= 0x5a)
                || (character >= 0x61 && character <= 0x7a) || character == 0x5f
        }
        var index = offset - 1
        while index >= 0 && isSpace(text.character(at: index)) { index -= 1 }
        var dot = false
        if index >= 0 && text.character(at: index) == 0x2e {
            dot = true
            index -= 1
            while index >= 0 && isSpace(text.character(at: index)) { index -= 1 }
        }
        let end = index + 1
        while index >= 0 && isIdentifier(text.character(at: index)) { index -= 1 }
        return (dot, text.substring(with: NSRange(location: index + 1, length: end - index - 1)))
    }

    private static func isSystemCall(_ name: String) -> Bool {
        functions.contains(name) || name.hasPrefix("sc_")
    }

    /// `source` with comments and the text of string literals blanked out (newlines kept, so
    /// line numbers stay); interpolations in strings stay code.
    static func codeOnly(_ source: String) -> String {
        let characters = Array(source.unicodeScalars)
        var output = String.UnicodeScalarView()
        // Each open string literal, innermost last: whether it is multi-line, and how many
        // parentheses deep its current interpolation is (nil: in the literal's text).
        var strings: [(multiline: Bool, interpolationDepth: Int?)] = []
        var index = 0
        func blank(_ scalar: Unicode.Scalar) -> Unicode.Scalar { scalar == "\n" ? "\n" : " " }
        func starts(_ text: String) -> Bool {
            let scalars = Array(text.unicodeScalars)
            return index + scalars.count <= characters.count && Array(characters[index..<index + scalars.count]) == scalars
        }
        while index < characters.count {
            let scalar = characters[index]
            if let current = strings.last, current.interpolationDepth == nil {
                // Inside a literal's text.
                if scalar == "\\" && index + 1 < characters.count && characters[index + 1] == "(" {
                    strings[strings.count - 1].interpolationDepth = 0
                    output.append(" "); output.append("(")
                    index += 2
                } else if scalar == "\\" {
                    output.append(" ")
                    if index + 1 < characters.count { output.append(blank(characters[index + 1])) }
                    index += 2
                } else if current.multiline ? starts("\"\"\"") : scalar == "\"" {
                    let length = current.multiline ? 3 : 1
                    for _ in 0..<length { output.append("\"") }
                    strings.removeLast()
                    index += length
                } else {
                    output.append(blank(scalar))
                    index += 1
                }
                continue
            }
            if starts("//") {
                while index < characters.count && characters[index] != "\n" { output.append(" "); index += 1 }
            } else if starts("/*") {
                var depth = 0
                repeat {
                    if starts("/*") { depth += 1; output.append(" "); output.append(" "); index += 2 }
                    else if starts("*/") { depth -= 1; output.append(" "); output.append(" "); index += 2 }
                    else { output.append(blank(characters[index])); index += 1 }
                } while depth > 0 && index < characters.count
            } else if starts("\"\"\"") || scalar == "\"" {
                let multiline = starts("\"\"\"")
                let length = multiline ? 3 : 1
                for _ in 0..<length { output.append("\"") }
                strings.append((multiline, nil))
                index += length
            } else {
                if !strings.isEmpty, let depth = strings[strings.count - 1].interpolationDepth {
                    if scalar == "(" { strings[strings.count - 1].interpolationDepth = depth + 1 }
                    if scalar == ")" { strings[strings.count - 1].interpolationDepth = depth == 0 ? nil : depth - 1 }
                }
                output.append(scalar)
                index += 1
            }
        }
        return String(output)
    }

    private struct Match {
        var location: Int
        var groups: [String]
    }

    /// Every match of `pattern` in `text`: its UTF-16 offset and its capture groups ("" when a
    /// group took no part).
    private static func matches(_ pattern: String, in text: String) -> [Match] {
        let expression = try! NSRegularExpression(pattern: pattern)
        let whole = text as NSString
        return expression.matches(in: text, range: NSRange(location: 0, length: whole.length)).map { result in
            Match(location: result.range.location, groups: (1..<result.numberOfRanges).map { group in
                let range = result.range(at: group)
                return range.location == NSNotFound ? "" : whole.substring(with: range)
            })
        }
    }

    private static func lineNumber(of offset: Int, in text: String) -> Int {
        (text as NSString).substring(to: offset).reduce(1) { $1 == "\n" ? $0 + 1 : $0 }
    }
}

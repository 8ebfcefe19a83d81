import Foundation
import Testing
@testable import SanitizeCloneKit

/// Every system call goes through one seam (`Sources/SanitizeCloneKit/System/`), so a test can
/// make any of them fail and watch the rollback path run.
@Suite("One seam for every system call")
struct SyscallSeamTests {
    /// The library's sources outside the seam, by path relative to the package.
    static func sourcesOutsideTheSeam() throws -> [String] {
        let library = SanitizeClone.packageRoot + "/Sources/SanitizeCloneKit"
        let files = try #require(FileManager.default.enumerator(atPath: library)).compactMap { $0 as? String }
        return files.filter { $0.hasSuffix(".swift") && !$0.hasPrefix("System/") }.sorted().map { "Sources/SanitizeCloneKit/" + $0 }
    }

    @Test("no file outside System/ makes a raw system call")
    func noRawCallsOutsideTheSeam() throws {
        let files = try Self.sourcesOutsideTheSeam()
        #expect(files.count > 50, "found only \(files.count) source files: is the package root right?")
        var found: [String] = []
        for file in files {
            let source = try String(contentsOfFile: SanitizeClone.packageRoot + "/" + file, encoding: .utf8)
            found += RawSystemCallScanner.findings(in: source).map { "\(file):\($0.line): \($0.function)(…)" }
        }
        #expect(found.isEmpty, "raw system calls outside Sources/SanitizeCloneKit/System/ (add a wrapper there):\n\(found.joined(separator: "\n"))")
    }

    @Test("the scanner finds raw calls, and only those")
    func scannerFindsRawCalls() {
        let source = #"""
            let fd = open(path, O_RDONLY)
            _ = try directory.read("name")
            // close(fd) in a comment is no call
            let text = "write(2) in a string is none either"
            let message = "pid \(getpid()): \(kill(pid, 0))"
            Glibc.write(2, pointer, count)
            var info = stat()
            let code = sc_errno()
            /* unlink(path) */ let ok = true
            func read(_ name: String) {}
            try read("declared in this file")
            let more = """
                fsync(fd) in a multi-line string
                """
            """#
        let found = RawSystemCallScanner.findings(in: source)
        #expect(found == [
            .init(line: 1, function: "open"),
            .init(line: 5, function: "kill"),
            .init(line: 6, function: "write"),
            .init(line: 8, function: "sc_errno"),
        ], "\(found)")
    }

    /// A wrapper of each kind added with the seam, called so that the real call (should the
    /// failure not be injected) is harmless: a bad descriptor, a pid or path that does not exist.
    struct InjectedCall: Sendable, CustomTestStringConvertible {
        let kind: Syscall.Kind
        let call: @Sendable () throws -> Void
        var testDescription: String { kind.rawValue }
    }

    static let callsOfNewKinds: [InjectedCall] = [
        InjectedCall(kind: .extendedAttribute) { _ = try System.extendedAttributeNames(of: -1, path: "/etc/hostname") },
        InjectedCall(kind: .lock) { try System.lock(-1, LOCK_SH | LOCK_NB, path: "/var/lib/sanitize-clone/lock") },
        InjectedCall(kind: .statfs) { _ = try System.fileSystemStatus(of: -1, path: "/") },
        InjectedCall(kind: .mount) { try System.detachMount("/nonexistent/sanitize-clone-seam-test") },
        InjectedCall(kind: .spawn) {
            _ = try System.spawn("/nonexistent/sanitize-clone-seam-test", arguments: [], environment: [], output: 2)
        },
        InjectedCall(kind: .wait) { _ = try System.waitForExit(of: Int32.max, path: "/bin/true") },
        InjectedCall(kind: .signal) { try System.kill(Int32.max, 0) },
        InjectedCall(kind: .hostname) { _ = try System.hostname() },
        InjectedCall(kind: .random) { _ = try System.randomBytes(16) },
    ]

    @Test("an injected failure of each new kind surfaces as a SystemError from its wrapper", arguments: callsOfNewKinds)
    func injectedFailureSurfaces(_ injected: InjectedCall) throws {
        Syscall.injectFailure(injected.kind, onCall: 1, errno: EIO)
        defer { Syscall.clearInjectedFailure(injected.kind) }
        let error = try #require(throws: SystemError.self) { try injected.call() }
        #expect(error.code == EIO, "\(error)")
    }

    @Test("a failure injected by one test is not taken by calls of another task")
    func injectionStaysWithItsTest() async throws {
        Syscall.injectFailure(.random, onCall: 1, errno: EIO)
        defer { Syscall.clearInjectedFailure(.random) }
        let elsewhere = await Task.detached { (try? System.randomBytes(1)) != nil }.value
        #expect(elsewhere, "another task's call took the failure")
        #expect(throws: SystemError.self) { try System.randomBytes(1) }
    }

    @Test("an extended attribute that cannot be read is an error naming the file; a file system without any has none")
    func extendedAttributeErrors() throws {
        let fixture = try FixtureRoot()
        defer { fixture.remove() }
        try fixture.write("/etc/hostname", "golden\n")
        let fd = open(fixture.hostPath("/etc/hostname"), O_RDONLY | O_CLOEXEC)
        try #require(fd >= 0)
        defer { close(fd) }

        Syscall.injectFailure(.extendedAttribute, onCall: 1, errno: EIO)
        defer { Syscall.clearInjectedFailure(.extendedAttribute) }
        let error = try #require(throws: SystemError.self) { try ExtendedAttributes.all(of: fd, path: "/etc/hostname") }
        #expect(error.code == EIO && error.description.contains("/etc/hostname"), "\(error)")
        #expect(!error.description.contains("\n"))

        Syscall.injectFailure(.extendedAttribute, onCall: 1, errno: EOPNOTSUPP)
        #expect(try ExtendedAttributes.all(of: fd, path: "/etc/hostname").isEmpty)
    }
}

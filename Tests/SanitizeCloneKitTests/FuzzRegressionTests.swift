import Foundation
import Testing
@testable import SanitizeCloneKit

/// Inputs `make fuzz` found that trapped or hung a parser of guest files, read again: each must now
/// be refused (or read) in good time. See docs/testing.md, "Fuzzing".
@Suite struct FuzzRegressionTests {
    @Test("a netplan file with a carriage return alone is refused, not read forever")
    func carriageReturnAlone() throws {
        for text in ["\rJ", "network:\r  version: 2\r", "a: b\n# comment\r"] {
            let result = try #require(Self.finished { Result { () throws(YAMLSyntaxError) in try YAMLDocument(parsing: text) } },
                                      "reading \(text.debugDescription) did not finish")
            #expect(throws: YAMLSyntaxError.self) { try result.get() }
        }
        let error = #expect(throws: YAMLSyntaxError.self) { try YAMLDocument(parsing: "a: b\r\nc: d\re: f\n") }
        #expect(error?.line == 2)
        #expect(error?.column == 5)
        #expect(error?.message.contains("carriage return") == true)
    }

    @Test("a netplan file nested more than 64 collections deep is refused, not a stack overflow")
    func deepNesting() async throws {
        try await #require(processExitsWith: .success) {
            for text in [String(repeating: "[", count: 100_000), String(repeating: "{a: ", count: 50_000),
                         "network: " + String(repeating: "- ", count: 50_000)] {
                _ = try? YAMLDocument(parsing: text)
            }
        }
        let blockMappings = (0..<65).map { String(repeating: " ", count: $0) + "level\($0):" }.joined(separator: "\n") + " end\n"
        for text in [String(repeating: "[", count: 65) + String(repeating: "]", count: 65), String(repeating: "- ", count: 65) + "x\n", blockMappings] {
            let error = #expect(throws: YAMLSyntaxError.self) { try YAMLDocument(parsing: text) }
            #expect(error?.message.contains("nested more than 64 deep") == true)
        }
        #expect(try YAMLDocument(parsing: String(repeating: "[", count: 64) + String(repeating: "]", count: 64)).root?.kind == .sequence)
        #expect(try YAMLDocument(parsing: String(repeating: "- ", count: 64) + "x\n").root?.kind == .sequence)
    }

    @Test("an address written with digits other than ASCII ones is no address, not a trap")
    func addressWithOtherDigits() async throws {
        try await #require(processExitsWith: .success) {
            _ = try NetworkdStaticFile(text: "[Network]\nAddress=\u{BD}.0.0.1/24\n", path: "/etc/systemd/network/10-lan.network")
        }
        #expect(IPFamily.of("\u{BD}.0.0.1") == nil)
        #expect(IPFamily.of("\u{663}.\u{663}.\u{663}.\u{663}") == nil)
        #expect(IPFamily.of("192.0.2.10") == .v4)
        #expect(try NetworkdStaticFile(text: "[Network]\nAddress=\u{BD}.0.0.1/24\n", path: "/etc/systemd/network/10-lan.network") == nil)
    }

    @Test("an sshd Include pattern of many '*' is matched in good time")
    func includeWithManyStars() throws {
        let root = try FixtureRoot()
        defer { root.remove() }
        try root.write("/etc/ssh/sshd_config", "Include /etc/ssh/sshd_config.d/" + String(repeating: "*", count: 40) + "x\n")
        try root.write("/etc/ssh/sshd_config.d/10-host-keys.conf", "HostKey /etc/ssh/ssh_host_ed25519_key\n")
        let directory = try RootDirectory(path: root.path)
        let result = try #require(Self.finished { Result { try SSHDConfig(root: directory) } }, "the Include pattern was not matched in 10 s")
        #expect(try result.get().hostKeys == [])
        #expect(Glob.matches(Array("10-host-keys.conf"), Array("*-*-*.conf")))
        #expect(Glob.matches(Array("10-host-keys.conf"), Array("1?-*")))
        #expect(!Glob.matches(Array("10-host-keys.conf"), Array("*.conf?")))
        #expect(Glob.matches(Array(""), Array("**")))
    }

    // MARK: Helpers

    /// The result of `body`, run on a thread of its own, or nil when it has not finished within
    /// `seconds`: a parser stuck in a loop then fails its test instead of hanging the run (its
    /// thread is left spinning).
    static func finished<Value: Sendable>(within seconds: Double = 10, _ body: @escaping @Sendable () -> Value) -> Value? {
        let done = DispatchSemaphore(value: 0)
        let box = ResultBox<Value>()
        Thread {
            box.value = body()
            done.signal()
        }.start()
        guard done.wait(timeout: .now() + seconds) == .success else { return nil }
        return box.value
    }
}

/// Where `FuzzRegressionTests.finished` leaves a thread's result.
private final class ResultBox<Value: Sendable>: @unchecked Sendable {
    // @unchecked: written once by the worker thread before it signals the semaphore, read only
    // after a successful wait on it, which orders the two.
    var value: Value?
}

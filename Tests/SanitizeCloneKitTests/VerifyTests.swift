import Foundation
import Testing

/// `verify`: proves the clone — every identity differs from the template's recorded one and is
/// consistent. Exit 0 when every check holds, 1 listing those that do not.
@Suite("verify", .requiresFileOwnership)
struct VerifyTests {
    /// A clone made the way the service makes it: the Debian template sealed, then `run --auto`.
    /// Returns it with the template's ed25519 key pair (to put back).
    static func sanitizedClone() throws -> (root: FixtureRoot, templateKey: (privateKey: [UInt8], publicKey: [UInt8])) {
        let root = try FixtureRoot.debianLike()
        do {
            try root.configure("[SSH]\nKeyTypes=ed25519 ecdsa\n")
            let key = (try #require(root.bytes("/etc/ssh/ssh_host_ed25519_key")), try #require(root.bytes("/etc/ssh/ssh_host_ed25519_key.pub")))
            try SanitizeClone.json(["seal", "--root", root.path, "--json"])
            try SanitizeClone.json(["run", "--auto", "--root", root.path, "--json"])
            return (root, key)
        } catch {
            root.remove()
            throw error
        }
    }

    static func verify(_ root: FixtureRoot) throws -> (result: CommandResult, json: JSONValue) {
        let result = try SanitizeClone.run(["verify", "--root", root.path, "--json"])
        return (result, try SanitizeClone.requireSingleJSONObject(result))
    }

    static func failedChecks(_ json: JSONValue) -> Set<String> {
        Set(json["checks"]?.array?.filter { $0["passed"]?.bool == false }.compactMap { $0["check"]?.string } ?? [])
    }

    @Test("a sanitized clone passes: exit 0, result 'verified', every check listed as passed")
    func sanitizedClonePasses() throws {
        let (root, _) = try Self.sanitizedClone()
        defer { root.remove() }
        let (result, json) = try Self.verify(root)
        #expect(result.exitCode == 0, "\(result)")
        #expect(json["result"]?.string == "verified")
        let names = Set(json["checks"]?.array?.compactMap { $0["check"]?.string } ?? [])
        for name in ["machine-id is valid", "machine-id differs from the template's", "D-Bus machine-id equals /etc/machine-id",
                     "hostname is valid", "hostname differs from the template's", "hostname is in /etc/hosts",
                     "/etc/ssh/ssh_host_ed25519_key.pub matches its private key", "/etc/ssh/ssh_host_ed25519_key is not the template's key",
                     "/etc/ssh/ssh_host_ecdsa_key.pub matches its private key", "/etc/ssh/ssh_host_ecdsa_key is not the template's key"] {
            #expect(names.contains(name), "\(name) is checked: \(json)")
        }
        #expect(Self.failedChecks(json).isEmpty)
        let text = try SanitizeClone.run(["verify", "--root", root.path])
        #expect(text.exitCode == 0 && text.stdout.contains("Verified") && !text.stdout.contains("✘"), "\(text)")
    }

    /// Something that makes a clone fail verification, and the checks an administrator expects to fail.
    struct Breakage: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let failing: Set<String>
        let apply: @Sendable (FixtureRoot, (privateKey: [UInt8], publicKey: [UInt8])) throws -> Void
    }

    static let breakages: [Breakage] = [
        Breakage(testDescription: "the machine-id is still the template's", failing: ["machine-id differs from the template's"]) { root, _ in
            try root.write("/etc/machine-id", FixtureRoot.templateMachineID + "\n", mode: 0o444)
        },
        Breakage(testDescription: "D-Bus's copy holds another id", failing: ["D-Bus machine-id equals /etc/machine-id"]) { root, _ in
            try root.write("/var/lib/dbus/machine-id", "0123456789abcdef0123456789abcdef\n")
        },
        Breakage(testDescription: "a .pub that does not match its private key", failing: ["/etc/ssh/ssh_host_ed25519_key.pub matches its private key"]) { root, _ in
            try root.generateKey("ed25519", at: "/tmp/other_key")
            try root.writeBytes("/etc/ssh/ssh_host_ed25519_key.pub", try #require(root.bytes("/tmp/other_key.pub")))
        },
        Breakage(testDescription: "the hostname is missing from /etc/hosts", failing: ["hostname is in /etc/hosts"]) { root, _ in
            try root.write("/etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n")
        },
        Breakage(testDescription: "the hostname is still the template's",
                 failing: ["hostname differs from the template's", "hostname is in /etc/hosts"]) { root, _ in
            try root.write("/etc/hostname", "golden\n")
        },
        Breakage(testDescription: "a host key is still the template's", failing: ["/etc/ssh/ssh_host_ed25519_key is not the template's key"]) { root, key in
            try root.writeBytes("/etc/ssh/ssh_host_ed25519_key", key.privateKey, mode: 0o600)
            try root.writeBytes("/etc/ssh/ssh_host_ed25519_key.pub", key.publicKey)
        },
        Breakage(testDescription: "/etc/machine-id is not a valid id", failing: ["machine-id is valid"]) { root, _ in
            try root.write("/etc/machine-id", "uninitialized\n", mode: 0o444)
        },
    ]

    @Test("verify fails (exit 1) and lists the failing check", arguments: breakages)
    func failsListingTheCheck(_ breakage: Breakage) throws {
        let (root, key) = try Self.sanitizedClone()
        defer { root.remove() }
        try breakage.apply(root, key)

        let (result, json) = try Self.verify(root)
        #expect(result.exitCode == 1, "\(result)")
        #expect(json["result"]?.string == "failed")
        #expect(Self.failedChecks(json) == breakage.failing, "\(json)")

        let text = try SanitizeClone.run(["verify", "--root", root.path])
        #expect(text.exitCode == 1, "\(text)")
        for check in breakage.failing { #expect(text.stdout.contains("✘ \(check)"), "\(text)") }
        #expect(text.stdout.contains("\(breakage.failing.count) check(s) failed"), "\(text)")
    }

    @Test("a root without a recorded template identity fails: nothing to compare with")
    func nothingRecorded() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let (result, json) = try Self.verify(root)
        #expect(result.exitCode == 1, "\(result)")
        #expect(Self.failedChecks(json) == ["template identity recorded"], "\(json)")
        let detail = json["checks"]?.element(where: "check", is: "template identity recorded")?["detail"]?.string
        #expect(detail?.contains("seal") == true, "\(json)")
    }
}

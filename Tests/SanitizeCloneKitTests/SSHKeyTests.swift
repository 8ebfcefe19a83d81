import Foundation
@testable import SanitizeCloneKit
import Testing

/// SSHKey reads type, size and fingerprint from key files without using any secret; checked
/// against the real ssh-keygen.
@Suite("SSH key parsing against ssh-keygen")
struct SSHKeyTests {
    struct KeyKind: Sendable, CustomTestStringConvertible {
        let type: String
        let bits: Int?
        let expectedBits: Int
        let keygenType: String
        var testDescription: String { "\(type) \(expectedBits)" }
    }

    static let kinds = [
        KeyKind(type: "ed25519", bits: nil, expectedBits: 256, keygenType: "ed25519"),
        KeyKind(type: "ecdsa", bits: 256, expectedBits: 256, keygenType: "ecdsa"),
        KeyKind(type: "ecdsa", bits: 384, expectedBits: 384, keygenType: "ecdsa"),
        KeyKind(type: "ecdsa", bits: 521, expectedBits: 521, keygenType: "ecdsa"),
        KeyKind(type: "rsa", bits: 1024, expectedBits: 1024, keygenType: "rsa"),  // the smallest ssh-keygen makes: fast
    ]

    @Test("type, size and SHA256 fingerprint equal what ssh-keygen -l prints; the private key holds the same public blob", arguments: kinds)
    func matchesSSHKeygen(_ kind: KeyKind) throws {
        let directory = try Scratch.makeDirectory(prefix: "keys")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/key"
        var arguments = ["-q", "-t", kind.type, "-N", "", "-C", "root@test", "-f", path]
        if let bits = kind.bits { arguments += ["-b", String(bits)] }
        try HostCommand.succeed("ssh-keygen", arguments)
        let facts = try HostKeyFacts(hostPath: path + ".pub")

        let publicKey = try #require(SSHKey(publicKeyText: try String(contentsOfFile: path + ".pub", encoding: .utf8)))
        #expect(publicKey.fingerprint == facts.fingerprint)
        #expect(publicKey.bits == kind.expectedBits && facts.bits == kind.expectedBits)
        #expect(publicKey.keygenType == kind.keygenType)
        #expect(publicKey.summary == "\(facts.type) \(facts.bits) \(facts.fingerprint)")

        let privateKey = try #require(SSHKey(privateKeyText: try String(contentsOfFile: path, encoding: .utf8)))
        #expect(privateKey == publicKey)
    }

    @Test("text that is no key, or a PEM private key, gives nil instead of a guess")
    func rejectsNonKeys() {
        #expect(SSHKey(publicKeyText: "") == nil)
        #expect(SSHKey(publicKeyText: "ssh-ed25519 not-base64!!") == nil)
        #expect(SSHKey(privateKeyText: "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK\n-----END RSA PRIVATE KEY-----\n") == nil)
        #expect(SSHKey(privateKeyText: "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n") == nil)
    }
}

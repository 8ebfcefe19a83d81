import Foundation
import Testing

/// `ssh-host-keys`: every host key regenerated with the host's ssh-keygen, keeping type, size,
/// owner, group and mode; old certificates removed and reported; no secret ever printed.
@Suite("ssh-host-keys task", .requiresFileOwnership)
struct SSHHostKeysTaskTests {
    static let keys = ["/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_ecdsa_key"]

    @Test("regenerates every key HostKey names (through Include), keeping its type and size", arguments: FixtureRoot.Kind.allCases)
    func regeneratesKeepingTypeAndSize(_ kind: FixtureRoot.Kind) throws {
        let root = try kind.make()
        defer { root.remove() }
        let before = try Self.keys.map { try HostKeyFacts(publicKey: $0, in: root) }

        let report = try InProcess.json(["run", "--root", root.path, "--json", "--hostname", "web-01"])
        #expect(report.status(of: "ssh-host-keys") == "applied")
        for (key, old) in zip(Self.keys, before) {
            let new = try HostKeyFacts(publicKey: key, in: root)
            #expect(new.fingerprint != old.fingerprint, "\(key) is a new key")
            #expect(new.type == old.type && new.bits == old.bits, "\(key): \(old) → \(new)")
            #expect(try HostKeyFacts.publicKeyDerived(fromPrivate: key, in: root) == HostKeyFacts.publicKey(key, in: root),
                    "\(key).pub belongs to \(key)")
        }
        #expect(try HostKeyFacts(publicKey: "/etc/ssh/ssh_host_ecdsa_key", in: root).bits == (kind == .debian ? 384 : 256))
        let changed = report.task("ssh-host-keys")?["changes"]?.array?.compactMap { $0["path"]?.string } ?? []
        #expect(Set(changed) == Set(Self.keys.flatMap { [$0, $0 + ".pub"] }), "\(changed)")
    }

    @Test("keeps each key's owner, group and mode: root 0600 on Debian, group ssh_keys 0640 on Fedora", arguments: FixtureRoot.Kind.allCases)
    func keepsOwnerGroupAndMode(_ kind: FixtureRoot.Kind) throws {
        let root = try kind.make()
        defer { root.remove() }
        try root.setAttributes("/etc/ssh/ssh_host_ed25519_key.pub", mode: 0o640, owner: 0, group: 10)
        let files = Self.keys.flatMap { [$0, $0 + ".pub"] }
        let before = files.map { "\(root.ownership($0) ?? "?") \(String(root.mode($0) ?? 0, radix: 8))" }

        try InProcess.json(["run", "--root", root.path, "--only", "ssh-host-keys", "--json"])
        #expect(files.map { "\(root.ownership($0) ?? "?") \(String(root.mode($0) ?? 0, radix: 8))" } == before)
        let privateKey = kind == .fedora ? "0:998 640" : "0:0 600"
        #expect(before[0] == privateKey && before[2] == privateKey, "the fixture is what the distribution ships: \(before)")
    }

    @Test("the new keys carry the comment root@<new hostname>", arguments: FixtureRoot.Kind.allCases)
    func commentNamesTheNewHost(_ kind: FixtureRoot.Kind) throws {
        let root = try kind.make()
        defer { root.remove() }
        try InProcess.json(["run", "--root", root.path, "--json", "--hostname", "web-01"])
        let hostname = try #require(root.read("/etc/hostname")).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(hostname.hasPrefix("web-01"))
        for key in Self.keys {
            #expect(try HostKeyFacts(publicKey: key, in: root).comment == "root@\(hostname)")
        }
    }

    @Test("--only ssh-host-keys pulls in no dependency: the comment names the current hostname")
    func onlyPullsInNothing() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let report = try InProcess.json(["run", "--root", root.path, "--only", "ssh-host-keys", "--json"])
        #expect(report["tasks"]?.array?.compactMap { $0["name"]?.string } == ["ssh-host-keys"])
        #expect(root.read("/etc/hostname") == "golden\n")
        #expect(try HostKeyFacts(publicKey: Self.keys[0], in: root).comment == "root@golden")
    }

    @Test("the new SHA256 fingerprints are logged as ssh-keygen -l prints them")
    func logsNewFingerprints() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let result = try SanitizeClone.run(["run", "--root", root.path, "--only", "ssh-host-keys"])
        #expect(result.exitCode == 0, "\(result)")
        for key in Self.keys {
            let fingerprint = try HostKeyFacts(publicKey: key, in: root).fingerprint
            #expect(result.stderr.contains(fingerprint), "\(fingerprint) of \(key) is logged: \(result.stderr)")
        }
    }

    @Test("a certificate of an old key is removed and reported in the notes; rollback puts it back")
    func removesCertificates() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let authority = root.scratch + "/host_ca"
        try HostCommand.succeed("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "host-ca", "-f", authority])
        try HostCommand.succeed("ssh-keygen", ["-q", "-s", authority, "-I", "golden", "-h", "-n", "golden.example.com",
                                               root.hostPath("/etc/ssh/ssh_host_ed25519_key.pub")])
        let certificate = "/etc/ssh/ssh_host_ed25519_key-cert.pub"
        try #require(root.exists(certificate), "ssh-keygen wrote the certificate")
        let before = try root.signature()

        let report = try InProcess.json(["run", "--root", root.path, "--only", "ssh-host-keys", "--json"])
        #expect(!root.exists(certificate))
        #expect(report.change("ssh-host-keys", path: certificate)?["action"]?.string == "delete")
        let notes = report.task("ssh-host-keys")?["notes"]?.array?.compactMap(\.string) ?? []
        #expect(notes.contains { $0.contains(certificate) }, "the notes tell the admin to re-sign: \(notes)")

        try InProcess.json(["rollback", "--root", root.path, "--last", "--json"])
        try expectUnchanged(root, since: before, "run + rollback")
    }

    @Test("no private key material appears in JSON, text output or the audit on stderr")
    func neverPrintsSecrets() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let oldBodies = Self.keys.flatMap { HostKeyFacts.privateKeyBody($0, in: root) }
        let outputs = [
            try InProcess.run(["plan", "--root", root.path, "--json"]),
            try SanitizeClone.run(["plan", "--root", root.path]),
            try InProcess.run(["run", "--root", root.path, "--json"]),
            try SanitizeClone.run(["status", "--root", root.path]),
            try InProcess.run(["rollback", "--root", root.path, "--last", "--json"]),
            try SanitizeClone.run(["run", "--root", root.path]),
        ]
        let newBodies = Self.keys.flatMap { HostKeyFacts.privateKeyBody($0, in: root) }
        #expect(!oldBodies.isEmpty && !newBodies.isEmpty)
        for output in outputs {
            #expect(output.exitCode == 0, "\(output)")
            for line in oldBodies + newBodies {
                #expect(!output.stdout.contains(line) && !output.stderr.contains(line), "key material printed by \(output.command)")
            }
        }
        let report = try #require(outputs[2].json)
        #expect(report.change("ssh-host-keys", path: Self.keys[0])?["old"]?.string == "<secret>")
        #expect(report.change("ssh-host-keys", path: Self.keys[0])?["new"]?.string == "<secret>")
    }

    @Test("a sealed Debian template gets exactly the keys its HostKey lines name")
    func sealedDebianGetsTheNamedKeys() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        for key in Self.keys { try root.delete(key); try root.delete(key + ".pub") }
        let report = try InProcess.json(["run", "--root", root.path, "--json", "--hostname", "web-01"])
        #expect(report.change("ssh-host-keys", path: Self.keys[0])?["action"]?.string == "create")
        #expect(try HostKeyFacts(publicKey: Self.keys[0], in: root).type == "ED25519")
        #expect(try HostKeyFacts(publicKey: Self.keys[1], in: root).type == "ECDSA")
        #expect(!root.exists("/etc/ssh/ssh_host_rsa_key"), "no key HostKey does not name")
        #expect(root.mode(Self.keys[0]) == 0o600 && root.ownership(Self.keys[0]) == "0:0")
        #expect(root.mode(Self.keys[0] + ".pub") == 0o644)
    }

    @Test("a sealed template without keys gets RSA, ECDSA and Ed25519; the RSA key keeps its size on the next run")
    func sealedTemplateGetsEveryKeyType() throws {
        let root = try FixtureRoot.fedoraLike()
        defer { root.remove() }
        for key in Self.keys { try root.delete(key); try root.delete(key + ".pub") }
        // RSABits' minimum, to keep the suite fast; the next run must keep 2048 over the default 3072.
        try root.configure("[SSH]\nRSABits=2048\n")

        try InProcess.json(["run", "--root", root.path, "--json", "--hostname", "web-01"])
        let rsa = try HostKeyFacts(publicKey: "/etc/ssh/ssh_host_rsa_key", in: root)
        #expect(rsa.type == "RSA" && rsa.bits == 2048, "\(rsa)")
        #expect(try HostKeyFacts(publicKey: "/etc/ssh/ssh_host_ecdsa_key", in: root).type == "ECDSA")
        #expect(try HostKeyFacts(publicKey: "/etc/ssh/ssh_host_ed25519_key", in: root).type == "ED25519")
        for type in ["rsa", "ecdsa", "ed25519"] {
            let key = "/etc/ssh/ssh_host_\(type)_key"
            #expect(root.ownership(key) == "0:998" && root.mode(key) == 0o640, "new private keys get Fedora's ssh_keys group: \(key)")
        }

        try root.delete("/etc/sanitize-clone/sanitize-clone.conf")
        try InProcess.json(["run", "--root", root.path, "--only", "ssh-host-keys", "--json"])
        let regenerated = try HostKeyFacts(publicKey: "/etc/ssh/ssh_host_rsa_key", in: root)
        #expect(regenerated.fingerprint != rsa.fingerprint)
        #expect(regenerated.bits == 2048, "an RSA key keeps its size: \(regenerated)")
    }
}

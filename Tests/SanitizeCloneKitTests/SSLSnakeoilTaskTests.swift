import Foundation
import Logging
@testable import SanitizeCloneKit
import Synchronization
import Testing

/// Debian's snakeoil certificate (`ssl-snakeoil`): make-ssl-cert made it for the template's name
/// with the template's key; a clone gets a new key and a certificate for its own name.
///
/// The task is not in `TaskRegistry` yet, so these tests run the engine itself with it added.
@Suite("ssl-snakeoil", .requiresFileOwnership, .enabled(if: HostCommand.isAvailable("openssl"), "needs the host's openssl (apt-get install openssl)"), .serialized)
struct SSLSnakeoilTaskTests {
    static let keyPath = "/etc/ssl/private/ssl-cert-snakeoil.key"
    static let certificatePath = "/etc/ssl/certs/ssl-cert-snakeoil.pem"
    /// Debian's ssl-cert group (its gid varies; 107 on the template).
    static let sslCertGroup: gid_t = 107
    static let newHostname = "web-07"
    /// The Debian fixture's /etc/hosts gives the template the domain example.com; the clone keeps it.
    static let newFullName = "web-07.example.com"

    /// The template's pair for `golden.example.com` (RSA 2048, SHA-256, ten years, as make-ssl-cert makes it), made once for the suite.
    static let templatePair: (key: [UInt8], certificate: [UInt8]) = {
        let scratch = try! Scratch.makeDirectory(prefix: "snakeoil")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try! HostCommand.succeed("openssl", [
            "req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "3650",
            "-subj", "/CN=golden.example.com", "-addext", "subjectAltName=DNS:golden.example.com",
            "-keyout", scratch + "/key", "-out", scratch + "/certificate",
        ])
        return (Array(FileManager.default.contents(atPath: scratch + "/key")!),
                Array(FileManager.default.contents(atPath: scratch + "/certificate")!))
    }()

    /// A Debian template with the snakeoil pair as make-ssl-cert leaves it: the key root:ssl-cert
    /// 0640 in /etc/ssl/private (0710 root:ssl-cert), the certificate 0644 with its subject-hash
    /// link beside it, next to an unrelated CA certificate and its own link.
    static func template() throws -> FixtureRoot {
        let root = try FixtureRoot.debianLike()
        do {
            try root.write("/etc/group", "root:x:0:\n_ssh:x:101:\nssl-cert:x:\(sslCertGroup):postgres\n")
            try root.makeDirectory("/etc/ssl/private")
            try root.setAttributes("/etc/ssl/private", mode: 0o710, group: sslCertGroup)
            try root.writeBytes(keyPath, templatePair.key, mode: 0o640, group: sslCertGroup)
            try root.writeBytes(certificatePath, templatePair.certificate, mode: 0o644)
            try root.symlink("/etc/ssl/certs/\(try subjectHash(of: root.hostPath(certificatePath))).0", to: "ssl-cert-snakeoil.pem")
            try root.write("/etc/ssl/certs/Example_Root_CA.pem", "-----BEGIN CERTIFICATE-----\nnot parsed\n-----END CERTIFICATE-----\n")
            try root.symlink("/etc/ssl/certs/4042bcee.0", to: "Example_Root_CA.pem")
        } catch {
            root.remove()
            throw error
        }
        return root
    }

    // MARK: Running the engine with the task

    static let quietLogger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    static func engine(logger: Logger = quietLogger) -> RunEngine {
        RunEngine(tasks: TaskRegistry.all, logger: logger)
    }

    /// Runs every task (or `only` these) on the root at `path` with the new hostname.
    static func run(_ path: String, dryRun: Bool = false, failpoint: String? = nil, only: [String]? = nil,
                    logger: Logger = quietLogger) throws -> RunReport {
        var options = RunOptions()
        options.dryRun = dryRun
        options.hostname = newHostname
        options.only = only
        options.failpoint = try failpoint.map(Failpoint.init(parsing:))
        return try engine(logger: logger).run(rootPath: path, options: options)
    }

    /// The report as `run --json` prints it, parsed.
    static func json(_ report: RunReport) throws -> JSONValue {
        try JSONValue(parsing: report.json.serialized())
    }

    // MARK: Asking openssl

    static func openssl(_ arguments: [String]) throws -> String {
        try HostCommand.succeed("openssl", arguments).stdout
    }

    static func subjectHash(of certificate: String) throws -> String {
        try openssl(["x509", "-in", certificate, "-noout", "-hash"]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func publicKey(ofPrivateKey key: String) throws -> String {
        try openssl(["pkey", "-in", key, "-pubout"])
    }

    /// The base64 lines of a PEM private key: what must never appear in any output.
    static func secretLines(_ pem: [UInt8]) -> [String] {
        String(decoding: pem, as: UTF8.self).split(separator: "\n").map(String.init).filter { !$0.hasPrefix("-----") && $0.count > 16 }
    }

    // MARK: The cases

    @Test("a dry run shows the old subject and fingerprint and the new name, never the key, and changes nothing")
    func dryRun() throws {
        let root = try Self.template()
        defer { root.remove() }
        let before = try root.signature()
        let oldHash = try Self.subjectHash(of: root.hostPath(Self.certificatePath))
        let fingerprint = try Self.openssl(["x509", "-in", root.hostPath(Self.certificatePath), "-noout", "-fingerprint", "-sha256"])
            .trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "=").last.map(String.init) ?? ""

        let report = try Self.json(Self.run(root.path, dryRun: true))
        #expect(report.status(of: "ssl-snakeoil") == "planned", "\(report)")
        let key = try #require(report.change("ssl-snakeoil", path: Self.keyPath))
        #expect(key["old"]?.string == "<secret>" && key["new"]?.string == "<secret>", "\(key)")
        let certificate = try #require(report.change("ssl-snakeoil", path: Self.certificatePath))
        #expect(certificate["old"]?.string == "CN=golden.example.com (SHA256 \(fingerprint))", "\(certificate)")
        #expect(certificate["new"]?.string?.hasPrefix("CN=\(Self.newFullName) (new, RSA 2048") == true, "\(certificate)")
        #expect(report.change("ssl-snakeoil", path: "/etc/ssl/certs/\(oldHash).0")?["action"]?.string == "delete", "\(report)")
        let newLink = "/etc/ssl/certs/\(SSLSnakeoilTask.SubjectHash.ofCommonName(Self.newFullName)).0"
        #expect(report.change("ssl-snakeoil", path: newLink)?["action"]?.string == "symlink", "\(report)")
        try expectUnchanged(root, since: before, "a dry run")
    }

    @Test("a run makes a new RSA 2048 key and a SHA-256 certificate for the new name, valid ten years, owner, group and mode kept")
    func runRegeneratesThePair() throws {
        let root = try Self.template()
        defer { root.remove() }
        let key = root.hostPath(Self.keyPath), certificate = root.hostPath(Self.certificatePath)
        let oldPublicKey = try Self.publicKey(ofPrivateKey: key)
        let oldHash = try Self.subjectHash(of: certificate)

        let run = try Self.run(root.path)
        let report = try Self.json(run)
        #expect(run.result == .committed, "\(report)")
        #expect(report.status(of: "ssl-snakeoil") == "applied", "\(report)")

        let newPublicKey = try Self.publicKey(ofPrivateKey: key)
        #expect(newPublicKey != oldPublicKey, "a new key, not the template's")
        #expect(try Self.openssl(["x509", "-in", certificate, "-noout", "-pubkey"]) == newPublicKey, "the certificate certifies the new key")
        #expect(try Self.openssl(["x509", "-in", certificate, "-noout", "-subject", "-nameopt", "RFC2253"]) == "subject=CN=\(Self.newFullName)\n")
        let text = try Self.openssl(["x509", "-in", certificate, "-noout", "-text"])
        #expect(text.contains("DNS:\(Self.newHostname), DNS:\(Self.newFullName)"), "subjectAltName: \(text)")
        #expect(text.contains("Public-Key: (2048 bit)") && text.contains("Signature Algorithm: sha256WithRSAEncryption"), "\(text)")
        #expect(text.contains("CA:FALSE"), "\(text)")
        let nineYears = String(9 * 365 * 86400), elevenYears = String(11 * 365 * 86400)
        #expect(try HostCommand.run("openssl", ["x509", "-in", certificate, "-noout", "-checkend", nineYears]).exitCode == 0, "valid for years")
        #expect(try HostCommand.run("openssl", ["x509", "-in", certificate, "-noout", "-checkend", elevenYears]).exitCode == 1, "about ten years")
        #expect(root.read(Self.keyPath)?.hasPrefix("-----BEGIN PRIVATE KEY-----\n") == true, "PKCS#8, as make-ssl-cert writes it")

        #expect(root.ownership(Self.keyPath) == "0:\(Self.sslCertGroup)" && root.mode(Self.keyPath) == 0o640, "the key stays root:ssl-cert 0640")
        #expect(root.ownership(Self.certificatePath) == "0:0" && root.mode(Self.certificatePath) == 0o644)

        let newHash = try Self.subjectHash(of: certificate)
        #expect(newHash == SSLSnakeoilTask.SubjectHash.ofCommonName(Self.newFullName))
        #expect(!root.exists("/etc/ssl/certs/\(oldHash).0"), "the link for the old subject goes")
        #expect(root.linkTarget("/etc/ssl/certs/\(newHash).0") == "ssl-cert-snakeoil.pem", "the link for the new subject comes")
        #expect(root.linkTarget("/etc/ssl/certs/4042bcee.0") == "Example_Root_CA.pem", "another certificate's link stays")

        let fingerprint = try Self.openssl(["x509", "-in", certificate, "-noout", "-fingerprint", "-sha256"])
            .trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "=").last.map(String.init) ?? "?"
        #expect(report.change("ssl-snakeoil", path: Self.certificatePath)?["new"]?.string == "CN=\(Self.newFullName) (SHA256 \(fingerprint))",
                "after the run the report shows the new certificate's fingerprint: \(report)")
    }

    @Test("run then rollback gives back the exact root")
    func runThenRollback() throws {
        let root = try Self.template()
        defer { root.remove() }
        let before = try root.signature()
        let run = try Self.run(root.path)
        #expect(run.result == .committed, "\(run.json.serialized())")
        _ = try Self.engine().rollback(rootPath: root.path, target: .last, force: false)
        try expectUnchanged(root, since: before, "run + rollback")
    }

    /// A hostname given to a run, and the names the certificate must carry.
    struct Naming: Sendable, CustomTestStringConvertible {
        let testDescription: String
        let hostname: String
        let commonName: String
        let alternativeNames: String
    }

    static let long = String(repeating: "n", count: 60)

    @Test("the certificate names the host as hostname -f does for make-ssl-cert", arguments: [
        Naming(testDescription: "a short name keeps the domain Debian's /etc/hosts gives the template",
               hostname: "web-07", commonName: "web-07.example.com", alternativeNames: "DNS:web-07, DNS:web-07.example.com"),
        Naming(testDescription: "a name given with its own domain",
               hostname: "web-07.corp.example", commonName: "web-07.corp.example", alternativeNames: "DNS:web-07, DNS:web-07.corp.example"),
        Naming(testDescription: "an FQDN longer than 64 characters: CN is the short name",
               hostname: long, commonName: long, alternativeNames: "DNS:\(long), DNS:\(long).example.com"),
    ])
    func naming(_ naming: Naming) throws {
        let root = try Self.template()
        defer { root.remove() }
        var options = RunOptions()
        options.hostname = naming.hostname
        options.only = ["hostname", "ssl-snakeoil"]
        let run = try Self.engine().run(rootPath: root.path, options: options)
        #expect(run.result == .committed, "\(run.json.serialized())")
        let certificate = root.hostPath(Self.certificatePath)
        #expect(try Self.openssl(["x509", "-in", certificate, "-noout", "-subject", "-nameopt", "RFC2253"]) == "subject=CN=\(naming.commonName)\n")
        let text = try Self.openssl(["x509", "-in", certificate, "-noout", "-ext", "subjectAltName"])
        #expect(text.contains(naming.alternativeNames + "\n"), "\(text)")
    }

    @Test("without the hostname task the current name is used; a name that is not a hostname is refused before any change")
    func currentName() throws {
        let root = try Self.template()
        defer { root.remove() }
        let plan = try Self.json(Self.run(root.path, dryRun: true, only: ["ssl-snakeoil"]))
        #expect(plan.change("ssl-snakeoil", path: Self.certificatePath)?["new"]?.string?.hasPrefix("CN=golden.example.com (new") == true, "\(plan)")

        try root.write("/etc/hostname", "golden$ENV::HOME\n")
        let before = try root.signature()
        #expect {
            try Self.run(root.path, only: ["ssl-snakeoil"])
        } throws: { error in
            error is InputError && "\(error)".contains("/etc/hostname") && ExitStatus.code(for: error) == 2
        }
        try expectUnchanged(root, since: before, "a refused run")
    }

    @Test("absolute symlinks to the pair are followed inside the root, never to the host's /etc/ssl")
    func symlinksStayInsideTheRoot() throws {
        let root = try Self.template()
        defer { root.remove() }
        try root.makeDirectory("/etc/ssl/sanitize-clone-test-elsewhere")
        try FileManager.default.moveItem(atPath: root.hostPath(Self.keyPath), toPath: root.hostPath("/etc/ssl/sanitize-clone-test-elsewhere/key"))
        try FileManager.default.moveItem(atPath: root.hostPath(Self.certificatePath), toPath: root.hostPath("/etc/ssl/sanitize-clone-test-elsewhere/certificate"))
        try root.symlink(Self.keyPath, to: "/etc/ssl/sanitize-clone-test-elsewhere/key")
        try root.symlink(Self.certificatePath, to: "/etc/ssl/sanitize-clone-test-elsewhere/certificate")

        let run = try Self.run(root.path, only: ["hostname", "ssl-snakeoil"])
        #expect(run.result == .committed, "\(run.json.serialized())")
        #expect(!FileManager.default.fileExists(atPath: "/etc/ssl/sanitize-clone-test-elsewhere"), "nothing written on the host")
        #expect(root.linkTarget(Self.keyPath) == "/etc/ssl/sanitize-clone-test-elsewhere/key", "the links stay links")
        let key = root.hostPath("/etc/ssl/sanitize-clone-test-elsewhere/key")
        #expect(root.bytes("/etc/ssl/sanitize-clone-test-elsewhere/key") != Self.templatePair.key, "the key they lead to is new")
        #expect(root.ownership("/etc/ssl/sanitize-clone-test-elsewhere/key") == "0:\(Self.sslCertGroup)")
        let certificate = root.hostPath("/etc/ssl/sanitize-clone-test-elsewhere/certificate")
        #expect(try Self.openssl(["x509", "-in", certificate, "-noout", "-pubkey"]) == (try Self.publicKey(ofPrivateKey: key)),
                "the certificate they lead to certifies it")
    }

    @Test("a template without a hash link to the certificate gets none")
    func noHashLinkStaysWithout() throws {
        let root = try Self.template()
        defer { root.remove() }
        let oldLink = "/etc/ssl/certs/\(try Self.subjectHash(of: root.hostPath(Self.certificatePath))).0"
        try root.delete(oldLink)
        let run = try Self.run(root.path, only: ["hostname", "ssl-snakeoil"])
        #expect(run.result == .committed, "\(run.json.serialized())")
        #expect(try Set(FileManager.default.contentsOfDirectory(atPath: root.hostPath("/etc/ssl/certs")))
                == ["ssl-cert-snakeoil.pem", "Example_Root_CA.pem", "4042bcee.0"])
    }

    @Test("a crash right after the new key is in place is rolled back to the exact root; the next run shreds what openssl left")
    func crashAfterTheKey() async throws {
        let root = try Self.template()
        defer { root.remove() }
        let before = try root.signature()
        let path = root.path
        await #expect(processExitsWith: .signal(SIGKILL)) { [path = path as String] in
            _ = try SSLSnakeoilTaskTests.run(path, failpoint: "ssl-snakeoil:change-1:crash")
        }
        #expect(root.bytes(Self.keyPath) != Self.templatePair.key, "the crash came after the new key was written")
        #expect(root.bytes(Self.certificatePath) == Self.templatePair.certificate, "and before the certificate")
        #expect(!Self.abandonedGenerationDirectories().isEmpty, "the killed run left its private directory")

        _ = try Self.engine().rollback(rootPath: root.path, target: .last, force: false)
        try expectUnchanged(root, since: before, "crash at change 1 + rollback")

        let again = try Self.run(root.path, only: ["hostname", "ssl-snakeoil"])
        #expect(again.result == .committed)
        #expect(Self.abandonedGenerationDirectories().isEmpty, "the next run shredded it")
    }

    /// Private generation directories whose process is gone, in /run (or /tmp, where the tool
    /// goes when /run is not writable, as in an unprivileged user namespace).
    static func abandonedGenerationDirectories() -> [String] {
        ["/run", "/tmp"].flatMap { (try? FileManager.default.contentsOfDirectory(atPath: $0)) ?? [] }.filter { name in
            guard name.hasPrefix(SSLSnakeoilTask.Generation.prefix),
                  let pid = Int32(name.dropFirst(SSLSnakeoilTask.Generation.prefix.count).prefix { $0 != "." }) else { return false }
            return kill(pid, 0) != 0 && errno == ESRCH
        }
    }

    @Test("a root without the snakeoil pair is skipped with the reason, and needs no openssl")
    func absentPairIsSkipped() async throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let report = try Self.json(Self.run(root.path, dryRun: true))
        #expect(report.status(of: "ssl-snakeoil") == "skipped")
        let reason = report.task("ssl-snakeoil")?["reason"]?.string ?? ""
        #expect(reason.contains(Self.keyPath) && reason.contains(Self.certificatePath), "\(reason)")

        let path = root.path
        await #expect(processExitsWith: .success) { [path = path as String] in
            setenv("PATH", "/nonexistent", 1)
            let report = try SSLSnakeoilTaskTests.run(path, only: ["ssl-snakeoil"])
            if report.result != .committed || report.tasks.first?.status != .skipped { exit(1) }
        }
    }

    @Test("a missing openssl is refused before any change when the pair is present (exit 2)")
    func missingOpenSSL() async throws {
        let root = try Self.template()
        defer { root.remove() }
        let before = try root.signature()
        let path = root.path
        await #expect(processExitsWith: .success) { [path = path as String] in
            setenv("PATH", "/nonexistent", 1)
            do {
                _ = try SSLSnakeoilTaskTests.run(path, only: ["ssl-snakeoil"])
                exit(1)
            } catch let error as InputError {
                if !error.description.contains("openssl") || !error.description.contains("apt-get install openssl") { exit(2) }
                if ExitStatus.code(for: error) != 2 { exit(3) }
            }
        }
        try expectUnchanged(root, since: before, "a refused run")
    }

    @Test("neither the template's nor the new private key appears in the report, the log or the journal")
    func privateKeyNeverShown() throws {
        let root = try Self.template()
        defer { root.remove() }
        let log = CapturedLog()
        let run = try Self.run(root.path, logger: Logger(label: "test", factory: { _ in CapturingLogHandler(log: log) }))
        #expect(run.result == .committed)
        let newKey = try #require(root.bytes(Self.keyPath))
        let secrets = Self.secretLines(Self.templatePair.key) + Self.secretLines(newKey)
        #expect(secrets.count > 40)

        let runDirectory = root.stateDirectory + "/runs/" + run.runID
        let journal = try String(contentsOfFile: runDirectory + "/journal", encoding: .utf8)
        let filesPack = String(decoding: FileManager.default.contents(atPath: runDirectory + "/backups/files") ?? Data(), as: UTF8.self)
        let outputs = ["the JSON report": run.json.serialized(), "the log": log.text, "the journal": journal, "the files backup": filesPack]
        for (what, text) in outputs {
            #expect(!text.contains("PRIVATE KEY") && !secrets.contains { text.contains($0) }, "key material in \(what)")
        }
        #expect(log.text.contains("CN=\(Self.newFullName) (SHA256 "), "the new certificate is logged: \(log.text)")
        let secretsPack = String(decoding: FileManager.default.contents(atPath: runDirectory + "/backups/secrets") ?? Data(), as: UTF8.self)
        #expect(secretsPack.contains(Self.secretLines(Self.templatePair.key)[0]), "the old key is kept with the run's secrets only")
    }

    @Test("the planned link name is openssl's subject hash", arguments: [
        "web-07.example.com", "WEB-07.Example.COM", "localhost", "a", "clone-5f3c1a9e",
        String(repeating: "x", count: 62) + ".y",
    ])
    func subjectHashMatchesOpenSSL(_ commonName: String) throws {
        let scratch = try Scratch.makeDirectory(prefix: "subject-hash")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try HostCommand.succeed("openssl", [
            "req", "-new", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
            "-subj", "/CN=\(commonName)", "-keyout", scratch + "/key", "-out", scratch + "/certificate",
        ])
        let fromOpenSSL = try Self.subjectHash(of: scratch + "/certificate")
        #expect(SSLSnakeoilTask.SubjectHash.ofCommonName(commonName) == fromOpenSSL)
    }
}

extension SSLSnakeoilTaskTests {
    /// Every message logged through a `CapturingLogHandler`, with its metadata, as text.
    final class CapturedLog: Sendable {
        private let lines = Mutex<[String]>([])

        func append(_ line: String) { lines.withLock { $0.append(line) } }

        var text: String { lines.withLock { $0.joined(separator: "\n") } }
    }

    /// A log handler that keeps every message in a `CapturedLog`.
    struct CapturingLogHandler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let fields = metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }).map { "\($0.key)=\($0.value)" }.sorted()
            log.append("\(event.message) \(fields.joined(separator: " "))")
        }
    }
}

import Foundation
import Logging
@testable import SanitizeCloneKit
import Testing

/// Per-clone data: the hostname from systemd credentials. Precedence: `--hostname`, credential
/// `sanitize-clone.hostname`, credential `system.hostname`, `[Hostname] Hostname=`, the derived
/// default. Credentials are read only on the live system or from `RunOptions.credentialsDirectory`
/// (the CLI has no option for it), so the precedence is tested on the engine itself.
@Suite("hostname from credentials", .requiresFileOwnership)
struct HostnameCredentialTests {
    /// One way a clone's hostname may be given, and the name it must get.
    struct Sources: Sendable, CustomTestStringConvertible {
        let testDescription: String
        var option: String?
        var credentials: [String: String] = [:]
        var configured: String?
        let expected: String
    }

    static let everything: [String: String] = ["sanitize-clone.hostname": "from-credential\n", "system.hostname": "from-system-credential\n"]

    static let cases: [Sources] = [
        Sources(testDescription: "--hostname over every credential and the configuration",
                option: "from-option", credentials: everything, configured: "from-config", expected: "from-option"),
        Sources(testDescription: "credential sanitize-clone.hostname over system.hostname and the configuration",
                credentials: everything, configured: "from-config", expected: "from-credential"),
        Sources(testDescription: "credential system.hostname over the configuration",
                credentials: ["system.hostname": "from-system-credential"], configured: "from-config", expected: "from-system-credential"),
        Sources(testDescription: "[Hostname] Hostname= when there is no credential",
                configured: "from-config", expected: "from-config"),
        Sources(testDescription: "the derived default when nothing names one",
                expected: "clone-\(FixtureRoot.templateMachineID.prefix(8))"),
        Sources(testDescription: "an empty or blank credential counts as none",
                credentials: ["sanitize-clone.hostname": "\n", "system.hostname": "  \t\n"], configured: "from-config", expected: "from-config"),
        Sources(testDescription: "a credential is trimmed and only its first line counts",
                credentials: ["sanitize-clone.hostname": "  web-07 \nsecond-line\n"], expected: "web-07"),
    ]

    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// A credentials directory on the host (outside the root), as systemd makes one: 0400 files.
    static func writeCredentials(_ credentials: [String: String], in directory: String) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        for (name, value) in credentials {
            guard FileManager.default.createFile(atPath: directory + "/" + name, contents: Data(value.utf8), attributes: [.posixPermissions: 0o400]) else {
                throw FixtureError("cannot write the credential \(name)")
            }
        }
        return directory
    }

    /// Runs the hostname task through the engine with the credentials in a directory of their own.
    static func run(_ root: FixtureRoot, _ sources: Sources) throws -> RunReport {
        let credentials = try writeCredentials(sources.credentials, in: root.scratch + "/credentials")
        if let configured = sources.configured { try root.configure("[Hostname]\nHostname=\(configured)\n") }
        var options = RunOptions()
        options.only = ["hostname"]
        options.hostname = sources.option
        options.credentialsDirectory = credentials
        return try RunEngine(tasks: TaskRegistry.all, logger: logger).run(rootPath: root.path, options: options)
    }

    @Test("the hostname comes from the first source that names one", arguments: cases)
    func precedence(_ sources: Sources) throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let report = try Self.run(root, sources)
        #expect(report.result == .committed, "\(report.json.serialized())")
        #expect(root.read("/etc/hostname") == sources.expected + "\n")
        #expect(root.read("/etc/hosts")?.contains("127.0.1.1\tgolden.example.com golden") == false)
        #expect(root.read("/etc/hosts")?.contains(sources.expected) == true, "\(root.read("/etc/hosts") ?? "")")
    }

    @Test("with --root, the build host's $CREDENTIALS_DIRECTORY is never read for the guest")
    func hostCredentialsAreNotTheGuests() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let hostCredentials = try Self.writeCredentials(["sanitize-clone.hostname": "build-host\n", "system.hostname": "build-host\n"],
                                                        in: root.scratch + "/host-credentials")
        let report = try SanitizeClone.json(["run", "--root", root.path, "--only", "hostname", "--json"],
                                            environment: ["CREDENTIALS_DIRECTORY": hostCredentials])
        #expect(report["result"]?.string == "committed", "\(report)")
        #expect(root.read("/etc/hostname") == "clone-\(FixtureRoot.templateMachineID.prefix(8))\n")
    }

    @Test("an invalid hostname in a credential is refused before any change, naming the credential")
    func invalidCredentialIsRefused() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        let before = try root.signature()
        let sources = Sources(testDescription: "invalid", credentials: ["sanitize-clone.hostname": "not_a valid/name\n"], expected: "")
        #expect {
            try Self.run(root, sources)
        } throws: { error in
            "\(error)".contains("sanitize-clone.hostname")
        }
        try expectUnchanged(root, since: before, "a refused run")
    }
}

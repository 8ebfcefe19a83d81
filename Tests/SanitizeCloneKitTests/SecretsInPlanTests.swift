import Foundation
import Testing

/// Secret values never reach any output: a change to a keyfile only root can read, or to a line
/// whose key names a secret (`psk=`, netplan `password:`…), shows which lines change with every
/// secret value as `<secret>` — in the plan and the run, as text and as JSON.
@Suite("Secrets in the plan and the run", .requiresFileOwnership, .serialized)
struct SecretsInPlanTests {
    static let wifiKeyfilePath = "/etc/NetworkManager/system-connections/office-wifi.nmconnection"
    static let wifiNetplanPath = "/etc/netplan/60-wifi.yaml"
    static let secrets = ["supersecret", "hunter2-secret"]

    /// A 0600 keyfile whose template MAC and connection UUID change, its `psk=` within the diff's context.
    static let wifiKeyfile = """
        [connection]
        id=office-wifi
        uuid=6b1a2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d
        type=wifi
        interface-name=wlan0

        [wifi]
        ssid=office
        mac-address=52:54:00:AA:00:01

        [wifi-security]
        psk=supersecret
        key-mgmt=wpa-psk
        """ + "\n"

    /// A 0644 netplan file (as netplan files often are) whose matched MAC changes, its access
    /// point's password within the diff's context.
    static let wifiNetplan = """
        network:
          version: 2
          wifis:
            wlan0:
              match:
                macaddress: "52:54:00:aa:00:02"
              access-points:
                "office":
                  password: "hunter2-secret"
              dhcp4: true
        """ + "\n"

    static func template() throws -> FixtureRoot {
        let root = try NetworkFixture.template()
        try root.write(wifiKeyfilePath, wifiKeyfile, mode: 0o600)
        try root.write(wifiNetplanPath, wifiNetplan, mode: 0o644)
        return root
    }

    /// The `-`/`+` lines of the diffs in a text report.
    static func changedLines(in text: String) -> [String] {
        text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { ($0.hasPrefix("-") || $0.hasPrefix("+")) && !$0.hasPrefix("---") && !$0.hasPrefix("+++") }
    }

    static func expectNoSecret(in output: String, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for secret in secrets {
            #expect(!output.contains(secret), "\(what) shows the secret \(secret):\n\(output)", sourceLocation: sourceLocation)
        }
    }

    @Test("the plan shows which keys change but no secret value, as text and as JSON")
    func plan() throws {
        let root = try Self.template()
        defer { root.remove() }
        let text = try SanitizeClone.run(["plan", "--root", root.path] + NetworkFixture.cloneNICs)
        try #require(text.exitCode == 0, "\(text)")
        Self.expectNoSecret(in: text.stdout + text.stderr, "plan")
        let changed = Self.changedLines(in: text.stdout)
        for key in ["uuid=", "mac-address=", "macaddress:"] {
            #expect(changed.contains { $0.contains(key) }, "no changed line names \(key): \(changed)")
        }
        #expect(text.stdout.contains("psk=<secret>") && text.stdout.contains("password: <secret>"), "\(text.stdout)")

        let json = try InProcess.run(["plan", "--root", root.path, "--json"] + NetworkFixture.cloneNICs)
        try #require(json.exitCode == 0, "\(json)")
        Self.expectNoSecret(in: json.stdout + json.stderr, "plan --json")
        #expect(json.json?.change("network-bindings", path: Self.wifiKeyfilePath) != nil, "\(json.stdout)")
    }

    @Test("the run shows no secret value, as text and as JSON, and still changes the files")
    func run() throws {
        let root = try Self.template()
        defer { root.remove() }
        let text = try SanitizeClone.run(["run", "--root", root.path, "--only", "network-bindings"] + NetworkFixture.cloneNICs)
        try #require(text.exitCode == 0, "\(text)")
        Self.expectNoSecret(in: text.stdout + text.stderr, "run")
        #expect(Self.changedLines(in: text.stdout).contains { $0.contains("macaddress:") }, "\(text.stdout)")
        #expect(root.read(Self.wifiNetplanPath)?.contains("macaddress: \"52:54:00:bb:00:02\"") == true)
        #expect(root.read(Self.wifiKeyfilePath)?.contains("psk=supersecret\n") == true)

        let rollback = try SanitizeClone.run(["rollback", "--root", root.path, "--last"])
        try #require(rollback.exitCode == 0, "\(rollback)")
        let json = try InProcess.run(["run", "--root", root.path, "--json", "--only", "network-bindings"] + NetworkFixture.cloneNICs)
        try #require(json.exitCode == 0, "\(json)")
        Self.expectNoSecret(in: json.stdout + json.stderr, "run --json")
    }
}

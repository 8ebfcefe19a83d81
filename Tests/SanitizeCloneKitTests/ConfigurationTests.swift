@testable import SanitizeCloneKit
import Testing

/// systemd-style INI: [Section], Key=Value, # and ; comments; unknown keys, sections and syntax
/// errors name the file and line.
@Suite("Configuration parsing")
struct ConfigurationTests {
    static let keys = RunEngine.engineKeys + TaskRegistry.all.flatMap(\.configurationKeys)
    static let file = "/etc/sanitize-clone/sanitize-clone.conf"

    static func parse(_ text: String) throws -> Configuration {
        var configuration = Configuration(keys: keys)
        try configuration.merge(text: text, file: file)
        return configuration
    }

    @Test("values, defaults, comments and whitespace")
    func values() throws {
        let configuration = try Self.parse("""
            # a comment
            ; another comment
            [Hostname]
              Prefix = web

            [SSH]
            RSABits=4096
            KeyTypes=ed25519 ecdsa
            """)
        #expect(configuration.value("Hostname", "Prefix") == "web")
        #expect(configuration.value("Hostname", "Hostname") == "", "unset keys have their default")
        #expect(configuration.number("SSH", "RSABits") == 4096)
        #expect(configuration.value("SSH", "KeyTypes") == "ed25519 ecdsa")
        #expect(configuration.number("Journal", "KeepRuns") == 3)
    }

    @Test("a file with CRLF line endings (edited on Windows) reads the same, and errors keep their line numbers")
    func crlfLineEndings() throws {
        let configuration = try Self.parse("# site\r\n[Hostname]\r\nPrefix=web\r\n\r\n[SSH]\r\nRSABits=4096\r\n")
        #expect(configuration.value("Hostname", "Prefix") == "web")
        #expect(configuration.number("SSH", "RSABits") == 4096)
        let error = try #require(throws: InputError.self) { try Self.parse("[Hostname]\r\nPrefix=web\r\nColour=blue\r\n") }
        #expect(error.description.hasPrefix(Self.file + ":3:"), "\(error)")
    }

    @Test("a later file overrides an earlier one; an empty assignment resets to the default")
    func overridesAndResets() throws {
        var configuration = try Self.parse("[Hostname]\nPrefix=web\n[Journal]\nKeepRuns=5\n")
        try configuration.merge(text: "[Hostname]\nPrefix=db\n[Journal]\nKeepRuns=\n", file: "/etc/sanitize-clone/conf.d/50-site.conf")
        #expect(configuration.value("Hostname", "Prefix") == "db")
        #expect(configuration.number("Journal", "KeepRuns") == 3)
        let source = configuration.effectiveValues.first { $0.key.qualifiedName == "Hostname.Prefix" }?.source
        #expect(source == "/etc/sanitize-clone/conf.d/50-site.conf:2")
    }

    static let errors: [(text: String, location: String, words: String)] = [
        ("[Hostname]\nPrefix=web\nnot a setting\n", ":3:", "expected Key=Value"),
        ("[Hostname]\nColour=blue\n", ":2:", "unknown key 'Colour'"),
        ("\n\n[Netwerk]\n", ":3:", "unknown section [Netwerk]"),
        ("[Hostname\n", ":1:", "malformed section header"),
        ("[]\n", ":1:", "malformed section header"),
        ("Prefix=web\n", ":1:", "before any [Section]"),
        ("[SSH]\nRSABits=1024\n", ":2:", "from 2048"),
        ("[SSH]\nRSABits=many\n", ":2:", "expected a number"),
        ("[Journal]\nKeepRuns=-1\n", ":2:", "expected a number"),
        ("[Hostname]\nHostname=bad_name!\n", ":2:", "not a valid hostname"),
        ("[Hostname]\nPrefix=-web\n", ":2:", "not a valid hostname prefix"),
    ]

    @Test("errors name file and line and say what is wrong", arguments: errors)
    func errorsNameFileAndLine(_ text: String, _ location: String, _ words: String) throws {
        let error = try #require(throws: InputError.self) { try Self.parse(text) }
        #expect(error.description.hasPrefix(Self.file + location), "\(error)")
        #expect(error.description.contains(words), "\(error)")
        #expect(!error.description.contains("\n"), "one line: \(error)")
    }

    @Test("an unknown key's error lists the section's known keys")
    func knownKeysListed() throws {
        let error = try #require(throws: InputError.self) { try Self.parse("[SSH]\nKeySize=4096\n") }
        #expect(error.description.contains("KeyTypes") && error.description.contains("RSABits"), "\(error)")
    }

    @Test("cat-config shows every key's effective value with the file and line it came from, drop-ins last", .requiresFileOwnership)
    func catConfig() throws {
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try root.write("/etc/sanitize-clone/sanitize-clone.conf", "[Hostname]\nPrefix=web\n\n[Journal]\nKeepRuns=5\n")
        try root.write("/etc/sanitize-clone/conf.d/50-site.conf", "[Journal]\nKeepRuns=7\n")
        let json = try SanitizeClone.json(["cat-config", "--root", root.path, "--json"])
        let keys = json["keys"]?.array ?? []
        func entry(_ section: String, _ name: String) -> JSONValue? {
            keys.first { $0["section"]?.string == section && $0["name"]?.string == name }
        }
        #expect(entry("Hostname", "Prefix")?["value"]?.string == "web")
        #expect(entry("Hostname", "Prefix")?["source"]?.string == "/etc/sanitize-clone/sanitize-clone.conf:2")
        #expect(entry("Journal", "KeepRuns")?["value"]?.string == "7")
        #expect(entry("Journal", "KeepRuns")?["source"]?.string == "/etc/sanitize-clone/conf.d/50-site.conf:2")
        #expect(entry("Network", "StaticAddressPolicy")?["value"]?.string == "dhcp")
        #expect(entry("Network", "StaticAddressPolicy")?["source"]?.string == "default")
        #expect(keys.count == Self.keys.count)
        let text = try SanitizeClone.run(["cat-config", "--root", root.path])
        #expect(text.exitCode == 0 && text.stdout.contains("KeepRuns=7    # /etc/sanitize-clone/conf.d/50-site.conf:2"), "\(text)")
    }
}

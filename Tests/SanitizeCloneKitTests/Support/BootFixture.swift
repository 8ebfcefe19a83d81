import Foundation
import Testing

/// Facts and fixture steps for the boot-integration suites (`run --auto`, `seal`, `detect`,
/// `verify`): the platform a clone boots on, the per-machine state a template carries, and
/// readers for what sanitize-clone records.
enum BootFixture {
    /// The DMI product UUID the template was recorded with, and another one for its clones.
    static let templateUUID = "4c4c4544-0042-3510-8051-b7c04f4e3432"
    static let cloneUUID = "9e1b2f7a-63c4-4d0b-a5e8-2f1c7d3b9a60"
    /// `templateUUID` as firmware storing the first three groups little-endian shows it.
    static let templateUUIDByteSwapped = "44454c4c-4200-1035-8051-b7c04f4e3432"

    static let templateMAC = "52:54:00:12:34:56"
    static let secondTemplateMAC = "52:54:00:12:34:57"
    static let cloneMAC = "52:54:00:ab:cd:01"
    static let secondCloneMAC = "52:54:00:ab:cd:02"

    /// The per-machine state a template picks up by running: DHCP leases and the random seed.
    static let perMachineFiles = [
        "/var/lib/dhcp/dhclient.ens3.leases",
        "/var/lib/NetworkManager/internal-5f3c1a9e-ens3.lease",
        "/var/lib/systemd/random-seed",
    ]

    /// The unit as `make install` puts it into a root.
    static let installedUnit = "/usr/lib/systemd/system/sanitize-clone.service"
    static let wantsLink = "/etc/systemd/system/sysinit.target.wants/sanitize-clone.service"

    /// `--product-uuid U --nic ens3=M …` for a command on `--root`.
    static func platform(uuid: String?, macs: [String]) -> [String] {
        var arguments: [String] = []
        if let uuid { arguments += ["--product-uuid", uuid] }
        for (index, mac) in macs.enumerated() { arguments += ["--nic", "ens\(index + 3)=\(mac)"] }
        return arguments
    }

    /// True for 32 lowercase hex digits and a newline, as /etc/machine-id holds.
    static func isMachineIDFile(_ text: String?) -> Bool {
        guard let text else { return false }
        return text.utf8.count == 33 && text.hasSuffix("\n")
            && text.dropLast().utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// The path of every `ssh_host_*_key` private key in the root's /etc/ssh, sorted.
    static func privateHostKeys(in root: FixtureRoot) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.hostPath("/etc/ssh"))) ?? []
        return names.filter { $0.hasPrefix("ssh_host_") && $0.hasSuffix("_key") }.sorted().map { "/etc/ssh/" + $0 }
    }

    /// Expects the key pair at `inside` to exist and its .pub to be the public half of the private key.
    static func expectMatchingKeyPair(_ inside: String, in root: FixtureRoot, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(root.isRegularFile(inside), "\(inside) exists", sourceLocation: sourceLocation)
        let derived = try HostKeyFacts.publicKeyDerived(fromPrivate: inside, in: root)
        #expect(HostKeyFacts.publicKey(inside, in: root) == derived, "\(inside).pub is the public half of \(inside)", sourceLocation: sourceLocation)
    }

    /// The SHA256 fingerprints of the root's host keys as `ssh-keygen -l` reads them, sorted.
    static func fingerprints(in root: FixtureRoot) throws -> [String] {
        try privateHostKeys(in: root).map { try HostKeyFacts(publicKey: $0, in: root).fingerprint }.sorted()
    }
}

extension FixtureRoot {
    /// Adds what a template collects by running: DHCP leases and a random seed.
    func addPerMachineState() throws {
        for path in BootFixture.perMachineFiles {
            try write(path, "state of the template's own boots\n", mode: 0o600)
        }
    }

    /// Installs the repository's `sanitize-clone.service` into the root, as `make install DESTDIR=…` does.
    func installServiceUnit() throws {
        let unit = try String(contentsOfFile: SanitizeClone.packageRoot + "/systemd/sanitize-clone.service", encoding: .utf8)
        try write(BootFixture.installedUnit, unit)
    }

    /// `/var/lib/sanitize-clone/identity.json`, parsed; nil when there is none.
    var identityRecord: JSONValue? {
        read("/var/lib/sanitize-clone/identity.json").flatMap { try? JSONValue(parsing: $0) }
    }
}

@testable import SanitizeCloneKit

/// What clone detection and `hostname` read from a root: the identity record, /etc/hosts,
/// /etc/hostname, /etc/machine-id, /etc/machine-info and /etc/group.
enum IdentityFuzzing {
    /// MACs two network files match: the template's first NIC and one nobody has.
    static let references = [
        MACReference(role: .matched, address: MACAddress("52:54:00:aa:00:01")!, range: 0..<17, written: "52:54:00:aa:00:01",
                     interfaceName: "ens3", setting: "[Match] MACAddress="),
        MACReference(role: .matched, address: MACAddress("52:54:00:cc:00:09")!, range: 0..<17, written: "52:54:00:cc:00:09",
                     interfaceName: nil, setting: "[Match] MACAddress="),
        MACReference(role: .set, address: MACAddress("02:00:00:00:00:42")!, range: 0..<17, written: "02:00:00:00:00:42",
                     interfaceName: "bond0", setting: "[NetDev] MACAddress="),
    ]

    /// The input as `/var/lib/sanitize-clone/identity.json` (a guest can plant one): clone
    /// detection on it, and the network rebinding to its recorded NICs.
    static func feedRecord(_ bytes: [UInt8]) {
        let scratch = FuzzRoot.shared
        scratch.write(RecordedIdentity.path, bytes)
        guard let recorded = try? RecordedIdentity.load(from: scratch.root) else { return }
        for platform in [PlatformFacts(productUUID: "4c4c4544-0038-3010-8031-b4c04f4e3632", interfaces: NetworkFileFuzzing.clone),
                         PlatformFacts(productUUID: nil, interfaces: NetworkFileFuzzing.clone)] {
            _ = CloneDetector(recorded: recorded, platform: platform).decide()
        }
        _ = try? MACRebinding(references: references, current: NetworkFileFuzzing.clone, template: recorded.template.interfaces ?? [])
    }

    /// The input as each of the small files naming the machine, renamed as `hostname` renames,
    /// and as `openssl x509` describing a guest's certificate (`ssl-snakeoil`).
    static func feedHostFiles(_ bytes: [UInt8]) {
        let scratch = FuzzRoot.shared
        scratch.write("/etc/group", bytes)
        scratch.write("/etc/hosts", bytes)
        _ = try? SSHHostKeysTask.groupID(named: "ssh_keys", in: scratch.root)
        _ = try? SSLSnakeoilTask.hostsFileDomain(of: "golden", in: scratch.root)
        guard let text = FuzzInput.text(bytes) else { return }
        _ = SSLSnakeoilTask.CertificateFacts(text)?.summary
        _ = MachineID.parse(text)
        _ = HostnameTask.prettyHostname(in: text)
        _ = HostnameTask.settingPrettyHostname(in: text, to: "web-01")
        let firstLine = text.split(whereSeparator: \.isNewline).map { $0.trimmingWhitespace() }.first { !$0.isEmpty && !$0.hasPrefix("#") }
        _ = try? Hostname.validate(firstLine ?? "", source: "/etc/hostname")
        let hosts = HostsFile(text: text)
        let renames: [(old: String?, domain: String?)] = [(firstLine.map { Hostname.split($0).name }, nil), ("golden", "example.com"), (nil, nil)]
        for (old, domain) in renames {
            let renamed = hosts.renamed(from: old, to: "web-01", domain: domain)
            _ = HostsFile(text: renamed).domain(of: "web-01")
            NetworkFileFuzzing.show(old: text, new: renamed, path: "/etc/hosts")
        }
    }

    /// The input as an iSCSI initiator name file (renamed as `iscsi-initiator` renames it) and
    /// as dhclient's internal state (its DUID lines dropped as `dhcp-state` drops them).
    static func feedStateFiles(_ bytes: [UInt8]) {
        guard let text = FuzzInput.text(bytes) else { return }
        if let renamed = try? ISCSIInitiatorTask.renamed(text, newSuffix: { String(repeating: "a", count: $0) }) {
            precondition(renamed.new.hasPrefix("iqn.") && renamed.contents.contains("InitiatorName=\(renamed.new)"))
        }
        let kept = DHCPStateTask.withoutDUIDs(text)
        precondition(kept.utf8.count <= text.utf8.count)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import SanitizeCloneKit

/// One parser of guest input under the fuzzer: its name — the value of
/// SANITIZE_CLONE_FUZZ_PARSER and the corpus directory `Fuzz/corpus/<name>/` — and what each
/// input is fed to.
struct FuzzedParser: Sendable {
    let name: String
    /// Reads one input as the tool reads that file, then does what the tool does with the result
    /// (rewrites, diffs, rereads); throws nothing: refusing bad input is the parsers' job.
    let feed: @Sendable ([UInt8]) -> Void

    /// Every parser, in the order `make fuzz` runs them.
    static let all: [FuzzedParser] = [
        FuzzedParser(name: "netplan") { NetworkFileFuzzing.feed($0, renderer: .netplan, path: "/etc/netplan/50-cloud-init.yaml") },
        FuzzedParser(name: "yaml-edits", feed: YAMLEditFuzzing.feed),
        FuzzedParser(name: "networkmanager") {
            NetworkFileFuzzing.feed($0, renderer: .networkManager, path: "/etc/NetworkManager/system-connections/uplink.nmconnection")
            NetworkFileFuzzing.feed($0, renderer: .networkManager, path: "/var/lib/NetworkManager/timestamps")
        },
        FuzzedParser(name: "networkd") { NetworkFileFuzzing.feed($0, renderer: .networkd, path: "/etc/systemd/network/10-uplink.network") },
        FuzzedParser(name: "ifupdown") { NetworkFileFuzzing.feed($0, renderer: .ifupdown, path: "/etc/network/interfaces") },
        FuzzedParser(name: "ifcfg") { NetworkFileFuzzing.feed($0, renderer: .ifcfg, path: "/etc/sysconfig/network-scripts/ifcfg-eth0") },
        FuzzedParser(name: "persistent-net") {
            NetworkFileFuzzing.feed($0, renderer: .udevPersistentNet, path: "/etc/udev/rules.d/70-persistent-net.rules")
        },
        FuzzedParser(name: "address-assignment", feed: NetworkFileFuzzing.feedAddressAssignments),
        FuzzedParser(name: "fstab", feed: StorageFuzzing.feedFilesystemTables),
        FuzzedParser(name: "uuid-references", feed: StorageFuzzing.feedReferences),
        FuzzedParser(name: "lvm-metadata", feed: StorageFuzzing.feedLVMMetadata),
        FuzzedParser(name: "blkid-export", feed: StorageFuzzing.feedBlkidExport),
        FuzzedParser(name: "partition-table", feed: StorageFuzzing.feedPartitionTable),
        FuzzedParser(name: "sshd-config", feed: SSHFuzzing.feedServerConfiguration),
        FuzzedParser(name: "ssh-key", feed: SSHFuzzing.feedKey),
        FuzzedParser(name: "configuration", feed: ConfigurationFuzzing.feed),
        FuzzedParser(name: "journal", feed: JournalFuzzing.feed),
        FuzzedParser(name: "identity", feed: IdentityFuzzing.feedRecord),
        FuzzedParser(name: "hosts", feed: IdentityFuzzing.feedHostFiles),
        FuzzedParser(name: "state-files", feed: IdentityFuzzing.feedStateFiles),
        FuzzedParser(name: "line-diff", feed: LineDiffFuzzing.feed),
    ]

    /// The value of SANITIZE_CLONE_FUZZ_PARSER, or nil.
    static var requestedName: String? { getenv("SANITIZE_CLONE_FUZZ_PARSER").map { String(cString: $0) } }

    /// The parser SANITIZE_CLONE_FUZZ_PARSER names; exits 2 with the known names for any other.
    static let selected: FuzzedParser = {
        if let name = requestedName, let parser = all.first(where: { $0.name == name }) { return parser }
        let known = all.map(\.name).joined(separator: " ")
        StandardError.write("sanitize-clone-fuzz: set SANITIZE_CLONE_FUZZ_PARSER to one of: \(known) (or 'list')\n")
        exit(2)
    }()
}

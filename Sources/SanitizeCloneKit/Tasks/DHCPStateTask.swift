/// Removes the DHCP state a clone must not reuse: leases (which carry the template's address and
/// client identity) and saved DUIDs. systemd-networkd's DUID follows the machine-id, which the
/// machine-id task renews.
///
/// dhclient: `/var/lib/dhcp/*.leases` (the `default-duid` lives in `dhclient6` leases);
/// dhcpcd: `/var/lib/dhcpcd/*.lease*`, `duid`, `/etc/dhcpcd.duid`; NetworkManager:
/// `/var/lib/NetworkManager/*.lease` and the DUID keys in `NetworkManager-intern.conf`;
/// systemd-networkd: its runtime leases on the live system.
public struct DHCPStateTask: SanitizeTask {
    /// What `plan` decided and `apply` carries out.
    public struct Decision: Sendable {
        let removals: [String]
        let internConf: (contents: String, attributes: FileAttributes)?
    }

    static let leaseDirectories = ["/var/lib/dhcp", "/var/lib/dhclient", "/var/lib/dhcpcd", "/var/lib/dhcpcd5", "/var/lib/NetworkManager"]
    static let duidFiles = ["/etc/dhcpcd.duid", "/var/lib/dhcpcd/duid", "/var/lib/dhcpcd5/duid", "/var/lib/dhcp/dhclient6.duid"]
    static let internConf = "/var/lib/NetworkManager/NetworkManager-intern.conf"
    static let networkdLeases = "/run/systemd/netif/leases"

    public let name = "dhcp-state"
    public let summary = "Remove DHCP leases and saved DUIDs (dhclient, dhcpcd, NetworkManager, networkd)"

    public init() {}

    static func isLease(_ name: String) -> Bool {
        !name.hasPrefix(".") && (name.hasSuffix(".lease") || name.hasSuffix(".leases") || name.hasSuffix(".lease6")
            || name.hasSuffix(".lease~") || name.hasSuffix(".leases~"))
    }

    public func plan(in context: PlanningContext) throws -> TaskPlan<Decision> {
        let root = context.root
        var removals: [String] = []
        for directory in Self.leaseDirectories {
            for name in try root.directoryEntries(directory) where Self.isLease(name) {
                let path = RootPath.join(directory, name)
                if try root.status(of: path)?.kind == .regular { removals.append(path) }
            }
        }
        for path in Self.duidFiles where try root.status(of: path)?.kind == .regular { removals.append(path) }
        if root.isLiveSystem {
            for name in try root.directoryEntries(Self.networkdLeases) { removals.append(RootPath.join(Self.networkdLeases, name)) }
        }
        var changes = removals.map { Change(path: $0, action: "delete", old: "lease or DUID", new: nil, undo: .restorePath(followingSymlinks: false)) }

        var internConf: (contents: String, attributes: FileAttributes)?
        if let text = try root.readText(Self.internConf), let status = try root.followedStatus(of: Self.internConf) {
            let kept = Self.withoutDUIDs(text)
            if kept != text {
                internConf = (kept, FileAttributes(of: status))
                changes.append(Change(path: Self.internConf, action: "write", old: "DUID", new: "(none)",
                                      diff: LineDiff.unified(old: text, new: kept, path: Self.internConf)))
            }
        }
        guard !changes.isEmpty else { return .skip("no DHCP leases or DUIDs in this root") }
        return TaskPlan(changes: changes, decision: Decision(removals: removals, internConf: internConf))
    }

    /// `text` (dhclient's internal state, untrusted) without the lines setting a DUID
    /// (`key=value` whose key mentions "duid", any case).
    static func withoutDUIDs(_ text: String) -> String {
        text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).filter { line in
            let key = line.split(separator: "=", maxSplits: 1).first.map { $0.trimmingWhitespace().lowercased() } ?? ""
            return !(line.contains("=") && key.contains("duid"))
        }.joined(separator: "\n")
    }

    public func apply(_ decision: Decision, in context: ApplyContext) throws {
        for (index, path) in decision.removals.enumerated() {
            try context.root.removeFile(path)
            try context.changeApplied(index)
        }
        if let conf = decision.internConf {
            try context.root.writeFileAtomically(Self.internConf, contents: Array(conf.contents.utf8), attributes: conf.attributes)
            try context.changeApplied(decision.removals.count)
        }
    }

    public func verify(_ decision: Decision, in context: ApplyContext) throws {
        for path in decision.removals where try context.root.status(of: path) != nil {
            throw VerificationError("\(path) is still there")
        }
    }
}

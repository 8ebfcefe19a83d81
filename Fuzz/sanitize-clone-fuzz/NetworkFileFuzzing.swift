@testable import SanitizeCloneKit

/// The network configuration files (`network-bindings`, `static-addresses`, `verify`) and the
/// per-clone address lines (credential and inventory).
enum NetworkFileFuzzing {
    /// The template's two NICs, as its identity record has them.
    static let template = [
        NetworkInterface(name: "ens3", mac: "52:54:00:aa:00:01", pciAddress: "0000:00:03.0"),
        NetworkInterface(name: "ens4", mac: "52:54:00:aa:00:02", pciAddress: "0000:00:04.0"),
    ]
    /// The clone's NICs, as `--nic` gives them.
    static let clone = [
        NetworkInterface(name: "ens3", mac: "52:54:00:bb:00:01", pciAddress: "0000:00:03.0"),
        NetworkInterface(name: "ens4", mac: "52:54:00:bb:00:02", pciAddress: "0000:00:04.0"),
    ]
    static let attributes = FileAttributes(mode: 0o600)

    /// `path`, holding the input, read as `renderer` reads it; then what each task does with it.
    static func feed(_ bytes: [UInt8], renderer: NetworkRenderer, path: String) {
        guard let text = FuzzInput.text(bytes) else { return }
        _ = NetworkConfigMACs.macAddresses(in: text)
        if let file = try? NetworkConfiguration.parsed(path, renderer: renderer, text: text, attributes: attributes) {
            rebind(file)
        }
        if let file = staticAddressFile(text, renderer: renderer, path: path) {
            readdress(file, text: text, path: path)
        }
    }

    /// What `network-bindings` plans: every MAC rebound or renewed and every connection UUID
    /// renewed where it stands, then the result read again as `verify` reads it.
    static func rebind(_ file: NetworkConfigFile) {
        guard let rebinding = try? MACRebinding(references: file.macs, current: clone, template: template) else { return }
        var edits: [TextEdit] = []
        for reference in file.macs {
            guard let new = rebinding.replacement(for: reference), new != reference.address else { continue }
            edits.append(TextEdit(range: reference.range, replacement: new.written(likeStyleOf: reference.written)))
        }
        for token in file.uuidTokens {
            edits.append(TextEdit(range: token.range, replacement: "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"))
        }
        guard !edits.isEmpty else { return }
        let contents = TextEdit.apply(edits, to: file.text)
        _ = try? NetworkConfiguration.parsed(file.path, renderer: file.renderer, text: contents, attributes: attributes)
        show(old: file.text, new: contents, path: file.path)
    }

    /// The file's static addresses in its renderer's syntax, as `static-addresses` reads them.
    static func staticAddressFile(_ text: String, renderer: NetworkRenderer, path: String) -> (any StaticAddressFile)? {
        switch renderer {
        case .netplan: try? NetplanStaticFile(text: text, path: path)
        case .networkManager: try? NetworkManagerStaticFile(text: text, path: path)
        case .networkd: try? NetworkdStaticFile(text: text, path: path)
        case .ifcfg: try? IfcfgStaticFile(text: text, path: path)
        case .ifupdown: InterfacesStaticFile(text: text, path: path)
        case .udevPersistentNet: nil
        }
    }

    /// What `static-addresses` writes for each of its targets: DHCP for both families (a `dhcp`
    /// line), the policy's DHCP for the families that had addresses, and new addresses with a
    /// gateway and DNS servers (a credential's line).
    static func readdress(_ file: any StaticAddressFile, text: String, path: String) {
        let replacements: [IPFamily: FamilyTarget] = [
            .v4: .replace(addresses: ["198.51.100.7/24", "198.51.100.8/25"], gateway: "198.51.100.1", dns: ["198.51.100.53", "2001:db8::53"]),
            .v6: .replace(addresses: ["2001:db8::7/64"], gateway: "2001:db8::1", dns: nil),
        ]
        let choices: [(IPFamily, Bool) -> FamilyTarget] = [
            { _, _ in .dhcp },
            { _, hadAddresses in hadAddresses ? .dhcp : .keep },
            { family, hadAddresses in hadAddresses ? replacements[family]! : .keep },
        ]
        for choose in choices {
            var targets: [Int: InterfaceTarget] = [:]
            for (number, interface) in file.interfaces.enumerated() {
                targets[number] = InterfaceTarget(v4: choose(.v4, !interface.addresses(of: .v4).isEmpty),
                                                  v6: choose(.v6, !interface.addresses(of: .v6).isEmpty))
            }
            if let contents = try? file.rewritten(targets) { show(old: text, new: contents, path: path) }
        }
    }

    /// The plan's view of a change: its diff, with secrets hidden both ways.
    static func show(old: String, new: String, path: String) {
        let diff = LineDiff.unified(old: old, new: new, path: path)
        _ = SecretRedaction.redacting(diff, hidingEveryValue: false)
        _ = SecretRedaction.redacting(diff, hidingEveryValue: true)
    }

    /// The `sanitize-clone.network` credential and the inventory file (`static-addresses`), and
    /// `--nic`/`[Network] Interfaces=` entries: the same words, read each way.
    static func feedAddressAssignments(_ bytes: [UInt8]) {
        guard let text = FuzzInput.text(bytes) else { return }
        _ = try? AddressAssignment.parse(text, source: "credential", keyed: false)
        for line in (try? AddressAssignment.parse(text, source: "inventory", keyed: true)) ?? [] {
            guard let key = line.key else { continue }
            _ = MACAddress(key)
            _ = ProductUUID.same(key, "4c4c4544-0038-3010-8031-b4c04f4e3632")
            for family in [IPFamily.v4, .v6] {
                _ = line.assignment.addresses(of: family)?.map { IPFamily.ipv4Bytes($0) }
            }
        }
        for word in text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }) {
            _ = try? NetworkInterface(parsing: String(word))
            _ = IPFamily.prefix(netmask: String(word))
            _ = ProductUUID.derivedMachineIDs(String(word))
        }
    }
}

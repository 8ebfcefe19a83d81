/// Netplan YAML: `addresses:`, `gateway4`/`gateway6`, default `routes`, `nameservers`, `dhcp4`/`dhcp6`,
/// edited at their positions.
struct NetplanStaticFile: StaticAddressFile {
    let document: YAMLDocument
    let found: [(interface: NetplanFile.Interface, addresses: YAMLNode)]
    let interfaces: [StaticInterface]

    init?(text: String, path: String) throws {
        document = try NetplanFile.document(text, path: path)
        var found: [(interface: NetplanFile.Interface, addresses: YAMLNode)] = []
        var interfaces: [StaticInterface] = []
        for interface in NetplanFile.interfaces(of: document) {
            guard let addresses = interface.node.value(forKey: "addresses"), addresses.kind == .sequence else { continue }
            let values = addresses.items.compactMap(\.scalar).filter(IPFamily.isAddressWithPrefix)
            guard !values.isEmpty else { continue }
            found.append((interface, addresses))
            let mac = interface.node.value(forKey: "match")?.value(forKey: "macaddress")?.scalar.flatMap(MACAddress.init)
            interfaces.append(StaticInterface(name: interface.name, matchedMACs: mac.map { [$0] } ?? [], addresses: values))
        }
        guard !found.isEmpty else { return nil }
        self.found = found
        self.interfaces = interfaces
    }

    static func isDefaultRoute(_ destination: String?, _ family: IPFamily) -> Bool {
        guard let destination else { return false }
        return destination == "default" ? true : family == .v4 ? destination == "0.0.0.0/0" : destination == "::/0"
    }

    func rewritten(_ targets: [Int: InterfaceTarget]) throws -> String {
        var edits = YAMLEdits(document: document)
        for (number, target) in targets {
            let (interface, addressesNode) = found[number]
            let old = interfaces[number].addresses
            var newAddresses: [String] = []
            var dhcpFamilies: [IPFamily] = []
            for family in [IPFamily.v4, .v6] {
                switch target[family] {
                case .keep: newAddresses += old.filter { IPFamily.of($0) == family }
                case .dhcp: dhcpFamilies.append(family)
                case .replace(let addresses, _, _): newAddresses += addresses
                }
            }
            if newAddresses.isEmpty { edits.removeEntry(key: "addresses", from: interface.node) } else if newAddresses != old {
                edits.replaceSequence(addressesNode, with: newAddresses)
            }
            let routes = interface.node.value(forKey: "routes")
            var removedRoutes = false
            var replacedServers = false
            for family in [IPFamily.v4, .v6] {
                let gatewayKey = family == .v4 ? "gateway4" : "gateway6"
                let defaultRoutes = routes?.items.filter { Self.isDefaultRoute($0.value(forKey: "to")?.scalar, family) && IPFamily.of($0.value(forKey: "via")?.scalar ?? "") == family } ?? []
                switch target[family] {
                case .keep:
                    continue
                case .dhcp:
                    if interface.node.value(forKey: gatewayKey) != nil { edits.removeEntry(key: gatewayKey, from: interface.node) }
                    if let routes, !removedRoutes, !defaultRoutes.isEmpty, routes.items.count == defaultRoutes.count {
                        edits.removeEntry(key: "routes", from: interface.node)
                        removedRoutes = true
                    }
                    let dhcpKey = family == .v4 ? "dhcp4" : "dhcp6"
                    if let existing = interface.node.value(forKey: dhcpKey) { edits.replaceScalar(existing, with: true) } else {
                        edits.addEntry(key: dhcpKey, boolean: true, to: interface.node)
                    }
                case .replace(_, let gateway, let dns):
                    if let gateway {
                        if let node = interface.node.value(forKey: gatewayKey) { edits.replaceScalar(node, with: gateway) }
                        for route in defaultRoutes { if let via = route.value(forKey: "via") { edits.replaceScalar(via, with: gateway) } }
                    }
                    if let dns, !replacedServers, let servers = interface.node.value(forKey: "nameservers")?.value(forKey: "addresses"), servers.kind == .sequence {
                        edits.replaceSequence(servers, with: dns)
                        replacedServers = true
                    }
                }
            }
        }
        return try edits.apply()
    }
}

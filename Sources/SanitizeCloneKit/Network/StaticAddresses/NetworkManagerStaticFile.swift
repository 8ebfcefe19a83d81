/// A NetworkManager keyfile: `[ipv4]`/`[ipv6]` with `method=manual`, `addressN=`, `gateway=`, `dns=`.
struct NetworkManagerStaticFile: StaticAddressFile {
    let text: String
    let entries: [KeyFile.Entry]
    let interfaces: [StaticInterface]

    static func isAddressKey(_ key: String) -> Bool {
        (key.hasPrefix("address") && key.dropFirst("address".count).allSatisfy(\.isNumber))
            || (key.hasPrefix("addresses") && key.dropFirst("addresses".count).allSatisfy(\.isNumber))
    }

    init?(text: String, path: String) throws {
        entries = try KeyFile.entries(of: text, path: path, commentCharacters: ["#", ";"],
                                      fix: "fix the keyfile or skip the task with --skip static-addresses")
        var addresses: [String] = []
        for section in ["ipv4", "ipv6"] where entries.contains(where: { $0.section == section && $0.key == "method" && $0.value == "manual" }) {
            for entry in entries where entry.section == section && Self.isAddressKey(entry.key) {
                addresses += entry.value.split(separator: ";").compactMap { $0.split(separator: ",").first.map(String.init) }
                    .filter(IPFamily.isAddressWithPrefix)
            }
        }
        guard !addresses.isEmpty else { return nil }
        self.text = text
        let name = entries.first { $0.section == "connection" && $0.key == "interface-name" }?.value
            ?? entries.first { $0.section == "connection" && $0.key == "id" }?.value ?? ""
        let macs = entries.filter { ($0.section == "ethernet" || $0.section == "802-3-ethernet") && $0.key == "mac-address" }
            .compactMap { MACAddress($0.value) }
        interfaces = [StaticInterface(name: String(name), matchedMACs: macs, addresses: addresses)]
    }

    func rewritten(_ targets: [Int: InterfaceTarget]) throws -> String {
        guard let target = targets[0] else { return text }
        var edits = LineEdits(text)
        let index = { (entry: KeyFile.Entry) in entry.line.number - 1 }
        for family in [IPFamily.v4, .v6] {
            let section = family == .v4 ? "ipv4" : "ipv6"
            let inSection = entries.filter { $0.section == section }
            let addressEntries = inSection.filter { Self.isAddressKey($0.key) }
            guard let method = inSection.first(where: { $0.key == "method" }), method.value == "manual" else { continue }
            switch target[family] {
            case .keep:
                continue
            case .dhcp:
                edits.replace(index(method), with: ["method=auto"])
                addressEntries.forEach { edits.remove(index($0)) }
                inSection.filter { $0.key == "gateway" }.forEach { edits.remove(index($0)) }
            case .replace(let addresses, let gateway, let dns):
                let gatewayEntry = inSection.first { $0.key == "gateway" }
                let inlineGateway = gateway != nil && gatewayEntry == nil
                var lines = addresses.enumerated().map { "address\($0.offset + 1)=\($0.element)" }
                if inlineGateway, let gateway { lines[0] += ",\(gateway)" }
                let anchor = addressEntries.first ?? method
                if addressEntries.isEmpty { edits.append(lines, after: index(method)) } else { edits.replace(index(anchor), with: lines) }
                addressEntries.dropFirst().forEach { edits.remove(index($0)) }
                if let gateway, let gatewayEntry { edits.replace(index(gatewayEntry), with: ["gateway=\(gateway)"]) }
                if let dns {
                    let value = "dns=\(dns.joined(separator: ";"));"
                    if let dnsEntry = inSection.first(where: { $0.key == "dns" }) { edits.replace(index(dnsEntry), with: [value]) } else {
                        edits.append([value], after: index(method))
                    }
                }
            }
        }
        return edits.apply(to: text)
    }
}

/// A systemd-networkd `.network` file: `Address=`, `Gateway=`, `DNS=`, `DHCP=`.
struct NetworkdStaticFile: StaticAddressFile {
    let text: String
    let entries: [KeyFile.Entry]
    let interfaces: [StaticInterface]

    init?(text: String, path: String) throws {
        guard path.hasSuffix(".network") else { return nil }
        entries = try KeyFile.entries(of: text, path: path, commentCharacters: ["#", ";"],
                                      fix: "fix the file (see systemd.network(5)) or skip the task with --skip static-addresses")
        let addresses = entries.filter { $0.key == "Address" && ($0.section == "Network" || $0.section == "Address") }.map { String($0.value) }
            .filter(IPFamily.isAddressWithPrefix)
        guard !addresses.isEmpty else { return nil }
        self.text = text
        let match = entries.filter { $0.section == "Match" }
        let name = match.first { $0.key == "Name" }?.value.split(separator: " ").first.map(String.init)
            ?? String(path.split(separator: "/").last ?? "")
        let macs = match.filter { $0.key == "MACAddress" || $0.key == "PermanentMACAddress" }
            .flatMap { $0.value.split(separator: " ").compactMap(MACAddress.init) }
        interfaces = [StaticInterface(name: name, matchedMACs: macs, addresses: addresses)]
    }

    func rewritten(_ targets: [Int: InterfaceTarget]) throws -> String {
        guard let target = targets[0] else { return text }
        var edits = LineEdits(text)
        let index = { (entry: KeyFile.Entry) in entry.line.number - 1 }
        let networkHeader = edits.lines.lines.firstIndex { $0.trimmed == "[Network]" }
        var dhcpFamilies: [IPFamily] = []
        var added: [String] = []
        for family in [IPFamily.v4, .v6] {
            let addressEntries = entries.filter { $0.key == "Address" && IPFamily.of(String($0.value)) == family }
            let gatewayEntries = entries.filter { $0.key == "Gateway" && IPFamily.of(String($0.value)) == family }
            switch target[family] {
            case .keep:
                continue
            case .dhcp:
                addressEntries.forEach { edits.remove(index($0)) }
                gatewayEntries.filter { $0.section == "Network" }.forEach { edits.remove(index($0)) }
                dhcpFamilies.append(family)
            case .replace(let addresses, let gateway, let dns):
                if let first = addressEntries.first {
                    let inNetwork = first.section == "Network"
                    edits.replace(index(first), with: (inNetwork ? addresses : [addresses[0]]).map { "Address=\($0)" })
                    if !inNetwork { added += addresses.dropFirst().map { "Address=\($0)" } }
                    addressEntries.dropFirst().forEach { edits.remove(index($0)) }
                } else {
                    added += addresses.map { "Address=\($0)" }
                }
                if let gateway {
                    if gatewayEntries.isEmpty { added.append("Gateway=\(gateway)") }
                    for entry in gatewayEntries { edits.replace(index(entry), with: ["Gateway=\(gateway)"]) }
                }
                if let dns {
                    let dnsEntries = entries.filter { $0.section == "Network" && $0.key == "DNS" }
                    if let first = dnsEntries.first {
                        edits.replace(index(first), with: ["DNS=\(dns.joined(separator: " "))"])
                        dnsEntries.dropFirst().forEach { edits.remove(index($0)) }
                    } else {
                        added.append("DNS=\(dns.joined(separator: " "))")
                    }
                }
            }
        }
        if !dhcpFamilies.isEmpty {
            let existing = entries.first { $0.section == "Network" && $0.key == "DHCP" }
            var families = Set(dhcpFamilies)
            switch existing.map({ $0.value.lowercased() }) {
            case "yes", "true", "both": families = [.v4, .v6]
            case "ipv4": families.insert(.v4)
            case "ipv6": families.insert(.v6)
            default: break
            }
            let value = families.count == 2 ? "yes" : families.contains(.v4) ? "ipv4" : "ipv6"
            if let existing { edits.replace(index(existing), with: ["DHCP=\(value)"]) } else { added.append("DHCP=\(value)") }
        }
        if !added.isEmpty {
            guard let networkHeader else {
                return text + (text.hasSuffix("\n") || text.isEmpty ? "" : "\n") + "\n[Network]\n" + added.joined(separator: "\n") + "\n"
            }
            edits.append(added, after: networkHeader)
        }
        return edits.apply(to: text)
    }
}

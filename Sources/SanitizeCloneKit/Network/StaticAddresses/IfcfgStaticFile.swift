/// A Red Hat ifcfg file: `BOOTPROTO=`, `IPADDR[N]=`, `PREFIX[N]=`/`NETMASK[N]=`, `GATEWAY=`, `DNSn=`, `IPV6ADDR=`.
struct IfcfgStaticFile: StaticAddressFile {
    let text: String
    let variables: [(key: String, value: Substring, index: Int)]
    let interfaces: [StaticInterface]

    static func numbered(_ key: String, _ base: String) -> Bool {
        key.hasPrefix(base) && key.dropFirst(base.count).allSatisfy(\.isNumber)
    }

    init?(text: String, path: String) throws {
        var variables: [(key: String, value: Substring, index: Int)] = []
        for (index, line) in ConfigLines(text).lines.enumerated() {
            let trimmed = line.trimmed
            guard !trimmed.isEmpty, !trimmed.hasPrefix("#"), let equals = trimmed.firstIndex(of: "=") else { continue }
            variables.append((String(trimmed[..<equals]), trimmed[trimmed.index(after: equals)...].unquoted(), index))
        }
        let bootproto = variables.first { $0.key == "BOOTPROTO" }?.value.lowercased() ?? "none"
        var addresses: [String] = []
        if bootproto == "none" || bootproto == "static" {
            for variable in variables where Self.numbered(variable.key, "IPADDR") {
                let suffix = variable.key.dropFirst("IPADDR".count)
                let prefix = variables.first { $0.key == "PREFIX\(suffix)" }.flatMap { Int($0.value) }
                    ?? variables.first { $0.key == "NETMASK\(suffix)" }.flatMap { IPFamily.prefix(netmask: String($0.value)) } ?? 24
                addresses.append("\(variable.value)/\(prefix)")
            }
        }
        for variable in variables where variable.key == "IPV6ADDR" || variable.key == "IPV6ADDR_SECONDARIES" {
            addresses += variable.value.split(separator: " ").map(String.init).filter(IPFamily.isAddressWithPrefix)
        }
        guard !addresses.isEmpty else { return nil }
        self.text = text
        self.variables = variables
        let name = variables.first { $0.key == "DEVICE" }.map { String($0.value) }
            ?? String(path.split(separator: "/").last?.dropFirst("ifcfg-".count) ?? "")
        let macs = variables.filter { $0.key == "HWADDR" }.compactMap { MACAddress($0.value) }
        interfaces = [StaticInterface(name: name, matchedMACs: macs, addresses: addresses)]
    }

    func rewritten(_ targets: [Int: InterfaceTarget]) throws -> String {
        guard let target = targets[0] else { return text }
        var edits = LineEdits(text)
        let quote = variables.first { Self.numbered($0.key, "IPADDR") }.map { variable in
            String(edits.lines.lines[variable.index].text).contains("\"") ? "\"" : ""
        } ?? ""
        func assignment(_ key: String, _ value: String) -> String { "\(key)=\(quote)\(value)\(quote)" }
        switch target.v4 {
        case .keep:
            break
        case .dhcp:
            for variable in variables where ["IPADDR", "PREFIX", "NETMASK"].contains(where: { Self.numbered(variable.key, $0) }) || variable.key == "GATEWAY" {
                edits.remove(variable.index)
            }
            if let bootproto = variables.first(where: { $0.key == "BOOTPROTO" }) {
                edits.replace(bootproto.index, with: [assignment("BOOTPROTO", "dhcp")])
            } else if let first = variables.first {
                edits.append([assignment("BOOTPROTO", "dhcp")], after: first.index)
            }
        case .replace(let addresses, let gateway, let dns):
            let old = variables.filter { variable in ["IPADDR", "PREFIX", "NETMASK"].contains(where: { Self.numbered(variable.key, $0) }) }
            var lines: [String] = []
            for (number, address) in addresses.enumerated() {
                let parts = address.split(separator: "/")
                let suffix = number == 0 ? "" : String(number)
                lines += [assignment("IPADDR\(suffix)", String(parts[0])), assignment("PREFIX\(suffix)", String(parts[1]))]
            }
            if let first = old.first { edits.replace(first.index, with: lines) }
            old.dropFirst().forEach { edits.remove($0.index) }
            if let gateway {
                if let entry = variables.first(where: { $0.key == "GATEWAY" }) { edits.replace(entry.index, with: [assignment("GATEWAY", gateway)]) } else if let first = old.first {
                    edits.append([assignment("GATEWAY", gateway)], after: first.index)
                }
            }
            if let dns {
                let oldDNS = variables.filter { Self.numbered($0.key, "DNS") && $0.key != "DNS" }
                let newLines = dns.enumerated().map { assignment("DNS\($0.offset + 1)", $0.element) }
                if let first = oldDNS.first { edits.replace(first.index, with: newLines) } else if let anchor = old.first { edits.append(newLines, after: anchor.index) }
                oldDNS.dropFirst().forEach { edits.remove($0.index) }
            }
        }
        let v6 = variables.filter { ["IPV6ADDR", "IPV6ADDR_SECONDARIES", "IPV6_DEFAULTGW"].contains($0.key) }
        switch target.v6 {
        case .keep:
            break
        case .dhcp:
            v6.forEach { edits.remove($0.index) }
            if let anchor = v6.first { edits.append([assignment("IPV6_AUTOCONF", "yes")], after: anchor.index) }
        case .replace(let addresses, let gateway, _):
            let primary = variables.first { $0.key == "IPV6ADDR" }
            if let primary { edits.replace(primary.index, with: [assignment("IPV6ADDR", addresses[0])] + (addresses.count > 1 ? [assignment("IPV6ADDR_SECONDARIES", addresses.dropFirst().joined(separator: " "))] : [])) }
            variables.filter { $0.key == "IPV6ADDR_SECONDARIES" }.forEach { edits.remove($0.index) }
            if let gateway, let entry = variables.first(where: { $0.key == "IPV6_DEFAULTGW" }) { edits.replace(entry.index, with: [assignment("IPV6_DEFAULTGW", gateway)]) }
        }
        return edits.apply(to: text)
    }
}

/// Netplan's YAML, read through `YAMLDocument` so every value is found at its exact position and
/// edited there: comments and layout stay as the administrator wrote them.
enum NetplanFile {
    /// The `network:` sections that hold interfaces.
    static let deviceTypes = ["ethernets", "bonds", "bridges", "vlans", "wifis", "modems", "tunnels", "vrfs",
                              "dummy-devices", "virtual-ethernets", "nm-devices"]

    /// One interface definition: `network.<type>.<id>`.
    struct Interface {
        let type: String
        let id: String
        let node: YAMLNode
        /// The name the interface gets: `set-name`, else `match: name`, else its id.
        var name: String {
            node.value(forKey: "set-name")?.scalar ?? node.value(forKey: "match")?.value(forKey: "name")?.scalar ?? id
        }
    }

    /// The parsed document, or an `InputError` naming the file, the line and the fix.
    static func document(_ text: String, path: String) throws -> YAMLDocument {
        do {
            return try YAMLDocument(parsing: text)
        } catch {
            throw InputError("\(path): \(error); fix the YAML ('netplan get' shows how netplan reads it) or skip the task with --skip network-bindings")
        }
    }

    /// Every interface the document defines, in order.
    static func interfaces(of document: YAMLDocument) -> [Interface] {
        guard let network = document.root?.value(forKey: "network"), network.kind == .mapping else { return [] }
        var result: [Interface] = []
        for type in deviceTypes {
            guard let devices = network.value(forKey: type), devices.kind == .mapping else { continue }
            for entry in devices.entries where entry.value.kind == .mapping {
                result.append(Interface(type: type, id: entry.key.scalar ?? "", node: entry.value))
            }
        }
        return result
    }

    /// The bytes of a scalar's value inside its quotes.
    static func valueRange(of node: YAMLNode) -> Range<Int> {
        switch node.style {
        case .singleQuoted, .doubleQuoted: return node.range.lowerBound + 1..<node.range.upperBound - 1
        default: return node.range
        }
    }

    static func parse(_ file: inout NetworkConfigFile) throws {
        let document = try document(file.text, path: file.path)
        let bytes = Array(file.text.utf8)
        func reference(_ node: YAMLNode?, role: MACReference.Role, interface: Interface, setting: String) -> MACReference? {
            guard let node, node.kind == .scalar, let value = node.scalar, let address = MACAddress(value) else { return nil }
            let range = valueRange(of: node)
            return MACReference(role: role, address: address, range: range, written: String(decoding: bytes[range], as: UTF8.self),
                                interfaceName: interface.name, setting: setting)
        }
        var definitions = Set<Int>()
        for interface in interfaces(of: document) {
            let prefix = "\(interface.type).\(interface.id)"
            if let matched = reference(interface.node.value(forKey: "match")?.value(forKey: "macaddress"), role: .matched,
                                       interface: interface, setting: "\(prefix).match.macaddress") {
                file.macs.append(matched)
            }
            if let set = reference(interface.node.value(forKey: "macaddress"), role: .set, interface: interface, setting: "\(prefix).macaddress") {
                file.macs.append(set)
            }
            if let uuid = interface.node.value(forKey: "networkmanager")?.value(forKey: "uuid"), uuid.kind == .scalar {
                definitions.insert(valueRange(of: uuid).lowerBound)
            }
        }
        file.uuidTokens = NetworkConfiguration.uuidTokens(in: file.text, definitions: definitions)
    }
}

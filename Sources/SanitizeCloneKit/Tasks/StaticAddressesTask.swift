/// Keeps a clone from coming up with the template's static addresses.
///
/// Each interface with static addresses gets, in this order: the addresses the
/// `sanitize-clone.network` credential gives it, those the template's inventory file gives this
/// clone (by DMI product UUID or MAC), or what `[Network] StaticAddressPolicy=` says — `dhcp`
/// (the default, with a warning), `keep`, or `fail`. Only the files that hold the addresses are
/// written, so only renderers in use change. On the running system (or with
/// `--probe-addresses`) every new IPv4 address is probed first (RFC 5227): when another host
/// answers, the task fails and the whole run rolls back.
public struct StaticAddressesTask: SanitizeTask {
    /// What `plan` decided and `apply` carries out.
    public struct Decision: Sendable {
        let writes: [(path: String, contents: String, attributes: FileAttributes)]
        /// (interface on this machine, IPv4 address) to probe before writing.
        let probes: [(interface: String, address: String)]
        let renderers: Set<NetworkRenderer>
    }

    /// The credential that gives per-clone addresses.
    static let credential = "sanitize-clone.network"

    public let name = "static-addresses"
    public let summary = "Give each clone its own static addresses (credential, inventory) or DHCP; probe them first (RFC 5227)"
    public let runsAfter = ["network-bindings"]
    public var configurationKeys: [ConfigurationKey] {
        [ConfigurationKey(section: "Network", name: "StaticAddressPolicy",
                          summary: "What a template's static address becomes when no credential or inventory line gives one: dhcp, keep or fail",
                          defaultValue: "dhcp") { ["dhcp", "keep", "fail"].contains($0) ? nil : "expected dhcp, keep or fail" },
         ConfigurationKey(section: "Network", name: "Inventory",
                          summary: "The inventory file in the root giving per-clone addresses by product UUID or MAC",
                          defaultValue: "/etc/sanitize-clone/network-inventory") { $0.hasPrefix("/") ? nil : "expected an absolute path" }]
    }

    public init() {}

    public func plan(in context: PlanningContext) throws -> TaskPlan<Decision> {
        // Every file that gives an interface static addresses, parsed in its renderer's syntax.
        var files: [(path: String, renderer: NetworkRenderer, file: any StaticAddressFile, text: String, attributes: FileAttributes)] = []
        for file in try NetworkConfiguration.unparsedFiles(in: context) {
            let (path, text) = (file.path, file.text)
            let parsed: (any StaticAddressFile)?
            switch file.renderer {
            case .netplan: parsed = try NetplanStaticFile(text: text, path: path)
            case .networkManager: parsed = try NetworkManagerStaticFile(text: text, path: path)
            case .networkd: parsed = try NetworkdStaticFile(text: text, path: path)
            case .ifcfg: parsed = try IfcfgStaticFile(text: text, path: path)
            case .ifupdown: parsed = InterfacesStaticFile(text: text, path: path)
            case .udevPersistentNet: parsed = nil
            }
            if let parsed { files.append((path, file.renderer, parsed, text, file.attributes)) }
        }
        guard !files.isEmpty else { return .skip("no interface has a static address in this root") }

        let current = try context.currentInterfaces() ?? []
        let assignments = try perCloneAssignments(in: context, current: current)
        let policy = context.configuration.value("Network", "StaticAddressPolicy")
        let probing = context.options.probeAddresses ?? context.root.isLiveSystem
        let allInterfaces = files.flatMap(\.file.interfaces)

        var changes: [Change] = []
        var writes: [(path: String, contents: String, attributes: FileAttributes)] = []
        var probes: [(interface: String, address: String)] = []
        var renderers = Set<NetworkRenderer>()
        var notes: [String] = []
        for entry in files {
            var targets: [Int: InterfaceTarget] = [:]
            var olds: [String] = [], news: [String] = []
            for (number, interface) in entry.file.interfaces.enumerated() {
                let nic = current.first { nic in interface.matchedMACs.contains { MACAddress(nic.permanentMAC) == $0 || MACAddress(nic.mac) == $0 } }
                    ?? current.first { $0.name == interface.name }
                // By the configuration's name first, then by MAC, then by the NIC it lands on, then "*".
                let nicMACs = nic.map { [$0.mac, $0.permanentMAC].compactMap(MACAddress.init) } ?? []
                let assignment = assignments.first { $0.source.interface == interface.name }
                    ?? assignments.first { assignment in
                        MACAddress(assignment.source.interface).map { interface.matchedMACs.contains($0) || nicMACs.contains($0) } ?? false
                    }
                    ?? assignments.first { nic != nil && $0.source.interface == nic?.name }
                    ?? assignments.first { $0.source.interface == "*" && allInterfaces.count == 1 }
                var target = InterfaceTarget()
                for family in [IPFamily.v4, .v6] where !interface.addresses(of: family).isEmpty || assignment?.source.addresses(of: family)?.isEmpty == false {
                    let old = interface.addresses(of: family)
                    let chosen: FamilyTarget
                    if let assignment, let given = assignment.source.addresses(of: family) {
                        chosen = given.isEmpty ? .dhcp : .replace(addresses: given, gateway: assignment.source.gateway(of: family), dns: assignment.source.dns)
                        if !given.isEmpty, old.isEmpty { continue }  // only interfaces that had static addresses are rewritten
                        olds.append("\(interface.name) \(old.joined(separator: " "))")
                        news.append("\(interface.name) \(given.isEmpty ? "DHCP" : given.joined(separator: " ")) (from \(assignment.origin))")
                        if family == .v4, probing, !given.isEmpty {
                            if let nic {
                                probes += given.map { (nic.name, String($0.split(separator: "/")[0])) }
                            } else {
                                notes.append("\(given.joined(separator: ", ")) not probed: no NIC of this machine is \(interface.name) or has the MAC its configuration matches, so nothing will use it yet")
                            }
                        }
                    } else {
                        switch policy {
                        case "keep":
                            notes.append("\(interface.name) keeps the template's static \(old.joined(separator: " ")) (StaticAddressPolicy=keep): two clones will collide unless you change it")
                            chosen = .keep
                        case "fail":
                            throw InputError("\(entry.path): \(interface.name) has the template's static \(old.joined(separator: " ")) and nothing gives this clone its own (StaticAddressPolicy=fail); give one in the \(Self.credential) credential or the inventory file")
                        default:
                            notes.append("\(interface.name) uses DHCP instead of the template's static \(old.joined(separator: " ")) (StaticAddressPolicy=dhcp); give per-clone addresses in the \(Self.credential) credential or the inventory file")
                            chosen = .dhcp
                            olds.append("\(interface.name) \(old.joined(separator: " "))")
                            news.append("\(interface.name) DHCP (policy)")
                        }
                    }
                    if family == .v4 { target.v4 = chosen } else { target.v6 = chosen }
                }
                targets[number] = target
            }
            let contents = try entry.file.rewritten(targets)
            guard contents != entry.text else { continue }
            context.planText(contents, for: entry.path)
            writes.append((entry.path, contents, entry.attributes))
            renderers.insert(entry.renderer)
            changes.append(Change(path: entry.path, action: "write", old: olds.joined(separator: ", "), new: news.joined(separator: ", "),
                                  diff: LineDiff.unified(old: entry.text, new: contents, path: entry.path)))
        }
        guard !changes.isEmpty else { return .skip("every static address stays (StaticAddressPolicy=keep)", notes: notes) }
        if probing && !probes.isEmpty { notes.append("probes \(probes.map { "\($0.address) on \($0.interface)" }.joined(separator: ", ")) before writing (RFC 5227)") }
        return TaskPlan(changes: changes, decision: Decision(writes: writes, probes: probes, renderers: renderers), notes: notes)
    }

    /// The assignments for this clone: the credential's, then the inventory's lines for its
    /// product UUID or one of its MACs.
    func perCloneAssignments(in context: PlanningContext, current: [NetworkInterface]) throws -> [(source: AddressAssignment, origin: String)] {
        var result: [(source: AddressAssignment, origin: String)] = []
        if let text = context.credentialText(Self.credential) {
            result += try AddressAssignment.parse(text, source: "credential \(Self.credential)", keyed: false).map { ($0.assignment, "credential") }
        }
        let inventory = context.configuration.value("Network", "Inventory")
        if let text = try context.root.readText(inventory) {
            let macs = Set(current.flatMap { [$0.mac, $0.permanentMAC] }.compactMap(MACAddress.init))
            let uuid = context.productUUID
            for line in try AddressAssignment.parse(text, source: inventory, keyed: true) {
                guard let key = line.key else { continue }
                let matches = MACAddress(key).map(macs.contains) ?? uuid.map { ProductUUID.same(key, $0) } ?? false
                if matches && !result.contains(where: { $0.source.interface == line.assignment.interface }) {
                    result.append((line.assignment, "inventory \(key)"))
                }
            }
        }
        return result
    }

    public func apply(_ decision: Decision, in context: ApplyContext) throws {
        for probe in decision.probes {
            let result = try AddressProbe(interface: probe.interface).probe(probe.address)
            if case .inUse(let mac) = result {
                throw AddressInUseError(address: probe.address, interface: probe.interface, mac: mac)
            }
            context.notice("\(probe.address) is free on \(probe.interface) (no answer to an RFC 5227 probe)", new: probe.address)
        }
        let writes = decision.writes.map { RootDirectory.FileWrite(path: $0.path, contents: Array($0.contents.utf8), attributes: $0.attributes) }
        try context.root.writeFilesAtomically(writes) { index in try context.changeApplied(index) }
    }

    public func verify(_ decision: Decision, in context: ApplyContext) throws {
        for write in decision.writes where try context.root.readText(write.path) != write.contents {
            throw VerificationError("\(write.path) does not hold the new addresses")
        }
    }

    public func afterCommit(_ decision: Decision, in context: ApplyContext) throws {
        guard context.root.isLiveSystem else { return }
        NetworkReload.afterChanging(decision.renderers, context: context)
    }
}

/// Another host answered for an address this clone was to take.
public struct AddressInUseError: Error, CustomStringConvertible, Sendable {
    let address: String, interface: String, mac: String
    public var description: String {
        "\(address) is already in use on \(interface)'s link (\(mac) answered an RFC 5227 probe); give this clone a free address in the sanitize-clone.network credential or the inventory file"
    }
}

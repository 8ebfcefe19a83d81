/// Decides which of the clone's NICs takes the place of each template NIC the configuration
/// names, and what every MAC the configuration sets becomes.
///
/// A MAC the configuration *matches* that no current NIC has is the template's. It is rebound to
/// the clone's NIC at the same PCI address, else with the same name, else at the same position
/// among the NICs nothing else claims. When that leaves a choice, nothing is guessed: the MAC
/// gets no binding and `unmapped` says why.
struct MACRebinding {
    /// Template MAC → the clone's NIC that takes its place.
    private(set) var bindings: [MACAddress: NetworkInterface] = [:]
    /// MACs the configuration sets → what it sets instead.
    private(set) var setAddresses: [MACAddress: MACAddress] = [:]
    /// Template MACs the configuration matches that no NIC of the clone takes, and why.
    private(set) var unmapped: [MACAddress: String] = [:]
    /// The template's MACs named by the configuration (matched ones no NIC has, and recorded ones).
    private(set) var templateMACs: Set<MACAddress> = []
    /// How each binding was found, for the plan.
    private(set) var reasons: [MACAddress: String] = [:]

    init(references: [MACReference], current: [NetworkInterface], template: [NetworkInterface]) throws {
        let currentMACs = Set(current.flatMap { [$0.mac, $0.permanentMAC] }.compactMap(MACAddress.init))
        let recorded = template.filter { nic in [nic.mac, nic.permanentMAC].compactMap(MACAddress.init).allSatisfy { !currentMACs.contains($0) } }

        // The template's MACs in a stable order: the recorded NICs first, then as the files name them.
        var stale: [MACAddress] = []
        for nic in recorded { if let address = MACAddress(nic.permanentMAC), !stale.contains(address) { stale.append(address) } }
        for reference in references where reference.role == .matched && !currentMACs.contains(reference.address) && !stale.contains(reference.address) {
            stale.append(reference.address)
        }
        templateMACs = Set(stale)

        let candidates = current.contains(where: \.isPhysical) ? current.filter(\.isPhysical) : current
        let claimed = Set(references.filter { $0.role == .matched && currentMACs.contains($0.address) }.map(\.address))
        var taken = Set(candidates.filter { nic in [nic.mac, nic.permanentMAC].compactMap(MACAddress.init).contains(where: claimed.contains) }.map(\.name))
        let matchedStale = stale.filter { address in references.contains { $0.role == .matched && $0.address == address } }

        func recordedNIC(_ address: MACAddress) -> NetworkInterface? {
            template.first { MACAddress($0.permanentMAC) == address || MACAddress($0.mac) == address }
        }
        func configuredNames(_ address: MACAddress) -> [String] {
            var names: [String] = []
            for reference in references where reference.address == address {
                if let name = reference.interfaceName, !names.contains(name) { names.append(name) }
            }
            return names
        }

        var pending: [MACAddress] = []
        for address in matchedStale {
            let nic = recordedNIC(address)
            if let pci = nic?.pciAddress, let match = candidates.first(where: { $0.pciAddress == pci && !taken.contains($0.name) }) {
                bind(address, to: match, because: "same PCI address \(pci)", taken: &taken)
                continue
            }
            let names = [nic?.name].compactMap { $0 } + configuredNames(address)
            if let match = candidates.first(where: { names.contains($0.name) && !taken.contains($0.name) }) {
                bind(address, to: match, because: "same name \(match.name)", taken: &taken)
                continue
            }
            pending.append(address)
        }
        if !pending.isEmpty {
            let free = candidates.filter { !taken.contains($0.name) }
                .sorted { ($0.pciAddress ?? "~", $0.name) < ($1.pciAddress ?? "~", $1.name) }
            if free.count == pending.count {
                for (address, nic) in zip(pending, free) {
                    bind(address, to: nic, because: pending.count == 1 ? "the only NIC left" : "same position", taken: &taken)
                }
            } else {
                let nics = free.map { "\($0.name) \($0.mac)" }.joined(separator: ", ")
                let among = pending.count > 1 ? " (\(pending.count) template MACs for \(free.count) of its NICs)" : ""
                for address in pending {
                    unmapped[address] = free.isEmpty ? "no NIC of this clone is left to take the place of the template's \(address)"
                                                     : "cannot tell which of the clone's NICs (\(nics)) takes the place of the template's \(address)\(among)"
                }
            }
        }

        // MACs the configuration sets: never the template's, never one shared by every clone.
        var used = currentMACs.union(bindings.values.compactMap { MACAddress($0.permanentMAC) })
        for reference in references where reference.role == .set && setAddresses[reference.address] == nil {
            if let nic = bindings[reference.address], let address = MACAddress(nic.permanentMAC) {
                setAddresses[reference.address] = address
            } else if currentMACs.contains(reference.address) {
                continue
            } else {
                let address = try MACAddress.randomLocallyAdministered(avoiding: used)
                used.insert(address)
                setAddresses[reference.address] = address
            }
        }
    }

    private mutating func bind(_ address: MACAddress, to nic: NetworkInterface, because reason: String, taken: inout Set<String>) {
        bindings[address] = nic
        reasons[address] = reason
        taken.insert(nic.name)
    }

    /// What the address in `reference` becomes, or nil when it stays.
    func replacement(for reference: MACReference) -> MACAddress? {
        switch reference.role {
        case .matched: return bindings[reference.address].flatMap { MACAddress($0.permanentMAC) }
        case .set: return setAddresses[reference.address]
        }
    }
}

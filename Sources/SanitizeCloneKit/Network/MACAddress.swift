/// An Ethernet MAC address as network configuration writes it: compared case-insensitively,
/// written back in the style the file already uses (case and separator).
public struct MACAddress: Sendable, Hashable, CustomStringConvertible {
    /// The six bytes.
    public let bytes: [UInt8]

    /// Parses "52:54:00:12:34:56" or "52-54-00-12-34-56" (any case); nil for anything else.
    public init?(_ text: some StringProtocol) {
        let characters = Array(text)
        guard characters.count == 17 else { return nil }
        let separator = characters[2]
        guard separator == ":" || separator == "-" else { return nil }
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: 17, by: 3) {
            if index > 0 && characters[index - 1] != separator { return nil }
            guard let high = characters[index].asciiHexDigitValue, let low = characters[index + 1].asciiHexDigitValue else { return nil }
            bytes.append(UInt8(high * 16 + low))
        }
        self.bytes = bytes
    }

    public init(bytes: [UInt8]) {
        precondition(bytes.count == 6, "a MAC address has six bytes")
        self.bytes = bytes
    }

    /// Lowercase with colons, the canonical form used in comparisons, messages and the journal.
    public var description: String { written(uppercase: false, separator: ":") }

    /// The address written with this case and separator.
    public func written(uppercase: Bool, separator: Character) -> String {
        bytes.map { byte in
            let text = Hex.encode([byte])
            return uppercase ? text.uppercased() : text
        }.joined(separator: String(separator))
    }

    /// The address written the way `original` is: upper or lower case, ':' or '-'.
    public func written(likeStyleOf original: some StringProtocol) -> String {
        let separator: Character = original.contains("-") ? "-" : ":"
        let uppercase = original.contains(where: { $0.isUppercase })
        return written(uppercase: uppercase, separator: separator)
    }

    /// True for a locally administered address (bit 1 of the first byte).
    public var isLocallyAdministered: Bool { bytes[0] & 0x02 != 0 }

    /// A new random unicast, locally administered address (never equal to one in `avoiding`).
    public static func randomLocallyAdministered(avoiding: Set<MACAddress> = []) throws -> MACAddress {
        while true {
            var bytes = try RandomBytes.generate(6)
            bytes[0] = (bytes[0] & 0xfc) | 0x02
            let address = MACAddress(bytes: bytes)
            if !avoiding.contains(address) && bytes[1...].contains(where: { $0 != 0 }) { return address }
        }
    }
}

/// What an SSH key file says about its key without any secret being used: its type, size and
/// SHA256 fingerprint, read from the public blob (of a `.pub` file, or the unencrypted public
/// part of an `openssh-key-v1` private key).
public struct SSHKey: Sendable, Equatable {
    /// The wire type name, e.g. "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa".
    public let wireType: String
    /// The key size in bits (RSA modulus, ECDSA curve, 256 for Ed25519).
    public let bits: Int
    /// The public key blob.
    public let blob: [UInt8]

    /// `ssh-keygen -t` name: rsa, ecdsa, ed25519, dsa, or nil for types we cannot generate.
    public var keygenType: String? {
        switch wireType {
        case "ssh-rsa": "rsa"
        case "ssh-ed25519": "ed25519"
        case "ssh-dss": "dsa"
        case _ where wireType.hasPrefix("ecdsa-sha2-"): "ecdsa"
        default: nil
        }
    }

    /// "SHA256:…" as `ssh-keygen -l` prints it.
    public var fingerprint: String { "SHA256:" + Base64.encode(SHA256.digest(blob), padding: false) }

    /// "ED25519 256 SHA256:…".
    public var summary: String { "\(keygenType?.uppercased() ?? wireType) \(bits) \(fingerprint)" }

    /// Parses a public key line ("ssh-ed25519 AAAA… comment").
    public init?(publicKeyText text: String) {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
        guard fields.count >= 2, let blob = Base64.decode(fields[1]) else { return nil }
        self.init(blob: blob)
    }

    /// Reads the public part of an `openssh-key-v1` private key; nil for other formats (PEM).
    public init?(privateKeyText text: String) {
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingWhitespace() }
        guard let begin = lines.firstIndex(of: "-----BEGIN OPENSSH PRIVATE KEY-----"),
              let end = lines.firstIndex(of: "-----END OPENSSH PRIVATE KEY-----"), begin < end,
              let bytes = Base64.decode(Substring(lines[(begin + 1)..<end].joined())) else { return nil }
        var reader = WireReader(Array(bytes))
        let magic = Array("openssh-key-v1".utf8) + [0]
        guard reader.take(magic.count) == magic,
              reader.string() != nil, reader.string() != nil, reader.string() != nil,
              let count = reader.uint32(), count >= 1, let blob = reader.string() else { return nil }
        self.init(blob: blob)
    }

    /// Parses a public key blob.
    public init?(blob: [UInt8]) {
        var reader = WireReader(blob)
        guard let typeBytes = reader.string() else { return nil }
        let type = String(decoding: typeBytes, as: UTF8.self)
        let bits: Int
        switch type {
        case "ssh-rsa":
            guard reader.string() != nil, let modulus = reader.string() else { return nil }
            bits = WireReader.bitLength(modulus)
        case "ssh-dss":
            guard let p = reader.string() else { return nil }
            bits = WireReader.bitLength(p)
        case "ssh-ed25519", "sk-ssh-ed25519@openssh.com":
            bits = 256
        case _ where type.hasPrefix("ecdsa-sha2-nistp") || type.hasPrefix("sk-ecdsa-sha2-nistp"):
            let curve = type.split(separator: "@").first!.split(separator: "-").last!
            bits = Int(curve.dropFirst("nistp".count)) ?? 0
        default:
            bits = 0
        }
        wireType = type
        self.bits = bits
        self.blob = blob
    }
}

/// Reads SSH wire encoding (RFC 4251): uint32 lengths, strings, mpints.
struct WireReader {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func take(_ count: Int) -> [UInt8]? {
        guard count >= 0, offset + count <= bytes.count else { return nil }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    mutating func uint32() -> Int? {
        guard let raw = take(4) else { return nil }
        return raw.reduce(0) { $0 << 8 | Int($1) }
    }

    mutating func string() -> [UInt8]? {
        guard let length = uint32() else { return nil }
        return take(length)
    }

    /// The number of significant bits of a big-endian unsigned integer.
    static func bitLength(_ value: [UInt8]) -> Int {
        guard let first = value.firstIndex(where: { $0 != 0 }) else { return 0 }
        return (value.count - first - 1) * 8 + (8 - value[first].leadingZeroBitCount)
    }
}

@testable import SanitizeCloneKit

/// The plan's diffs (`LineDiff`) of two guest texts — the input cut at its first NUL byte — with
/// their secrets hidden (`SecretRedaction`).
enum LineDiffFuzzing {
    static func feed(_ bytes: [UInt8]) {
        guard let (old, new) = FuzzInput.texts(bytes) else { return }
        NetworkFileFuzzing.show(old: old, new: new, path: "/etc/netplan/50-cloud-init.yaml")
    }
}

@testable import SanitizeCloneKit

/// What `ssh-host-keys` reads: sshd_config with its `Include`s, and the key files it names.
enum SSHFuzzing {
    /// The input as /etc/ssh/sshd_config, next to a drop-in directory as Debian ships it (so an
    /// `Include` pattern has names to match).
    static func feedServerConfiguration(_ bytes: [UInt8]) {
        let scratch = FuzzRoot.shared
        scratch.write("/etc/ssh/sshd_config.d/10-host-keys.conf", "HostKey /etc/ssh/ssh_host_ed25519_key\n")
        scratch.write("/etc/ssh/sshd_config.d/50-cloud-init.conf", "PasswordAuthentication no\n")
        scratch.write(SSHDConfig.mainPath, bytes)
        _ = try? SSHDConfig(root: scratch.root)
    }

    /// The input as a public key line, as a private key file, and as a bare key blob.
    static func feedKey(_ bytes: [UInt8]) {
        for key in [SSHKey(blob: bytes)] + (FuzzInput.text(bytes).map { [SSHKey(publicKeyText: $0), SSHKey(privateKeyText: $0)] } ?? []) {
            _ = key?.summary
        }
    }
}

import CSystemd

/// Progress for `systemctl status` through sd_notify(3) (`STATUS=`); a no-op outside a unit
/// (no `$NOTIFY_SOCKET`). The unit needs `NotifyAccess=main` for systemd to take it.
public enum ServiceNotifier {
    /// Sets the unit's status line.
    public static func status(_ text: String) {
        _ = sd_notify(0, "STATUS=\(text)")
    }
}

/// Per-machine secrets that must not be regenerated blindly: reported in the plan with what an
/// administrator must do, never changed.
///
/// `/var/lib/systemd/credential.secret` (regenerating it makes every encrypted credential
/// unreadable), Kerberos keytabs and directory-join state (the clone would impersonate the
/// template's computer account until it is joined on its own).
public struct ReportedIdentitiesTask: SanitizeTask {
    public typealias Decision = Never?

    /// A path and what to do about it.
    static let findings: [(path: String, advice: String)] = [
        ("/var/lib/systemd/credential.secret", "the template's key for encrypted credentials is shared by every clone; re-encrypt them per clone (systemd-creds) if they must differ — regenerating it would make the existing ones unreadable"),
        ("/etc/krb5.keytab", "a Kerberos keytab of the template's principal: leave and re-join the realm on the clone (e.g. realm leave && realm join, or adcli join)"),
        ("/etc/sssd/sssd.conf", "SSSD is joined to a directory with the template's computer account: re-join the clone (realm join / ipa-client-install --force-join)"),
        ("/var/lib/samba/private/secrets.tdb", "Samba holds the template's machine account password: 'net ads leave' and 'net ads join' on the clone"),
        ("/etc/ipa/default.conf", "FreeIPA client enrolment of the template: 'ipa-client-install --uninstall' then enrol the clone"),
    ]

    public let name = "reported-identities"
    public let summary = "Report per-machine secrets an administrator must handle (credential.secret, keytabs, directory joins)"

    public init() {}

    public func plan(in context: PlanningContext) throws -> TaskPlan<Decision> {
        var notes: [String] = []
        for finding in Self.findings where try context.root.status(of: finding.path) != nil {
            notes.append("\(finding.path): \(finding.advice)")
        }
        return .skip(notes.isEmpty ? "nothing to report" : "reported only, never changed: see the notes", notes: notes)
    }

    public func apply(_ decision: Decision, in context: ApplyContext) throws {}
    public func verify(_ decision: Decision, in context: ApplyContext) throws {}
}

/// A Postgres role name and its password, as pgha uses them to connect.
///
/// A password is never put on a command line: tools get it through the pgpass file pgha writes
/// (see `PostgresSettings.passfile`), initdb through a temporary password file.
public struct PostgresCredentials: Sendable, Hashable {
    /// The role name.
    public var user: String
    /// The role's password; nil: the role connects without one (trust or peer rules the user
    /// adds to `PostgresSettings.pgHba`).
    public var password: String?

    public init(user: String, password: String? = nil) {
        self.user = user
        self.password = password
    }
}

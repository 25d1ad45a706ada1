import CLibPQ

/// Facts about the libpq client library pgha is linked against. The Postgres controller,
/// runtime and store that live in this module build on it (later issues).
public enum LibPQ {
    /// libpq's version as `major * 10000 + minor` (for example 150018 for 15.18), read from
    /// the loaded library, not from headers.
    public static var version: Int { Int(PQlibVersion()) }

    /// Whether the loaded libpq was built thread-safe; pgha runs libpq calls on a thread pool
    /// and requires it.
    public static var isThreadSafe: Bool { PQisthreadsafe() == 1 }
}

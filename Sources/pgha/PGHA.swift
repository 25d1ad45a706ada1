import ArgumentParser

/// The `pgha` command line.
@main
struct PGHA: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pgha",
        abstract: "High availability for PostgreSQL on a built-in Raft group, with no outside coordination service.",
        discussion: """
        Today pgha ships the Raft core (library RaftCore) and its deterministic fault \
        simulator. The agent, REST API and `pgha demo` are being built; see README.md.
        """,
        version: "0.1.0-dev",
        subcommands: [SimCommand.self, StoreCommand.self, BenchCommand.self, StorageTortureCommand.self, GuardCommand.self]
    )
}

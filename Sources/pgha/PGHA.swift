import ArgumentParser

/// The `pgha` command line.
@main
struct PGHA: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pgha",
        abstract: "High availability for PostgreSQL on a built-in Raft group, with no outside coordination service.",
        discussion: """
        `pgha demo` runs a three-node cluster on this machine; `pgha run --config node.yml` \
        runs the agent of one host. See README.md.
        """,
        version: "0.1.0-dev",
        subcommands: [DemoCommand.self, RunCommand.self, SimCommand.self, StoreCommand.self, BenchCommand.self,
                      StorageTortureCommand.self, GuardCommand.self]
    )
}

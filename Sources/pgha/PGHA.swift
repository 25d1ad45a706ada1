import ArgumentParser

/// The `pgha` command line.
@main
struct PGHA: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pgha",
        abstract: "High availability for PostgreSQL on a built-in Raft group, with no outside coordination service.",
        discussion: """
        `pgha demo` runs a three-node cluster on this machine; `pgha run --config node.yml` \
        runs the agent of one host; `pgha list`, `switchover`, `edit-config`… \
        talk to a running cluster's REST API (like patronictl). See README.md.
        """,
        version: "0.1.0-dev",
        subcommands: [DemoCommand.self, RunCommand.self, SimCommand.self, StoreCommand.self, BenchCommand.self,
                      StorageTortureCommand.self, GuardCommand.self,
                      ListCommand.self, TopologyCommand.self, SwitchoverCommand.self, FailoverCommand.self,
                      PauseCommand.self, ResumeCommand.self, RestartCommand.self, ReloadCommand.self, ReinitCommand.self,
                      HistoryCommand.self, ShowConfigCommand.self, EditConfigCommand.self, FlushCommand.self,
                      HAProxyConfigCommand.self]
    )
}

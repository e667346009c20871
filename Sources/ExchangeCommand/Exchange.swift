import ArgumentParser

/// The `exchange` binary: every role and tool of OpenExchange is a subcommand.
@main
struct Exchange: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exchange",
        abstract: "OpenExchange: a cryptocurrency spot exchange core.",
        subcommands: [
            Replay.self, Bench.self, Ctl.self, Matcher.self, Clearing.self, RecorderCommand.self, Migrate.self, GatewayCommand.self, MarketDataCommand.self, Feed.self,
            Collect.self, Audit.self,
        ]
    )
}

import ArgumentParser
import ExchangeLauncher
import Foundation

/// The `exchange` binary: every role and tool of OpenExchange is a subcommand.
@main
struct Exchange: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exchange",
        abstract: "OpenExchange: a cryptocurrency spot exchange core.",
        subcommands: [
            UpCommand.self, RunCommand.self, Replay.self, Bench.self, Ctl.self, Matcher.self, Clearing.self, RecorderCommand.self, Migrate.self, GatewayCommand.self, AdminCommand.self, MarketDataCommand.self, WalletCommand.self, Feed.self,
            Collect.self, Audit.self, Chain.self,
        ]
    )

    /// Parses and runs the command; a role that `exchange up` started first binds its life to
    /// `up`'s (`SupervisedProcess`).
    static func main() async {
        guard SupervisedProcess.bindToParent() else { Foundation.exit(0) }
        do {
            var command = try parseAsRoot()
            if var asynchronous = command as? AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

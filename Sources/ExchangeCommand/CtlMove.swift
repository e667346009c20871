import ArgumentParser
import ExchangeCluster
import ExchangeClusterTools

/// `exchange ctl move SYMBOL --to SHARD`: moves a symbol with its resting book.
struct CtlMove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "move",
        abstract: "Move a symbol with its resting book to another shard while trading goes on, and pin it there.",
        discussion: """
            The symbol halts on its shard, its book travels through the logs and it resumes on the new one; orders sent \
            meanwhile are refused with a retryable error (Binance -1001), never lost. Prints how long the symbol was halted \
            at most. The target shard needs a live primary.
            """)

    @OptionGroup var redisOptions: RedisOptions
    @Argument(help: "The symbol.") var symbol: String
    @Option(help: "The shard to move it to.") var to: UInt32
    @Option(help: "Seconds to wait for each shard's answer.") var timeout: Int = 30

    func validate() throws {
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
    }

    func run() async throws {
        let client = try redisOptions.client()
        defer { client.shutdown() }
        try await runReportingErrors {
            let report = try await SymbolMover(client: client, timeout: .seconds(timeout)).move(symbol, to: to, pin: true)
            print(CtlMove.line(report))
        }
    }

    static func line(_ report: SymbolMover.Report) -> String {
        "\(report.symbol): shard \(report.from) -> shard \(report.to), \(report.restingOrders) resting orders, "
            + "halted at most \(Double(report.haltedAtMostMicroseconds) / 1_000) ms "
            + "(hand-over at input \(report.handOverPosition) of shard \(report.from), take-over answered at input \(report.takeOverPosition) of shard \(report.to))"
    }
}

/// `exchange ctl rebalance`: moves every unpinned symbol to the shard the ring gives it.
struct CtlRebalance: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebalance",
        abstract: "Move every unpinned symbol that is not on the shard the ring gives it (after `ctl add-shard`), one at a time.")

    @OptionGroup var redisOptions: RedisOptions
    @Flag(help: "Only print what would move.") var dryRun = false
    @Option(help: "Seconds to wait for each shard's answer.") var timeout: Int = 30

    func run() async throws {
        let client = try redisOptions.client()
        defer { client.shutdown() }
        try await runReportingErrors {
            let mover = SymbolMover(client: client, timeout: .seconds(timeout))
            let moves = try await mover.ringMoves()
            print("\(moves.count) symbol\(moves.count == 1 ? "" : "s") to move")
            for (index, move) in moves.enumerated() {
                if dryRun {
                    print("\(move.symbol): shard \(move.from) -> shard \(move.to)")
                    continue
                }
                let report = try await mover.move(move.symbol, to: move.to, pin: false)
                print("[\(index + 1)/\(moves.count)] \(CtlMove.line(report))")
            }
        }
    }
}

import ExchangeChain
import ExchangeEthereum
import ExchangeWallet

/// An asset the wallet serves, as the wallet role configures it (and stores it for the
/// gateway and admin to read): its chain, deposit address derivation, confirmations,
/// withdrawal policy in clearing units, and hot wallet with its floor in chain base units.
public struct WalletAsset: Sendable, Equatable {
    public var asset: String
    public var chain: String
    /// Deposit addresses are m/assetIndex/user of `xpub` (non-hardened: derived from public keys).
    public var assetIndex: UInt32
    public var xpub: String
    public var confirmations: UInt64
    /// Chain base units per clearing unit (10^(18 − scale) for Ether at clearing scale `scale`).
    public var baseUnitsPerUnit: UInt128
    public var policy: WithdrawalPolicy
    /// Lower-case hex text.
    public var hotAddress: String
    /// Withdrawals pause while the hot wallet would fall below this (base units).
    public var hotFloor: UInt128
    /// Why withdrawals of this asset are paused; nil when they are not.
    public var pausedReason: String?

    public init(
        asset: String, chain: String, assetIndex: UInt32, xpub: String, confirmations: UInt64, baseUnitsPerUnit: UInt128, policy: WithdrawalPolicy,
        hotAddress: String, hotFloor: UInt128, pausedReason: String? = nil
    ) {
        self.asset = asset
        self.chain = chain
        self.assetIndex = assetIndex
        self.xpub = xpub
        self.confirmations = confirmations
        self.baseUnitsPerUnit = baseUnitsPerUnit
        self.policy = policy
        self.hotAddress = hotAddress.lowercased()
        self.hotFloor = hotFloor
        self.pausedReason = pausedReason
    }

    /// `user`'s deposit address for this asset (lower-case hex text).
    public func depositAddress(of user: UInt64) throws -> String {
        guard user < UInt64(ExtendedPrivateKey.hardened) else { throw ExtendedKeyError.invalidChild(UInt32.max) }
        return try ExtendedPublicKey(parsing: xpub).derive([assetIndex, UInt32(user)]).ethereumAddress.description.lowercased()
    }

    /// Base units of `units` clearing units; nil on overflow.
    public func baseUnits(of units: Int64) -> UInt128? {
        guard units >= 0 else { return nil }
        let (product, overflow) = UInt128(units).multipliedReportingOverflow(by: baseUnitsPerUnit)
        return overflow ? nil : product
    }

    /// Clearing units of a payment of `base` base units, rounded down (the rest is dust, kept
    /// on chain and not credited); nil if it does not fit.
    public func units(ofBase base: UInt128) -> Int64? { Int64(exactly: base / baseUnitsPerUnit) }
}

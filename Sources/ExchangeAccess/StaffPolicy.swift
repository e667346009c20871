/// The roles of exchange staff (`exchange admin`'s accounts, separate from traders').
public enum StaffRole: String, CaseIterable, Sendable, Codable {
    /// Everything, including staff accounts and their roles.
    case superAdmin = "SuperAdmin"
    /// Trading pairs and their parameters, halts and the kill switch; withdrawal approvals and
    /// deposit adjustment cases (the wallet).
    case `operator` = "Operator"
    /// Looks users up (orders, balances, login history), locks and unlocks them, disables keys.
    case support = "Support"
    /// Reads everything, the audit log included; changes nothing.
    case auditor = "Auditor"
}

/// Everything staff can do: one case per admin endpoint's action.
public enum AdminAction: String, CaseIterable, Sendable {
    case listStaff, createStaff, changeStaffRole, disableStaff
    case listPairs, addPair, changePair, setPairStatus
    case listHalts, haltMarkets, resumeMarkets
    case searchUsers, viewUser, viewUserOrders, viewUserBalances, viewLoginHistory
    case lockUser, unlockUser, forceLogout, resetSecondFactor, disableAPIKey
    case searchAuditLog, exportAuditLog
    case viewCluster
    case listWithdrawals, approveWithdrawal, rejectWithdrawal, listWalletCases, resolveWalletCase

    /// What the action concerns, as the policy grants it.
    public enum Area: Sendable, Equatable {
        case staff, pairs, killSwitch, users, auditLog, cluster, wallet
    }

    public var area: Area {
        switch self {
        case .listStaff, .createStaff, .changeStaffRole, .disableStaff: .staff
        case .listPairs, .addPair, .changePair, .setPairStatus: .pairs
        case .listHalts, .haltMarkets, .resumeMarkets: .killSwitch
        case .searchUsers, .viewUser, .viewUserOrders, .viewUserBalances, .viewLoginHistory,
             .lockUser, .unlockUser, .forceLogout, .resetSecondFactor, .disableAPIKey: .users
        case .searchAuditLog, .exportAuditLog: .auditLog
        case .viewCluster: .cluster
        case .listWithdrawals, .approveWithdrawal, .rejectWithdrawal, .listWalletCases, .resolveWalletCase: .wallet
        }
    }

    /// Whether it only reads.
    public var isReadOnly: Bool {
        switch self {
        case .listStaff, .listPairs, .listHalts, .searchUsers, .viewUser, .viewUserOrders, .viewUserBalances, .viewLoginHistory,
             .searchAuditLog, .exportAuditLog, .viewCluster, .listWithdrawals, .listWalletCases: true
        case .createStaff, .changeStaffRole, .disableStaff, .addPair, .changePair, .setPairStatus, .haltMarkets, .resumeMarkets,
             .lockUser, .unlockUser, .forceLogout, .resetSecondFactor, .disableAPIKey, .approveWithdrawal, .rejectWithdrawal,
             .resolveWalletCase: false
        }
    }
}

/// Who may do what: the one table every admin endpoint asks (a refusal is HTTP 403).
public enum StaffPolicy {
    public static func allows(_ role: StaffRole, _ action: AdminAction) -> Bool {
        switch role {
        case .superAdmin:
            true
        case .operator:
            action.area == .pairs || action.area == .killSwitch || action.area == .wallet || action == .viewCluster
        case .support:
            // Resetting a second factor hands an account to whoever asks: SuperAdmin only.
            action.area == .users && action != .resetSecondFactor
        case .auditor:
            action.isReadOnly
        }
    }
}

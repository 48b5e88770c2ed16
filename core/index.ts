/**
 * The public face of the `busgate` package: what a plugin kept in another repository may import.
 * A thin re-export on purpose; the contract lives in core/plugins/contract.ts, the plugin kit
 * (abort reasons, the closed-plugin error, the message id header) in core/brokers/kit.ts and the
 * error registry in core/errors.ts, so refactors behind them do not touch this file.
 */
export * from './plugins/contract.js';
export * from './brokers/kit.js';
export { BusgateError, ERROR_CODES, isBusgateError, type ErrorCode } from './errors.js';
export { claimLeaseEnd } from './state/shared-idempotency.js';

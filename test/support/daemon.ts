/** The daemon harness lives with the public conformance suite, which ships it; tests share it. */
export { eventually, sleep, startTestDaemon, type TestDaemon } from '../../conformance/daemon.js';

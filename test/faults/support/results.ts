/**
 * Figures for the README, written by the suites themselves: each suite records one row per
 * scenario and, when its file ends, merges them into test/faults/results/latest.json (rows of
 * other suites are kept) and regenerates latest.md from it (test/faults/report.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { renderReport } from '../report.js';
import { repoRoot } from './private-brokers.js';

export interface ResultRow {
  /** e.g. "faults: nats" */
  readonly suite: string;
  readonly broker: string;
  readonly mode: string;
  /** e.g. "baseline", "kill -9 + restart", "proxy: reset" */
  readonly scenario: string;
  readonly sent: number;
  readonly faultsInjected: number;
  readonly acknowledged: number;
  readonly lostAcknowledged: number;
  readonly unknownOutcome: number;
  readonly refused: number;
  readonly duplicates: number;
  /** Slowest answer while the fault lasted (ms); undefined where no fault was injected. */
  readonly maxFaultLatencyMs?: number;
  /** From the fault's end (broker serving again) to the first 2xx of a request sent after it. */
  readonly recoveryMs?: number;
  readonly passed: boolean;
  /** The scenario destroys acknowledged messages on purpose (it shows a caveat); kept out of the headline total. */
  readonly expectedLoss?: boolean;
  readonly notes?: string;
}

export interface ResultsFile {
  readonly generatedAt: string;
  readonly long: boolean;
  readonly suites: Record<string, { readonly finishedAt: string; readonly durationMs: number; readonly rows: ResultRow[] }>;
}

export function resultsDir(): string {
  return path.join(repoRoot(), 'test/faults/results');
}

export class SuiteResults {
  private readonly rows: ResultRow[] = [];
  private startedAt: number | undefined;

  constructor(readonly suite: string) {}

  /** Starts the suite's clock (call it from before(); files are all loaded at once). */
  begin(): void {
    this.startedAt ??= Date.now();
  }

  add(row: Omit<ResultRow, 'suite'>): void {
    this.rows.push({ suite: this.suite, ...row });
  }

  /** Marks the last row of `scenario` as passed (rows are added before the assertions run). */
  markPassed(scenario: string): void {
    const index = this.rows.map((row) => row.scenario).lastIndexOf(scenario);
    if (index >= 0) this.rows[index] = { ...this.rows[index]!, passed: true };
  }

  /** Merges this suite's rows into latest.json and rewrites latest.md. Never throws. */
  write(): void {
    if (this.rows.length === 0) return;
    try {
      const dir = resultsDir();
      fs.mkdirSync(dir, { recursive: true });
      const file = path.join(dir, 'latest.json');
      let previous: ResultsFile | undefined;
      try {
        previous = JSON.parse(fs.readFileSync(file, 'utf8')) as ResultsFile;
      } catch {
        previous = undefined;
      }
      const data: ResultsFile = {
        generatedAt: new Date().toISOString(),
        long: process.env.FAULTS_LONG === '1',
        suites: {
          ...(previous?.suites ?? {}),
          [this.suite]: { finishedAt: new Date().toISOString(), durationMs: Date.now() - (this.startedAt ?? Date.now()), rows: this.rows },
        },
      };
      fs.writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
      fs.writeFileSync(path.join(dir, 'latest.md'), renderReport(data));
    } catch (error) {
      console.warn(`    (could not write fault results: ${error instanceof Error ? error.message : String(error)})`);
    }
  }
}

/**
 * Up/down for /ready, from what the plugin's parts last saw. kafkajs does not announce a
 * connection the broker cut (kafkajs #979), so a failed send or a crashed consumer marks its
 * part down until that part succeeds again. Changes are logged once, not per request. The core
 * reads health before every send, so the snapshot is built once per change, not per read.
 */
import type { Logger } from '../../core/plugins/contract.js';
import type { BrokerHealth } from '../../core/plugins/contract.js';

export type HealthPart = 'producer' | 'replies';

export class HealthBoard {
  private readonly problems = new Map<HealthPart, string>([['producer', 'not connected yet']]);
  private readonly everUp = new Set<HealthPart>();
  private current: BrokerHealth | undefined;

  constructor(
    private readonly brokersLabel: string,
    private readonly logger: Logger,
  ) {}

  up(part: HealthPart): void {
    if (this.problems.delete(part)) {
      this.current = undefined;
      if (this.everUp.has(part)) this.logger.info(`Kafka ${part} recovered`);
    }
    this.everUp.add(part);
  }

  down(part: HealthPart, detail: string): void {
    if (!this.problems.has(part) && this.everUp.has(part)) this.logger.warn(`Kafka ${part} is down: ${detail}`);
    this.problems.set(part, detail);
    this.current = undefined;
  }

  /** The same (frozen) object until a part goes up or down. */
  snapshot(): BrokerHealth {
    this.current ??= Object.freeze(this.describe());
    return this.current;
  }

  private describe(): BrokerHealth {
    for (const [part, detail] of this.problems) return { up: false, detail: `${part}: ${detail}` };
    return { up: true, detail: `connected to ${this.brokersLabel}` };
  }
}

import type { PspAdapter } from './adapter.ts';
import type { PaymentsConfig } from './config.ts';
import { FakePspAdapter } from './fake/adapter.ts';
import { NexiAdapter } from './nexi/adapter.ts';

/** The adapter the `payments` config section names. */
export function createPspAdapter(config: PaymentsConfig): PspAdapter {
  switch (config.provider) {
    case 'fake':
      return new FakePspAdapter(config);
    case 'nexi':
      return new NexiAdapter(config);
  }
}

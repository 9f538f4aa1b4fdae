#!/usr/bin/env node
// The `kantine-mailcatcher` command (dev only). kantine runs its TypeScript through tsx (no build
// step); loading tsx from here lets it run from any directory.
import { register } from 'tsx/esm/api';

register();
await import('../src/mail/dev/main.ts');

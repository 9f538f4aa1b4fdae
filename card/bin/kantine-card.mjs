#!/usr/bin/env node
// The `kantine-card` command. kantine runs its TypeScript through tsx (no build step); loading tsx
// from here, not from the shell's directory, lets it run from any directory.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');

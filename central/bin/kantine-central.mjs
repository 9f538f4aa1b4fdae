#!/usr/bin/env node
// The `kantine-central` command. kantine runs its TypeScript through tsx (no build step); loading
// tsx from here, not from the shell's directory, lets IT and systemd run it from any directory.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');

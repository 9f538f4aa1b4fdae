import { fileURLToPath } from 'node:url';

/** The folder the gateway serves at `/kiosk/`: plain HTML, CSS and ES modules, no build step. */
export const kioskRoot = fileURLToPath(new URL('../public', import.meta.url));

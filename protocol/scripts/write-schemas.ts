/** Writes one JSON Schema file per MQTT message to protocol/schemas/. Run: npm run schemas */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { messageSchemas } from '../src/index.ts';

const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'schemas');
mkdirSync(out, { recursive: true });
for (const [name, schema] of Object.entries(messageSchemas)) {
  const doc = { $schema: 'https://json-schema.org/draft/2020-12/schema', ...schema, $id: `kantine:${name}` };
  writeFileSync(join(out, `${name}.json`), `${JSON.stringify(doc, null, 2)}\n`);
  process.stdout.write(`wrote schemas/${name}.json\n`);
}

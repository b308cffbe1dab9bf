// Writes the contract files (avro/*.avsc, avro/index.json, asyncapi.json) from the TypeScript event
// definitions, removing .avsc files of versions that no longer exist. Run: npm run contract:generate -w @idp/events
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { AVRO_DIR, contractFiles } from "../src/contract.ts";
import { allEvents } from "../src/index.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const files = contractFiles(allEvents);
mkdirSync(join(root, AVRO_DIR), { recursive: true });
for (const name of readdirSync(join(root, AVRO_DIR))) {
  if (!files.has(`${AVRO_DIR}/${name}`)) rmSync(join(root, AVRO_DIR, name));
}
for (const [path, content] of files) writeFileSync(join(root, path), content);
console.log(`contract: wrote ${files.size} files under ${root}`);

// Validate an AsyncAPI document with @asyncapi/parser (spec and schema checks, Spectral rules).
// Exit 1 on any error-level diagnostic; warnings are printed but do not fail.
import { readFile } from "node:fs/promises";
import { Parser } from "@asyncapi/parser";

const path = process.argv[2];
const parser = new Parser();
const { document, diagnostics } = await parser.parse(await readFile(path, "utf8"), { source: path });
const errors = diagnostics.filter((d) => d.severity === 0);
for (const d of diagnostics) {
  const level = d.severity === 0 ? "error" : "warning";
  console.log(`${level}: ${d.code} at ${d.path.join(".")}: ${d.message}`);
}
if (!document || errors.length > 0) {
  console.error(`${path}: invalid AsyncAPI document (${errors.length} errors)`);
  process.exit(1);
}
console.log(`${path}: valid AsyncAPI ${document.version()}, ${document.channels().length} channels, ${document.messages().length} messages`);

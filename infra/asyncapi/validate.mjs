// Validate AsyncAPI documents with the official parser: one JSON line per file (its errors and
// the count of warnings); exit 1 if any document has an error.
import { Parser } from '@asyncapi/parser';
import { readFileSync } from 'node:fs';

const parser = new Parser();
let failed = 0;
for (const file of process.argv.slice(2)) {
  const diagnostics = await parser.validate(readFileSync(file, 'utf8'));
  const errors = diagnostics.filter((d) => d.severity === 0);
  const warnings = diagnostics.filter((d) => d.severity === 1);
  console.log(JSON.stringify({
    file,
    errors: errors.map((d) => `${d.path.join('.')}: ${d.message}`),
    warnings: warnings.map((d) => `${d.path.join('.')}: ${d.message}`),
  }));
  if (errors.length) failed += 1;
}
process.exit(failed ? 1 : 0);

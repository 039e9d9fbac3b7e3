/**
 * Renders docs/errors.md from ERROR_CODES, so the table can never drift from the code (a test
 * compares them). A development tool: `npm run docs`, or after a build
 * `node dist/tools/errors-doc.js > docs/errors.md`.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES } from '../src/errors.js';

/** A table cell: pipes and line breaks would break the Markdown row. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

/** The whole of docs/errors.md: a short intro and one row per code of ERROR_CODES, in its order. */
export function renderErrorsDoc(): string {
  const rows = Object.entries(ERROR_CODES).map(
    ([code, e]) => `| \`${code}\` | ${e.status} | ${cell(e.meaning)} | ${cell(e.fix)} |`,
  );
  return `# Errors

Every error ockle reports on purpose has a code. The API answers \`{"error": {"code", "message", "hint"}}\`
with the HTTP status below; the CLI prints the message and the hint and exits with 2 (bad input),
3 (a device failed), 4 (daemon unreachable) or 1 (anything else). Messages never contain secrets.
This file is generated from \`src/errors.ts\` (\`npm run docs\`, or \`node dist/tools/errors-doc.js > docs/errors.md\`);
a test keeps the two in sync.

| Code | HTTP | Meaning | How to fix |
|---|---|---|---|
${rows.join('\n')}
`;
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) process.stdout.write(renderErrorsDoc());

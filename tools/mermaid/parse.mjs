// Reads Mermaid texts on stdin, separated by NUL characters, and parses each with
// Mermaid's own parser: exit 0 when all parse, else 1, with `#<index>: <message>` on
// stderr for each that does not.
import mermaid from 'mermaid';

let input = '';
for await (const chunk of process.stdin) input += chunk;
let failed = 0;
const texts = input.split('\0');
for (const [i, text] of texts.entries()) {
  try {
    await mermaid.parse(text);
  } catch (e) {
    failed += 1;
    console.error(`#${i}: ${e.message}`);
  }
}
process.exit(failed === 0 ? 0 : 1);

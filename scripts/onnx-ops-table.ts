/**
 * Write docs/onnx-ops.md, the table of ONNX operators importOnnx supports, from the op
 * declarations in src/onnx/ops/: npx tsx scripts/onnx-ops-table.ts
 */
import { writeFileSync } from 'node:fs';
import { supportedOpsTable } from '../src/onnx/ops/table.js';

const out = new URL('../docs/onnx-ops.md', import.meta.url);
writeFileSync(out, supportedOpsTable());
console.log(`wrote ${out.pathname}`);

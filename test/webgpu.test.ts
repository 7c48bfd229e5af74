/**
 * onnxruntime-node's WebGPU execution provider, on a software Vulkan driver (SwiftShader, shipped
 * with Debian's chromium) when no GPU is present: checks correctness, not speed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { requireOrSkip } from './support/require.js';

const icd = '/usr/lib/chromium/vk_swiftshader_icd.json';
const available = requireOrSkip(icd, existsSync(icd), "apt-get install -y chromium: its SwiftShader Vulkan driver", 'the webgpu tests');

describe.skipIf(!available)('webgpu execution provider (onnxruntime-node)', () => {
  it('runs a compiled fixed-point solve on webgpu and matches the cpu result', () => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'test/helpers/webgpu-child.ts'], {
      env: { ...process.env, VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES ?? icd, LD_LIBRARY_PATH: `/usr/lib/chromium:${process.env.LD_LIBRARY_PATH ?? ''}` },
      encoding: 'utf8',
      timeout: 170_000,
    });
    const r = JSON.parse(out.trim().split('\n').pop()!) as {
      provider: string; diff: number; itersGpu: number; itersCpu: number; placedDiff: number; nodes: { op: string; provider: string }[];
    };
    expect(r.provider).toBe('webgpu');
    expect(r.itersGpu).toBe(r.itersCpu);
    expect(r.diff).toBeLessThan(1e-5);
    expect(r.placedDiff).toBeLessThan(1e-5);
    // the session's provider is only the first one asked for: onnxruntime's profile says where the
    // heavy nodes ran (the cell's matrix product, fused or not, and its tanh, in and out of the Loop)
    const heavy = r.nodes.filter((n) => /^(MatMul|Gemm|FusedGemm|FusedMatMul|Tanh)$/.test(n.op));
    expect(heavy.filter((n) => /Gemm|MatMul/.test(n.op)).length).toBeGreaterThanOrEqual(2);
    expect(heavy.filter((n) => n.provider !== 'WebGpuExecutionProvider')).toEqual([]);
    const onGpu = r.nodes.filter((n) => n.provider === 'WebGpuExecutionProvider').length;
    expect(onGpu).toBeGreaterThan(r.nodes.length / 2);
  });
});

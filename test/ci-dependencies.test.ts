/** Tests that need chromium or a data set skip on a developer's machine without them, and fail under CI=true. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MissingTestDependency, requireOrSkip } from './support/require.js';

describe('requireOrSkip', () => {
  const ci = process.env.CI;
  afterEach(() => {
    if (ci === undefined) delete process.env.CI;
    else process.env.CI = ci;
    vi.restoreAllMocks();
  });

  it('passes a present dependency through, CI or not', () => {
    process.env.CI = 'true';
    expect(requireOrSkip('chromium', true, 'apt-get install -y chromium', 'the browser tests')).toBe(true);
    delete process.env.CI;
    expect(requireOrSkip('chromium', true, 'apt-get install -y chromium', 'the browser tests')).toBe(true);
  });

  it('without CI: a missing dependency skips, with a message naming it and how to install it', () => {
    delete process.env.CI;
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    expect(requireOrSkip('chromium', false, 'apt-get install -y chromium', 'the browser tests')).toBe(false);
    expect(warn).toHaveBeenCalledWith('the browser tests need chromium, which is missing (apt-get install -y chromium): skipped');
    process.env.CI = 'false';
    expect(requireOrSkip('chromium', false, 'apt-get install -y chromium', 'the browser tests')).toBe(false);
  });

  it('under CI=true: a missing dependency is an error', () => {
    for (const v of ['true', '1']) {
      process.env.CI = v;
      expect(() => requireOrSkip('/usr/share/datasets/fashion-mnist', false, 'apt-get install -y dataset-fashion-mnist', 'the Fashion-MNIST test'))
        .toThrow(MissingTestDependency);
      expect(() => requireOrSkip('x', false, 'apt-get install -y x', 'the x tests')).toThrow(/the x tests need x, which is missing \(apt-get install -y x\); CI=true/);
    }
  });
});

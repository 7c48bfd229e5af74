/**
 * Tests that need something outside npm (Debian's chromium, a data set) call requireOrSkip: on a
 * developer's machine without it they are skipped with a message saying how to install it; under
 * CI=true the missing dependency fails the run instead, so CI cannot go green on skipped tests.
 */

export class MissingTestDependency extends Error {
  override name = 'MissingTestDependency';
}

const underCi = (): boolean => /^(1|true|yes)$/i.test(process.env.CI ?? '');

/**
 * True when `present`; otherwise a warning and false (skip), or under CI=true a thrown error.
 * `what` names the dependency, `install` says how to get it, `tests` which tests need it.
 */
export function requireOrSkip(what: string, present: boolean, install: string, tests: string): boolean {
  if (present) return true;
  const message = `${tests} need ${what}, which is missing (${install})`;
  if (underCi()) throw new MissingTestDependency(`${message}; CI=true does not allow skipping them`);
  console.warn(`${message}: skipped`);
  return false;
}

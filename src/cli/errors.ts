/** Library errors in the CLI's words: a setting becomes the flag that sets it. */
import { CheckpointError, SettingError, type SettingName } from '../train/errors.js';

const FLAG_OF: Record<SettingName, string | undefined> = {
  model: '--model', deq: undefined, optimizer: '--optimizer', schedule: '--schedule', lr: '--lr',
  weightDecay: '--weight-decay', clipNorm: '--clip-norm', augment: '--augment', epochs: '--epochs',
  batchSize: '--batch', evalBatchSize: undefined, seed: '--seed', validation: '--validation', trainLimit: '--train-limit',
  testLimit: '--test-limit', dataSpec: '--data', outDir: '--out', resume: '--resume', overwrite: '--overwrite', cell: '--cell',
  jacReg: '--jac-reg', jacRegFreq: '--jac-reg-freq', jacRegSamples: '--jac-reg-samples', normalize: '--weight-norm/--spectral-norm',
  spectralScale: '--spectral-scale',
};

/** One line for an error: flags named after a setting error, the fix spelt out for a damaged checkpoint. */
export function flagError(e: Error): string {
  if (e instanceof CheckpointError) return `damaged checkpoint ${e.path} (${e.reason}): train again or point --out elsewhere`;
  if (e instanceof SettingError) {
    const flags = e.settings.flatMap((s) => FLAG_OF[s] ?? []);
    return flags.length ? `${e.message} (${flags.join(', ')})` : e.message;
  }
  return e.message;
}

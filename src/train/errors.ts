/**
 * Errors of a training run that a front end may want to phrase in its own words: a setting that
 * does not fit (named by its TrainConfig or RunOptions key, so a CLI can name its flag) and a
 * checkpoint that cannot be trusted.
 */
import { InputError } from '../core/errors.js';

/** Keys of TrainConfig and RunOptions that an error can be about. */
export type SettingName =
  | 'model' | 'deq' | 'optimizer' | 'schedule' | 'lr' | 'weightDecay' | 'clipNorm' | 'augment' | 'epochs'
  | 'batchSize' | 'evalBatchSize' | 'seed' | 'validation' | 'trainLimit' | 'testLimit' | 'dataSpec'
  | 'jacReg' | 'jacRegFreq' | 'jacRegSamples' | 'normalize' | 'spectralScale'
  | 'outDir' | 'resume' | 'overwrite' | 'cell';

/** A setting (or a combination of them) that cannot work; `settings` names them. */
export class SettingError extends InputError {
  constructor(readonly settings: readonly SettingName[], message: string) {
    super(message);
  }
}

/** A checkpoint whose bytes or structure do not hold up; nothing of it has been used. */
export class CheckpointError extends InputError {
  constructor(readonly path: string, readonly reason: string) {
    super(`damaged checkpoint ${path} (${reason}): train again or write to another folder`);
  }
}

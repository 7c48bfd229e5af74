/** Losses and metrics, traced (used inside the jitted training and evaluation graphs). */
import type { Value } from '../core/primitive.js';
import * as np from '../np.js';

/** Mean cross-entropy of logits [N, C] against int64 labels [N]. */
export const crossEntropyLoss = (logits: Value, labels: Value): Value => np.crossEntropy(logits, labels);

/** Number of wrong arg-max predictions, as a float scalar (summed over batches on the host). */
export const errorCount = (logits: Value, labels: Value): Value =>
  np.sum(np.astype(np.logicalNot(np.equal(np.argmax(logits, -1), labels)), np.dtype(logits)));

/** Typed errors. Programmer errors found while tracing throw at once; numerical outcomes are values (see solvers). */
export class DeqError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}
/** Shapes that do not fit an op: the message names the op, the shapes and the fix. */
export class ShapeError extends DeqError {}
/** Dtypes that do not fit an op, or a gradient asked of an integer input. */
export class DTypeError extends DeqError {}
/** An op or transform that is not defined for this input (e.g. reverse mode through a whileLoop). */
export class TransformError extends DeqError {}
/** A traced function used wrongly (np.* outside a trace, wrong pytree structure, ...). */
export class TraceError extends DeqError {}
/** A bad or unreadable .onnx file, or inputs that do not match a model. */
export class OnnxError extends DeqError {}
/** A non-finite value where it would silently poison a result. */
export class NonFiniteError extends DeqError {}
/** Bad user input at the API or CLI boundary. */
export class InputError extends DeqError {}

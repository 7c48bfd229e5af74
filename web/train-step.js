/**
 * One training step of an imported cell's weights, shared by the browser page (check.js) and the
 * Node side of the browser test, each passing its own build of the library: the loss
 * ½‖z*(x; θ) − target‖² of the fixed point z* = f(z*, x; θ) (solved from 0 in one compiled loop),
 * its implicit gradient, and θ − lr·∇θ, all in one jit-compiled graph.
 */
export function makeTrainStep({ jit, valueAndGrad, fixedPoint, np, treeMap }, model, solve, runtime) {
  const cell = (z, xs, p) => model.apply(p, z, ...xs)[0];
  const loss = (p, xs, target) => {
    const { value } = fixedPoint(cell, np.zerosLike(target), [xs, p], solve);
    const r = np.sub(value, target);
    return np.mul(np.sum(np.mul(r, r)), 0.5);
  };
  const step = (p, xs, target, lr) => {
    const [l, g] = valueAndGrad(loss)(p, xs, target);
    return { loss: l, params: treeMap((w, gw) => np.sub(w, np.mul(gw, lr)), p, g) };
  };
  return jit(step, { ...runtime, name: 'train_step' });
}

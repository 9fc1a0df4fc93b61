/**
 * The consumer check's program, written as a user of the published packages writes it (package
 * imports only): a small CNN with a GroupNorm and a HybridNorm layer, trained for a few SGD steps
 * on a fixed random batch. Node runs it as compiled by `tsc --strict`; the browser runs it as
 * bundled by esbuild. Nothing here may import a Node module: the browser loads the same code.
 */
import { Variable } from '@normlab/autograd';
import { Conv2d, Flatten, GlobalAvgPool2d, Linear, ReLU, SGD, Sequential, crossEntropy } from '@normlab/nn';
import { GroupNorm, HybridNorm } from '@normlab/norm-layers';
import { type Tensor, randn } from '@normlab/tensor';

export interface TrainResult {
  /** The batch loss before each step. */
  losses: number[];
}

export function trainSmallModel(steps = 6): TrainResult {
  const model = new Sequential(
    new Conv2d(3, 16, 3, { padding: 1, bias: false, seed: 1 }),
    new GroupNorm(4, 16),
    new ReLU(),
    new Conv2d(16, 32, 3, { padding: 1, stride: 2, bias: false, seed: 2 }),
    new HybridNorm(8, 32),
    new ReLU(),
    new GlobalAvgPool2d(),
    new Flatten(),
    new Linear(32, 10, { seed: 3 }),
  );
  const images: Tensor = randn([16, 3, 16, 16], { seed: 4 });
  const labels = Array.from({ length: 16 }, (_, i) => i % 10);
  const optimizer = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    optimizer.zeroGrad();
    const loss = crossEntropy(model.forward(new Variable(images)), labels);
    loss.backward();
    optimizer.step();
    losses.push(loss.item());
  }
  return { losses };
}

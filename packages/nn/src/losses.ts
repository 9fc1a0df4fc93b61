/** Losses: the differentiable ones of `@normlab/autograd`, re-exported so models import one package. */
export { crossEntropy, mseLoss } from '@normlab/autograd';

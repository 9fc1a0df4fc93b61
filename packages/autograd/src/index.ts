export * from './variable.js';
/**
 * The differentiable ops as one namespace (`F.relu(x)`, as `torch.nn.functional`); each is also
 * exported on its own.
 */
export * as F from './functional.js';
export * from './functional.js';
export * from './gradcheck.js';

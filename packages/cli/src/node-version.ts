/**
 * The Node versions normlab runs on, the `engines` range of every package: the cpu kernels' worker
 * threads need `process.getBuiltinModule` (Node 20.16 and 22.3; 21.x lacks it), without which
 * every kernel would run in one thread. The `normlab` executable checks it before anything else.
 */
export const SUPPORTED_NODE = '^20.16.0 || >=22.3.0';

/** Why Node `version` (as in `process.versions.node`) cannot run normlab, or undefined when it can. */
export function nodeVersionProblem(version: string): string | undefined {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const ok = (major === 20 && minor >= 16) || (major === 22 && minor >= 3) || major > 22;
  return ok ? undefined : `normlab needs Node ${SUPPORTED_NODE} (its worker threads need process.getBuiltinModule); this is Node ${version}`;
}

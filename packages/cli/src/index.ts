export { createProgram, runCli, COMMANDS, type Program } from './program.js';
export { CliError, formatError, isUserError } from './errors.js';
export { trainCommand, runTrain, type TrainFlags } from './commands/train.js';
export { evalCommand, runEval, type EvalFlags } from './commands/eval.js';
export { Progress, formatDuration } from './progress.js';

/** The built-in optimizers and lr schedules by name (what `train` and its checkpoints accept). */
export type OptimizerName = 'sgd' | 'adam' | 'adamw';
/** Every `OptimizerName`. */
export const OPTIMIZER_NAMES: readonly OptimizerName[] = ['sgd', 'adam', 'adamw'];
/** An lr schedule by name: constant, step decay, decay at milestones, cosine annealing. */
export type ScheduleName = 'none' | 'step' | 'multistep' | 'cosine';
/** Every `ScheduleName`. */
export const SCHEDULE_NAMES: readonly ScheduleName[] = ['none', 'step', 'multistep', 'cosine'];

/** The built-in optimizers and lr schedules by name (what `train` and its checkpoints accept). */
export type OptimizerName = 'sgd' | 'adam' | 'adamw';
export const OPTIMIZER_NAMES: readonly OptimizerName[] = ['sgd', 'adam', 'adamw'];
export type ScheduleName = 'none' | 'step' | 'multistep' | 'cosine';
export const SCHEDULE_NAMES: readonly ScheduleName[] = ['none', 'step', 'multistep', 'cosine'];

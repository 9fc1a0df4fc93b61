export { ModelError, TrainingError, CheckpointError, FileError } from './errors.js';
export {
  ensureDir,
  writeFileAtomic,
  publishFileOnce,
  removeStaleTemps,
  tempPath,
  readJsonl,
  readJsonFile,
  fsReason,
  MAX_LINE_BYTES,
  type JsonlLine,
  type ReadJsonlResult,
  type ReadJsonlOptions,
} from './files.js';
export {
  ClassifierModel,
  LayerFactory,
  zeroNormWeight,
  MAX_CHANNELS,
  MAX_IMAGE_SIZE,
  MAX_LAYERS,
  MAX_WIDTH,
  MAX_PARAMETERS,
  type ModelOptions,
  type ModelConfig,
  type DistortionConfig,
  type NormOptions,
} from './models/common.js';
export { Mlp, mlp, type MlpOptions } from './models/mlp.js';
export { Cnn, cnn, CNN_DEFAULT_CHANNELS, type CnnOptions } from './models/cnn.js';
export { Vgg11, vgg11, type VggOptions } from './models/vgg.js';
export { ResNet, resnet, resnet8, resnet14, resnet20, resnet18, resnet50, MAX_RESNET_DEPTH, type ResNetOptions } from './models/resnet.js';
export { buildModel, modelConfigProblems, modelStateShapes, MODEL_NAMES, type ModelName } from './registry.js';
export {
  encodeSafetensors,
  decodeSafetensors,
  parseSafetensorsHeader,
  saveSafetensors,
  loadSafetensors,
  MAX_HEADER_BYTES,
  MAX_FILE_BYTES,
  type SafetensorsFile,
  type EncodeOptions,
  type SafetensorsHeader,
  type SafetensorsEntry,
} from './safetensors.js';
export {
  saveCheckpoint,
  loadCheckpoint,
  loadModel,
  checkResume,
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  type Checkpoint,
  type SaveCheckpointOptions,
} from './checkpoint.js';
export { TRAIN_CLI_FLAGS, type TrainCliFlags, type CheckpointExtra } from './metadata.js';
export {
  StepMetricsLineSchema,
  EvalMetricsLineSchema,
  metricsLineSchema,
  metricValue,
  MetricsWriter,
  readMetrics,
  type MetricsFile,
  type MetricsFileLine,
  type StepMetricsLine,
  type EvalMetricsLine,
  type MetricsLine,
} from './metrics.js';
export {
  train,
  evaluate,
  type EvaluateOptions,
  reseedModules,
  OPTIMIZER_NAMES,
  SCHEDULE_NAMES,
  type OptimizerName,
  type ScheduleName,
  type TrainOptions,
  type TrainResult,
  type StepMetrics,
  type EpochMetrics,
  type AfterBackwardContext,
  type TrainingOptimizer,
  type Evaluation,
} from './train.js';

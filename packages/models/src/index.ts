export { ModelError, TrainingError, CheckpointError } from './errors.js';
export {
  ClassifierModel,
  LayerFactory,
  zeroNormWeight,
  type ModelOptions,
  type ModelConfig,
  type DistortionConfig,
  type NormOptions,
} from './models/common.js';
export { Mlp, mlp, type MlpOptions } from './models/mlp.js';
export { Cnn, cnn, CNN_DEFAULT_CHANNELS, type CnnOptions } from './models/cnn.js';
export { Vgg11, vgg11, type VggOptions } from './models/vgg.js';
export { ResNet, resnet, resnet8, resnet14, resnet20, resnet18, resnet50, type ResNetOptions } from './models/resnet.js';
export { buildModel, MODEL_NAMES, type ModelName } from './registry.js';
export {
  encodeSafetensors,
  decodeSafetensors,
  saveSafetensors,
  loadSafetensors,
  writeFileAtomic,
  MAX_HEADER_BYTES,
  type SafetensorsFile,
  type EncodeOptions,
} from './safetensors.js';
export {
  saveCheckpoint,
  loadCheckpoint,
  loadModel,
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  type Checkpoint,
  type SaveCheckpointOptions,
} from './checkpoint.js';
export {
  train,
  evaluate,
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
} from './train.js';

export { OnnxExportError, OnnxRuntimeError } from './errors.js';
export { exportOnnx, saveOnnx, INPUT_NAME, OUTPUT_NAME, BATCH_DIM, SUPPORTED_OPS, type OnnxExportOptions } from './export.js';
export { exportRefusal, isGroupNormFamily, GROUP_NORM_OPS, type GroupNormOp } from './norms.js';
export { readOnnxMetadata, METADATA_KEYS, type NormlabOnnxMetadata } from './metadata.js';
export { ONNX_OPSET, ONNX_IR_VERSION } from './proto.js';
export { OnnxModel, evaluateOnnx, loadOnnxRuntime, type OnnxModelOptions } from './runtime.js';

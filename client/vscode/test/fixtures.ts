import type { FileReportJson } from '../src/report';

// The seed MLP under ptflops' convention, by hand: a Linear costs in·out + out (bias) MACs and
// has in·out + out params; a ReLU costs one MAC per element; Flatten nothing.
export const l1 = 784 * 512 + 512;
export const l2 = 512 * 512 + 512;
export const l3 = 512 * 10 + 10;
export const relu = 512;
export const total = l1 + relu + l2 + relu + l3;

const layer = (path: string, type: string, line: number | null, macs: number, params: number, shape: number[]) => ({
  path,
  type,
  line,
  calls: 1,
  macs,
  flops: 2 * macs,
  params,
  output_shape: shape,
});

export const seed: FileReportJson = {
  schema: 'flopsight.report/1',
  file: 'examples/seed_mlp.py',
  convention: 'ptflops',
  models: [
    {
      name: 'NeuralNetwork',
      kind: 'class',
      line: 7,
      inputs: [{ name: 'x', shape: [1, 28, 28], dtype: 'float32' }],
      status: 'ok',
      error: null,
      device: 'meta',
      total: { macs: total, flops: 2 * total, params: l1 + l2 + l3, trainable_params: l1 + l2 + l3, param_bytes: 4 * (l1 + l2 + l3), activation_bytes: 0 },
      layers: [
        layer('', 'NeuralNetwork', null, total, l1 + l2 + l3, [1, 10]),
        layer('flatten', 'Flatten', 10, 0, 0, [1, 784]),
        layer('linear_relu_stack', 'Sequential', 11, total, l1 + l2 + l3, [1, 10]),
        layer('linear_relu_stack.0', 'Linear', 12, l1, l1, [1, 512]),
        layer('linear_relu_stack.1', 'ReLU', 13, relu, 0, [1, 512]),
        layer('linear_relu_stack.2', 'Linear', 14, l2, l2, [1, 512]),
        layer('linear_relu_stack.3', 'ReLU', 15, relu, 0, [1, 512]),
        layer('linear_relu_stack.4', 'Linear', 16, l3, l3, [1, 10]),
      ],
      uncounted_ops: [],
      elapsed_ms: 41,
    },
  ],
};


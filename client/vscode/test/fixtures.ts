import type { ReportView } from '../src/report';

// The report page of the seed MLP under ptflops' convention, as the server sends it for
// `flopsight.server.showReport` with `{format: "view"}`. The strings are ptflops' units of the
// figures by hand: a Linear costs in·out + out MACs (bias) and has in·out + out params; a ReLU one
// MAC per element. 784·512 + 512 = 401,920 (59.9 % of 670,730); 512·512 + 512 = 262,656 (39.2 %);
// 512·10 + 10 = 5,130 (0.8 %); total 670,730 MACs, 669,706 params.
const row = (path: string, type: string, depth: number, line: number | null, macs: string, share: string, params: string, shape: string) => ({
  path,
  name: path.startsWith('(') ? path : (path.split('.').pop() ?? path),
  type,
  depth,
  line,
  calls: 1,
  macs,
  share,
  params,
  shape,
});

export const seedView: ReportView = {
  schema: 'flopsight.view/1',
  file: 'examples/seed_mlp.py',
  convention: 'ptflops',
  models: [
    {
      name: 'NeuralNetwork',
      title: 'NeuralNetwork',
      line: 7,
      status: 'ok',
      error: null,
      facts: [
        ['MACs', '670.73 KMac'],
        ['FLOPs', '1.34 MFLOPs'],
        ['Params', '669.71 k'],
        ['Input', 'x: [1, 28, 28]'],
      ],
      rows: [
        row('(NeuralNetwork)', 'NeuralNetwork', 0, 7, '670.73 KMac', '100.0%', '669.71 k', '[1, 10]'),
        row('flatten', 'Flatten', 1, 10, '0 Mac', '0.0%', '0', '[1, 784]'),
        row('linear_relu_stack', 'Sequential', 1, 11, '670.73 KMac', '100.0%', '669.71 k', '[1, 10]'),
        row('linear_relu_stack.0', 'Linear', 2, 12, '401.92 KMac', '59.9%', '401.92 k', '[1, 512]'),
        row('linear_relu_stack.1', 'ReLU', 2, 13, '512 Mac', '0.1%', '0', '[1, 512]'),
        row('linear_relu_stack.2', 'Linear', 2, 14, '262.66 KMac', '39.2%', '262.66 k', '[1, 512]'),
      ],
      bars: [
        { label: 'linear_relu_stack.0', type: 'Linear', line: 12, macs: '401.92 KMac', share: '59.9%', width: 100 },
        { label: 'linear_relu_stack.2', type: 'Linear', line: 14, macs: '262.66 KMac', share: '39.2%', width: 65.4 },
      ],
      uncounted: [],
    },
  ],
  warnings: [],
  notes: [],
};

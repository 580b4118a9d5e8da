// The layers of src/ from the bottom up (dependency-cruiser config, checked by test/layers.test.ts on
// the built dist/): a module may import its own layer and the layers below it, never one above, and
// nothing may import in a circle. One line per layer; a file directly under src/ is its own layer.
const LAYERS = [
  ['errors', 'version', 'tuning', 'time', 'util'],
  ['config'],
  ['store'],
  ['ingest', 'rules'],
  ['grants'],
  ['views', 'export', 'retention'],
  ['deliver'],
  ['nightly'],
  ['status'],
  ['commands'],
  ['cli', 'command-line', 'main'],
];

const path = (name) => `^dist/${name}(/|\\.js$)`;
const forbidden = [
  { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
  ...LAYERS.slice(0, -1).flatMap((layer, rank) =>
    layer.map((name) => ({
      name: `no-upward-from-${name}`,
      severity: 'error',
      from: { path: path(name) },
      to: { path: LAYERS.slice(rank + 1).flat().map(path) },
    })),
  ),
];

module.exports = { forbidden, options: { doNotFollow: { path: 'node_modules' }, exclude: { path: '\\.map$' } } };
// Not a dependency-cruiser option (its schema allows no extra keys): for test/layers.test.ts.
Object.defineProperty(module.exports, 'LAYERS', { value: LAYERS, enumerable: false });

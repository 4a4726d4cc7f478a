// Loads speedscope files with speedscope's own importer, outside a browser, and prints what it
// read as JSON: each profile's name, weight unit, total weight and frames with their weights.
//
// Usage: node import.mjs SPEEDSCOPE_BUNDLE.js FILE...
//
// The importer lives inside speedscope's browser bundle; one assignment in it is rewritten so
// that the module's exports are reachable, and the browser objects the rest of the bundle
// touches while it starts are inert stand-ins. Nothing is drawn.
import fs from 'node:fs';
import vm from 'node:vm';

const [bundlePath, ...files] = process.argv.slice(2);
const marker = 'var kf={};';
let source = fs.readFileSync(bundlePath, 'utf8');
if (source.split(marker).length !== 2) {
  throw new Error(`${bundlePath}: the importer module (${marker}) is not there exactly once`);
}
source = source.replace(marker, 'var kf=globalThis.__importers={};');

// Every property of a stand-in is another stand-in, and calling one returns one.
const inert = () =>
  new Proxy(function () {}, {
    get: (_, key) => (key === Symbol.toPrimitive ? () => '' : key === 'then' ? undefined : inert()),
    apply: () => inert(),
    construct: () => inert(),
  });
const context = {
  console: { log() {}, warn() {}, error() {}, info() {} },
  TextDecoder, TextEncoder, atob, btoa, URL, setTimeout, clearTimeout,
  Uint8Array, ArrayBuffer, DataView, WebAssembly, performance,
  requestAnimationFrame: () => 0,
};
for (const name of ['document', 'navigator', 'location', 'localStorage']) context[name] = inert();
context.window = new Proxy(context, { get: (target, key) => (key in target ? target[key] : inert()) });
context.self = context.window;
context.globalThis = context;
vm.createContext(context);
try {
  vm.runInContext(source, context);
} catch {
  // The user interface fails to start on the stand-ins; the importer is defined before it.
}
// The bundle initialises its modules in promise callbacks; let them run.
await new Promise((resolve) => setTimeout(resolve, 0));
const importers = context.__importers;
if (typeof importers?.importProfileGroupFromText !== 'function') {
  throw new Error('speedscope importer not found in the bundle');
}
const out = [];
for (const file of files) {
  const group = await importers.importProfileGroupFromText(file, fs.readFileSync(file, 'utf8'));
  if (!group) throw new Error(`${file}: speedscope could not import it`);
  out.push({
    file,
    name: group.name,
    profiles: group.profiles.map((profile) => {
      const frames = [];
      profile.forEachFrame((frame) =>
        frames.push({ name: frame.name, self: frame.getSelfWeight(), total: frame.getTotalWeight() }),
      );
      return {
        name: profile.getName(),
        unit: profile.getWeightUnit(),
        total: profile.getTotalWeight(),
        frames,
      };
    }),
  });
}
process.stdout.write(JSON.stringify(out));

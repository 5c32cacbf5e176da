// Loads onnxruntime-web from this server (never a CDN) and runs the exported generator.
//
// WebGPU is tried when the browser exposes it and gives an adapter; otherwise, or if the WebGPU
// session cannot be created, the WebAssembly build runs it (multi-threaded when the page is
// cross-origin isolated, which `pocketgan serve` arranges with COOP/COEP headers).

const ORT_DIR = new URL("./ort/", import.meta.url).href;
const BUNDLES = { webgpu: "ort.webgpu.min.mjs", wasm: "ort.wasm.min.mjs" };
const loaded = new Map();

async function loadOrt(kind) {
  if (!loaded.has(kind)) {
    loaded.set(kind, import(ORT_DIR + BUNDLES[kind]).then((ort) => {
      ort.env.wasm.wasmPaths = ORT_DIR; // the .wasm/.mjs files sit beside the bundle, served locally
      ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
      ort.env.logLevel = "error";
      return ort;
    }));
  }
  return loaded.get(kind);
}

async function hasWebGpu() {
  if (!navigator.gpu) return false;
  try {
    return Boolean(await navigator.gpu.requestAdapter());
  } catch {
    return false;
  }
}

/** A loaded model: `run(rgb, width, height)` -> { rgb, ms } with uint8 RGB in and out. */
export class Translator {
  constructor(ort, session, backend) {
    this.ort = ort;
    this.session = session;
    this.backend = backend; // "WebGPU" or "WebAssembly"
    this.queue = Promise.resolve(); // one run at a time per session
  }

  run(rgb, width, height) {
    const job = this.queue.then(async () => {
      const input = new this.ort.Tensor("uint8", rgb, [1, height, width, 3]);
      const start = performance.now();
      const results = await this.session.run({ [this.session.inputNames[0]]: input });
      const ms = performance.now() - start;
      const output = results[this.session.outputNames[0]];
      const data = output.data instanceof Uint8Array ? output.data : Uint8Array.from(output.data);
      input.dispose?.();
      output.dispose?.();
      return { rgb: data, ms };
    });
    this.queue = job.catch(() => {});
    return job;
  }
}

async function fetchModel(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`model file ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** Create a session for the model at `url`, WebGPU first where it works, else WebAssembly. */
export async function loadTranslator(url) {
  const bytes = await fetchModel(url);
  const errors = [];
  if (await hasWebGpu()) {
    try {
      const ort = await loadOrt("webgpu");
      const session = await ort.InferenceSession.create(bytes, { executionProviders: ["webgpu", "wasm"] });
      return new Translator(ort, session, "WebGPU");
    } catch (e) {
      errors.push(`WebGPU: ${e.message || e}`);
    }
  }
  try {
    const ort = await loadOrt("wasm");
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
    return new Translator(ort, session, "WebAssembly");
  } catch (e) {
    errors.push(`WebAssembly: ${e.message || e}`);
    throw new Error(errors.join("; "));
  }
}

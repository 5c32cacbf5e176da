// Loads onnxruntime-web from this server (never a CDN) and runs the exported generator. Runs inside
// the inference worker (worker.js), never on the page's main thread.
//
// Which engine runs the model is the page's choice (choose.js: measured once per model and device,
// or forced with ?engine=): "webgpu" runs it on the graphics chip, falling back to WebAssembly if
// the WebGPU session cannot be created; "wasm" runs the WebAssembly build (multi-threaded when the
// page is cross-origin isolated, which `pocketgan serve` arranges with COOP/COEP headers).
//
// The WebAssembly binary (14 MB, the biggest file of the app) is fetched once: from the Cache
// Storage when an earlier visit put it there, else from the network, and then put there, where
// the service worker finds it for offline use instead of downloading it a second time.

const ORT_DIR = new URL("./ort/", import.meta.url).href;
const BUNDLES = { webgpu: "ort.webgpu.min.mjs", wasm: "ort.wasm.min.mjs" };
const BINARIES = { webgpu: "ort-wasm-simd-threaded.asyncify.wasm", wasm: "ort-wasm-simd-threaded.wasm" };
export const RUNTIME_CACHE_PREFIX = "pocketgan-ort-";
const loaded = new Map();

/** Threads for the WebAssembly backend: all cores but one, up to 4 (a phone's big cores); 1 without
 *  cross-origin isolation. The core left over draws the page and grabs camera frames: on a 2-core
 *  machine with other work running, 1 thread measured ~2x faster per frame than 2 (threads that
 *  wait on each other lose more than they gain when no core is free). */
export function wasmThreads(requested = 0) {
  if (!self.crossOriginIsolated) return 1;
  if (Number.isInteger(requested) && requested >= 1 && requested <= 16) return requested; // ?threads=N, for measuring
  const cores = navigator.hardwareConcurrency || 1;
  return Math.max(1, Math.min(4, cores - 1));
}

/** `url`'s bytes through the Cache Storage `cacheName` (fetched and stored on a miss; plain fetch
 *  where the Cache Storage is missing, as on plain-HTTP pages). */
export async function cachedBytes(url, cacheName) {
  const cache = self.caches ? await self.caches.open(cacheName).catch(() => null) : null;
  let response = cache ? await cache.match(url) : undefined;
  if (!response) {
    response = await fetch(url);
    if (!response.ok) throw new Error(`${url.split("/").pop()}: HTTP ${response.status}`);
    if (cache) await cache.put(url, response.clone()).catch(() => { /* quota: keep going uncached */ });
  }
  return response.arrayBuffer();
}

async function loadOrt(kind, threads) {
  if (!loaded.has(kind)) {
    const promise = import(ORT_DIR + BUNDLES[kind]).then(async (ort) => {
      const cacheName = RUNTIME_CACHE_PREFIX + ort.env.versions.web;
      ort.env.wasm.wasmPaths = ORT_DIR; // the .mjs glue sits beside the bundle, served locally
      ort.env.wasm.wasmBinary = await cachedBytes(ORT_DIR + BINARIES[kind], cacheName);
      ort.env.wasm.numThreads = wasmThreads(threads); // fixed once per worker: the first model decides
      ort.env.logLevel = "error";
      return ort;
    });
    promise.catch(() => loaded.delete(kind)); // a failed download may be retried
    loaded.set(kind, promise);
  }
  return loaded.get(kind);
}

/** A loaded model: `run(rgb, width, height)` -> { rgb, ms } with uint8 RGB (NHWC) in and out. */
export class Translator {
  constructor(ort, session, backend, threads) {
    this.ort = ort;
    this.session = session;
    this.backend = backend; // "WebGPU" or "WebAssembly"
    this.threads = threads;
    this.input = session.inputNames[0];
    this.output = session.outputNames[0];
    this.queue = Promise.resolve(); // one run at a time per session
  }

  run(rgb, width, height) {
    const job = this.queue.then(async () => {
      const input = new this.ort.Tensor("uint8", rgb, [1, height, width, 3]); // wraps rgb, no copy
      const start = performance.now();
      const results = await this.session.run({ [this.input]: input });
      const ms = performance.now() - start;
      const output = results[this.output];
      return { rgb: output.data, ms }; // a fresh Uint8Array the runtime copied out of its heap
    });
    this.queue = job.catch(() => {});
    return job;
  }
}

/** A session for `bytes` (an ONNX model) on one engine, "webgpu" or "wasm"; throws if it cannot be
 *  created. WebGPU sessions may still hand single operators to WebAssembly (the "wasm" provider
 *  after "webgpu"), which onnxruntime-web does only for operators WebGPU lacks. */
export async function createTranslator(bytes, backend, threads = 0) {
  if (backend === "webgpu") {
    if (!self.navigator?.gpu) throw new Error("this browser has no WebGPU");
    const ort = await loadOrt("webgpu", threads);
    const session = await ort.InferenceSession.create(bytes.slice(), { executionProviders: ["webgpu", "wasm"] });
    return new Translator(ort, session, "WebGPU", 0);
  }
  const ort = await loadOrt("wasm", threads);
  const session = await ort.InferenceSession.create(bytes.slice(), { executionProviders: ["wasm"] });
  return new Translator(ort, session, "WebAssembly", ort.env.wasm.numThreads);
}

/** Create a session for the model at `url` on `backend` ("webgpu" or "wasm", the page's choice);
 *  WebGPU falls back to WebAssembly when its session cannot be created (the error is kept in
 *  `fallbackReason` for the details panel). `threads`: 0 = chosen by wasmThreads. The model's
 *  bytes go through the Cache Storage `modelCache` (the service worker's model cache). */
export async function loadTranslator(url, modelCache, threads = 0, backend = "wasm") {
  const bytes = new Uint8Array(await cachedBytes(url, modelCache));
  const errors = [];
  if (backend === "webgpu") {
    try {
      return await createTranslator(bytes, "webgpu", threads);
    } catch (e) {
      errors.push(`WebGPU: ${e.message || e}`);
    }
  }
  try {
    const t = await createTranslator(bytes, "wasm", threads);
    t.fallbackReason = errors[0] || "";
    return t;
  } catch (e) {
    errors.push(`WebAssembly: ${e.message || e}`);
    throw new Error(errors.join("; "), { cause: e }); // the message names both failures; only it reaches the page
  }
}

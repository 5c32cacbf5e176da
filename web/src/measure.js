// Times the engines on the model, for the page's engine choice (choose.js). Runs in a worker of its
// own, which the page ends afterwards: a run that is abandoned for taking too long (a software
// WebGPU adapter may need seconds) stops with it, and the losing runtime's memory goes with it.
//
// Why measure at all: WebGPU is not always the graphics chip. Chromium with
// --enable-unsafe-webgpu, and some phones without GPU drivers, offer a software adapter
// (SwiftShader) on which a 256×256 photo takes 8-17 s instead of 0.2 s with WebAssembly.

import { cachedBytes, createTranslator } from "./runtime.js";

/** The size the engines are timed at: small, so a slow engine costs little, yet large enough that
 *  per-run overheads do not decide. A multiple of 4, as the models need. */
export const MEASURE_SIDE = 128;
const RUNS = 3; // timed runs after one warm-up; the median decides
const SLOWER = 10; // an engine whose run takes this many times the other's is abandoned there
// the first WebGPU run compiles the shaders: it may take this long whatever WebAssembly takes
const WARMUP_FLOOR_MS = 5000;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Resolves to the run's time in ms, or to Infinity once `capMs` has passed (the run goes on in the
 *  background until the worker is ended). */
async function timedRun(translator, rgb, capMs) {
  let timer;
  const cap = new Promise((resolve) => { timer = setTimeout(() => resolve(Infinity), capMs); });
  const start = performance.now();
  const ms = await Promise.race([translator.run(rgb, MEASURE_SIDE, MEASURE_SIDE).then(() => performance.now() - start), cap]);
  clearTimeout(timer);
  return ms;
}

/** One warm-up and RUNS timed runs of `translator`; stops at the first run over its cap.
 *  -> { warmupMs, ms: [..], abandoned } */
async function timeEngine(translator, rgb, { warmupCapMs = Infinity, runCapMs = Infinity } = {}) {
  const warmupMs = await timedRun(translator, rgb, warmupCapMs);
  if (warmupMs === Infinity) return { warmupMs: warmupCapMs, ms: [], abandoned: true, capMs: warmupCapMs };
  const ms = [];
  for (let i = 0; i < RUNS; i++) {
    const t = await timedRun(translator, rgb, runCapMs);
    if (t === Infinity) return { warmupMs, ms, abandoned: true, capMs: runCapMs };
    ms.push(t);
  }
  return { warmupMs, ms, abandoned: false, medianMs: median(ms) };
}

/** A fixed test picture (gradients and a pattern: the time does not depend on the content, but a
 *  flat image could take shortcuts in some kernels). */
function testPicture(side) {
  const rgb = new Uint8Array(side * side * 3);
  for (let y = 0, i = 0; y < side; y++) {
    for (let x = 0; x < side; x++, i += 3) {
      rgb[i] = (x * 255) / side;
      rgb[i + 1] = (y * 255) / side;
      rgb[i + 2] = ((x ^ y) * 7) & 255;
    }
  }
  return rgb;
}

/** Time WebAssembly, then WebGPU (where `webgpu` is true) on the model at `url`, at
 *  MEASURE_SIDE×MEASURE_SIDE. WebAssembly goes first: it always runs, and its time sets WebGPU's
 *  cap (SLOWER times it, per run). -> { side, wasm: {..., threads}, webgpu: {...} | { error } | null } */
export async function measureEngines({ url, modelCache, threads, webgpu }) {
  const bytes = new Uint8Array(await cachedBytes(url, modelCache));
  const rgb = testPicture(MEASURE_SIDE);
  const wasmT = await createTranslator(bytes, "wasm", threads);
  const wasm = { ...(await timeEngine(wasmT, rgb)), threads: wasmT.threads };
  let gpu = null;
  if (webgpu) {
    try {
      const gpuT = await createTranslator(bytes, "webgpu", threads);
      gpu = await timeEngine(gpuT, rgb, { warmupCapMs: Math.max(WARMUP_FLOOR_MS, SLOWER * wasm.warmupMs),
                                          runCapMs: SLOWER * wasm.medianMs });
    } catch (e) {
      gpu = { error: (e && (e.message || String(e))) || "unknown error" };
    }
  }
  return { side: MEASURE_SIDE, wasm, webgpu: gpu };
}

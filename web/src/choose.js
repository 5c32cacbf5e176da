// Which engine runs the model on this device: WebGPU or WebAssembly, chosen by measurement.
//
// A WebGPU adapter is not a promise of speed: where only a software one exists (SwiftShader, which
// Chromium offers with --enable-unsafe-webgpu and some phones offer without GPU drivers) a
// 256×256 photo takes 8-17 s on it instead of 0.2 s with WebAssembly. So at the first load of a
// model, both engines are timed on it (measure.js, in a worker of its own) and the faster one
// runs. The choice is kept in localStorage under the model's hashes and the device (the browser
// and the adapter), so later visits skip the measurement, and a new model is measured again.
// `?engine=webgpu|wasm` forces one without measuring (for measuring by hand and for tests).

const STORE_PREFIX = "pocketgan-engine:";
const NAMES = { webgpu: "WebGPU", wasm: "WebAssembly" };

/** The WebGPU adapter the browser offers, described, or null where there is none.
 *  -> { vendor, architecture, device, description, fallback } (fallback: a software adapter, as
 *  the adapter says or as SwiftShader's name gives away). */
export async function adapterInfo() {
  if (!navigator.gpu) return null;
  let adapter;
  try {
    adapter = await navigator.gpu.requestAdapter();
  } catch {
    return null;
  }
  if (!adapter) return null;
  const info = adapter.info || {};
  const described = { vendor: info.vendor || "", architecture: info.architecture || "", device: info.device || "",
                      description: info.description || "" };
  const fallback = Boolean(info.isFallbackAdapter ?? adapter.isFallbackAdapter) ||
    /swiftshader/i.test(`${described.architecture} ${described.description}`);
  return { ...described, fallback };
}

/** The adapter in words, for the details panel: "google swiftshader, a software fallback adapter". */
export function adapterText(adapter) {
  const name = [adapter.vendor, adapter.architecture, adapter.description].filter(Boolean).join(" ") || "unnamed adapter";
  return adapter.fallback ? `${name}, a software fallback adapter` : name;
}

/** The localStorage key of a choice: this model (every direction's hash) on this device. */
function storeKey(card, adapter) {
  const model = Object.entries(card.models || {}).map(([d, m]) => `${d}=${m.sha256 || m.url}`).sort().join(",");
  const device = [navigator.userAgent, adapter.vendor, adapter.architecture, adapter.device, adapter.description].join("|");
  return `${STORE_PREFIX}${card.name || ""}|${model}|${device}`;
}

function remembered(key) {
  try {
    const choice = JSON.parse(localStorage.getItem(key) || "null");
    return choice && NAMES[choice.backend] ? choice : null;
  } catch {
    return null; // storage blocked, or not ours
  }
}

function remember(key, choice) {
  try {
    // one model at a time: choices for other models (or an older browser version) are dropped
    for (const k of Object.keys(localStorage)) if (k.startsWith(STORE_PREFIX) && k !== key) localStorage.removeItem(k);
    localStorage.setItem(key, JSON.stringify(choice));
  } catch {
    // no storage (private mode, quota): measured again next visit
  }
}

const seconds = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`);

/** One engine's time in words: "210 ms", or "over 2.1 s (abandoned)". */
function timeText(result) {
  if (result.error) return `failed (${result.error})`;
  return result.abandoned ? `over ${seconds(result.capMs)} (abandoned)` : seconds(result.medianMs);
}

/** The measurement's verdict: { backend, why, measured }. WebGPU wins only when it ran every timed
 *  run and its median beat WebAssembly's. */
export function decide(measured, adapter) {
  const { wasm, webgpu, side } = measured;
  const gpuOk = webgpu && !webgpu.error && !webgpu.abandoned;
  const backend = gpuOk && webgpu.medianMs < wasm.medianMs ? "webgpu" : "wasm";
  const threads = `${wasm.threads} thread${wasm.threads === 1 ? "" : "s"}`;
  const wasmPart = `WebAssembly (${threads}) ${timeText(wasm)}`;
  const gpuPart = `WebGPU (${adapterText(adapter)}) ${timeText(webgpu)}`;
  const parts = backend === "webgpu" ? [gpuPart, wasmPart] : [wasmPart, gpuPart];
  return { backend, why: `measured at ${side}×${side}: ${parts[0]} vs ${parts[1]}`, measured };
}

/** Choose the engine for `card`'s model: forced by `forced` ("webgpu"/"wasm", from ?engine=),
 *  WebAssembly where there is no WebGPU adapter, else remembered or measured with `measure(webgpu)`
 *  (Engine.measure on the model of the first direction).
 *  -> { backend, how: "forced"|"no-adapter"|"remembered"|"measured", why, adapter, measured } */
export async function chooseEngine(card, forced, measure) {
  const adapter = await adapterInfo();
  if (NAMES[forced]) {
    return { backend: forced, how: "forced", why: `forced with ?engine=${forced}`, adapter, measured: null };
  }
  if (!adapter) {
    return { backend: "wasm", how: "no-adapter", why: "this browser offers no WebGPU adapter", adapter, measured: null };
  }
  const key = storeKey(card, adapter);
  const earlier = remembered(key);
  if (earlier) return { ...earlier, how: "remembered", why: `${earlier.why}, on an earlier visit`, adapter };
  const choice = decide(await measure(true), adapter);
  remember(key, choice);
  return { ...choice, how: "measured", adapter };
}

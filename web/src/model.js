// The model on this device: its card (api/model), the engine that runs it (chosen by choose.js)
// and getting a direction's model ready in the inference worker. If the model cannot run here,
// the page says so and switches to the server's POST api/translate.

import { adapterText, chooseEngine } from "./choose.js";
import { Cancelled, Engine } from "./engine.js";
import { state } from "./state.js";
import { errorText, READY, setStatus, ui } from "./ui.js";

const MODEL_CACHE = "pocketgan-models"; // shared with the service worker (sw.js)

/** api/model (or the service worker's copy when offline). */
export async function fetchCard() {
  const response = await fetch("api/model");
  if (!response.ok) throw new Error(`api/model: HTTP ${response.status}`);
  return response.json();
}

/** The inference workers, with ?threads=N (WebAssembly threads) and ?workers=N (live lanes) from
 *  `query`, for measuring. */
export function startEngine(query) {
  state.engine = new Engine(MODEL_CACHE, { threads: Number(query.get("threads")) || 0,
                                          liveWorkers: Number(query.get("workers")) || 0 });
}

/** The details panel's line: which engine runs, and why that one. */
function engineText(t) {
  const { choice } = state;
  const how = t.backend === "WebGPU" ? `WebGPU (${choice.adapter ? adapterText(choice.adapter) : "the graphics chip"})`
    : `WebAssembly (the processor, ${t.threads} thread${t.threads === 1 ? "" : "s"})`;
  const failed = t.fallbackReason ? ` WebGPU was chosen but could not start (${t.fallbackReason}).` : "";
  return `Runs on this device with ${how}: ${choice.why}.${failed}`;
}

/** Choose the engine for this model on this device (choose.js): measured on the first visit,
 *  remembered after, or forced with ?engine=webgpu|wasm in `query`. A failed measurement leaves
 *  WebAssembly, which runs everywhere. Must run before the first model is loaded. */
export async function chooseBackend(query) {
  const direction = ui.direction.value;
  try {
    state.choice = await chooseEngine(state.card, query.get("engine"), (webgpu) => {
      setStatus("Finding the fastest way to run the model on this device…", "loading");
      return state.engine.measure(state.card.models[direction].url, webgpu);
    });
  } catch (e) {
    state.choice = { backend: "wasm", how: "failed", why: `the engines could not be measured (${errorText(e)})`, adapter: null };
  }
  state.engine.backend = state.choice.backend;
  ui.engine.dataset.choice = state.choice.how;
  ui.engine.dataset.adapter = state.choice.adapter ? (state.choice.adapter.fallback ? "fallback" : "hardware") : "none";
}

/** Load the model of `direction` in the photo worker (nothing to do when photos go to the server);
 *  false when it could not be loaded, and the server takes over. */
export async function prepareDirection(direction) {
  if (ui.onServer.checked) return true;
  setStatus(`Getting the ${state.labels[direction]} model ready…`, "loading");
  try {
    const t = await state.engine.load(direction, state.card.models[direction].url);
    ui.engine.textContent = engineText(t);
    ui.engine.dataset.backend = t.backend;
    ui.engine.dataset.threads = String(t.threads);
    setStatus(READY, "ready");
    return true;
  } catch (e) {
    if (e instanceof Cancelled) return false;
    ui.onServer.checked = true;
    setStatus(`The model could not be loaded on this device (${errorText(e)}). Photos will be translated on the server instead.`, "error");
    return false;
  }
}

/** True when the model of `direction` predicts a change to the photo, as /api/model says (the
 *  server's one rule, models/config.py predicts_change): its change is applied to the full-size photo. */
export function predictsChange(direction) {
  return state.card?.predicts_change?.[direction] === true;
}

/** The model in words, for the details panel. */
export function describe(model) {
  const parts = Object.entries(model.generators || {}).map(([slot, g]) => `${slot}: ${g.name}${g.ngf ? ` ngf ${g.ngf}` : ""}`);
  const mb = Object.values(model.models).reduce((n, m) => n + m.bytes, 0) / 1e6;
  return `Model ${model.name} (${parts.join(", ") || "exported ONNX"}), ${mb.toFixed(1)} MB to download once.`;
}

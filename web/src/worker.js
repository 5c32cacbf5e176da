// The inference worker: every model run happens here, so the page stays responsive (a 1024 px
// photo takes seconds on a phone) and can be cancelled by ending this worker.
//
// Messages in (each with an `id`, answered by { id, ok, ... } or { id, ok: false, error }):
//   load  { direction, url, modelCache, threads, backend } -> { backend, threads, fallbackReason }
//         backend: "webgpu" or "wasm", the page's engine choice (choose.js)
//   measure { url, modelCache, threads, webgpu } -> the engines' times (measure.js); sent to a
//         worker of its own, which the page ends afterwards
//   run   { direction, rgba, width, height }      -> { rgba, ms }   photo: RGBA in, translated RGBA out
//   frame { direction, bitmap, width, height, strength } -> { bitmap, ms, stages }  one live frame in and
//         out; stages: the worker's ms per step (read, input, model, output, draw)
//   fullres { bitmap, before, after, width, height, residual, strength } -> { rgba, width, height }
//         the result at the photo's full size (bitmap: the photo; before/after: RGBA at the working
//         size); the worker keeps what it needs to re-compose at another strength:
//   compose { strength } -> { rgba, width, height }     forget {} -> {}  (drop the kept photo)
// Pixel buffers and bitmaps are transferred, never copied.

import { blendRgba, composeFull, paddedRgbToRgba, rgbaToPaddedRgb } from "./imaging.js";
import { measureEngines } from "./measure.js";
import { loadTranslator } from "./runtime.js";

const translators = new Map(); // direction -> Promise<Translator>
const live = { scratch: null, scratchCtx: null, out: null, outCtx: null, after: null, shown: null }; // reused every frame

function translatorFor(direction, url, modelCache, threads, backend) {
  if (!translators.has(direction)) {
    if (!url) throw new Error(`the ${direction} model is not loaded`);
    const promise = loadTranslator(url, modelCache, threads, backend);
    promise.catch(() => translators.delete(direction)); // allow a retry later
    translators.set(direction, promise);
  }
  return translators.get(direction);
}

/** RGBA (canvas bytes) in, translated RGBA out: pad, run, crop, without extra copies. */
async function translateRgba(direction, rgba, width, height) {
  const t = await translatorFor(direction);
  const padded = rgbaToPaddedRgb(rgba, width, height);
  const out = await t.run(padded.data, padded.width, padded.height);
  return { rgba: paddedRgbToRgba(out.rgb, padded.width, width, height), ms: out.ms };
}

function liveBuffers(width, height) {
  if (!live.scratch || live.scratch.width !== width || live.scratch.height !== height) {
    live.scratch = new OffscreenCanvas(width, height);
    live.scratchCtx = live.scratch.getContext("2d", { willReadFrequently: true });
    live.out = new OffscreenCanvas(width, height);
    live.outCtx = live.out.getContext("2d");
    live.after = new ImageData(width, height);
    live.shown = new ImageData(width, height);
  }
}

/** One live frame: the camera bitmap (already at the working size) translated, at `strength`,
 *  into a new bitmap that the page shows without copying it. */
async function liveFrame({ direction, bitmap, width, height, strength }) {
  const t0 = performance.now();
  liveBuffers(width, height);
  live.scratchCtx.drawImage(bitmap, 0, 0, width, height);
  bitmap.close();
  const before = live.scratchCtx.getImageData(0, 0, width, height).data;
  const t1 = performance.now();
  const t = await translatorFor(direction);
  const input = rgbaToPaddedRgb(before, width, height); // live sizes are multiples of 4: no padding
  const t2 = performance.now();
  const out = await t.run(input.data, input.width, input.height);
  const t3 = performance.now();
  liveBuffers(width, height); // a frame of another size may have come in meanwhile
  paddedRgbToRgba(out.rgb, input.width, width, height, live.after.data);
  blendRgba(before, live.after.data, strength, live.shown.data);
  const t4 = performance.now();
  live.outCtx.putImageData(live.shown, 0, 0);
  const frame = live.out.transferToImageBitmap();
  // where a frame's time goes in the worker (ms): pixels read from the bitmap, the model's input
  // made, the model (its own `ms`: the session's run), the output cropped and blended, drawn
  const stages = { read: t1 - t0, input: t2 - t1, model: t3 - t2, output: t4 - t3, draw: performance.now() - t4 };
  return { result: { bitmap: frame, ms: out.ms, stages }, transfer: [frame] };
}

let photo = null; // the full-size photo's pieces for composeFull, kept for strength changes

/** The full-size photo's pixels (RGBA, transparency over white like the page's canvases). */
function photoPixels(bitmap) {
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(bitmap, 0, 0);
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  canvas.width = 0; // release the canvas's own copy at once
  canvas.height = 0;
  return data;
}

function compose({ strength }) {
  if (!photo) throw new Error("no photo to compose");
  const out = composeFull(photo, strength);
  return { result: { rgba: out.buffer, width: photo.W, height: photo.H }, transfer: [out.buffer] };
}

const handlers = {
  async load({ direction, url, modelCache, threads, backend }) {
    const t = await translatorFor(direction, url, modelCache, threads, backend);
    return { backend: t.backend, threads: t.threads, fallbackReason: t.fallbackReason || "" };
  },
  measure: measureEngines,
  async run({ direction, rgba, width, height }) {
    const out = await translateRgba(direction, new Uint8ClampedArray(rgba), width, height);
    return { result: { rgba: out.rgba.buffer, ms: out.ms }, transfer: [out.rgba.buffer] };
  },
  frame: liveFrame,
  fullres({ bitmap, before, after, width, height, residual, strength }) {
    photo = null; // the previous photo's pixels go first
    const W = bitmap.width;
    const H = bitmap.height;
    const pixels = residual ? photoPixels(bitmap) : null; // an upscaled result needs only the size
    bitmap.close();
    photo = { photo: pixels, before: new Uint8ClampedArray(before), after: new Uint8ClampedArray(after),
              w: width, h: height, W, H, residual };
    return compose({ strength });
  },
  compose,
  forget() {
    photo = null;
    return {};
  },
};

self.onmessage = async ({ data }) => {
  try {
    const answer = await handlers[data.type](data);
    const { result = answer, transfer = [] } = answer.transfer ? answer : { result: answer };
    self.postMessage({ id: data.id, ok: true, ...result }, transfer);
  } catch (e) {
    self.postMessage({ id: data.id, ok: false, error: (e && (e.message || String(e))) || "unknown error" });
  }
};

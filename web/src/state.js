// The page's state, in one object: what is loaded, what is on screen, what runs now. The modules
// that change it (model.js: the model and its engine; photo.js: a photo's translation; live.js:
// the live camera) import it, so each field has one place to live and one documented meaning.
//
// For tests, it is also window.pocketgan (tests/test_app_browser.py reads state.working).

export const state = {
  // ---- the model and the engine that runs it (model.js)
  /** api/model's card: directions, model URLs and hashes, generators, limits. */
  card: null,
  /** The Engine (engine.js): the inference workers. */
  engine: null,
  /** The engine choice (choose.js): { backend: "webgpu"|"wasm", how, why, adapter, measured }. */
  choice: null,
  /** Each direction in words ("summer → winter"), from the card. */
  labels: { AtoB: "A → B", BtoA: "B → A" },
  /** ms per pixel of the last run on this device, for the progress bar's estimate. */
  msPerPixel: 0,

  // ---- the photo (photo.js)
  /** Bumped by every new photo, cancel and live start: a result of an older generation is stale. */
  generation: 0,
  /** { blob, name } of the last photo, translated again when an option changes. */
  lastPhoto: null,
  /** The photo on screen: { before, after: RGBA at the working size (after at strength 1), full:
   *  null, or { width, height } when the worker composes the full-size result }; null when none. */
  shown: null,
  /** What is on screen, for the saved file's name and type: { name, direction, jpeg }. */
  current: { name: "photo", direction: "AtoB", jpeg: false },
  /** The network's input and output of the photo on screen, { width, height, before, after }
   *  (RGBA at the working size), for tests; null when none. */
  working: null,
  /** The progress bar's timer while a photo translates (null otherwise). */
  progressTimer: null,
  /** Aborts the server request of the photo translating on the server. */
  abortServer: null,
  /** A full-size re-compose at another strength is in flight / the slider moved meanwhile. */
  composing: false,
  composeAgain: false,
  /** A strength blend is waiting for the next animation frame. */
  blendQueued: false,

  // ---- the live camera (live.js)
  /** The running live session (see live.js startLive), or null. */
  live: null,
};

/** Start a new generation (a new photo, a cancel, live): results still on their way become stale.
 *  Returns the new generation, to compare with `isCurrent` when they land. */
export function nextGeneration() {
  return ++state.generation;
}

/** True while nothing newer than `generation` has started. */
export const isCurrent = (generation) => generation === state.generation;

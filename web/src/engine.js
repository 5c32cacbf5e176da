// The page's side of the inference workers (worker.js): requests as promises, and cancel.
//
// Photos run in one worker, and so do live frames by default. Live frames can also be spread over
// several workers ("lanes", ?workers=N), each with its own model session: frames are independent,
// so lanes need none of the per-layer waits of one session's threads. Measured on 2 shared cores
// (benchmarks/web_live_fps.py --workers 1|2, interleaved): one lane 12.9-13.9 fps, two 10.9-11.9,
// so one is the default.
//
// Cancelling ends the workers: a model run cannot be interrupted from outside, and a photo that
// takes seconds must stop at once. A fresh worker is started for the next request and loads the
// model again (from the Cache Storage or the browser's cache: no new download).

export class Cancelled extends Error {
  constructor() {
    super("cancelled");
    this.name = "Cancelled";
  }
}

/** One worker and the requests waiting on it. */
class Lane {
  constructor(engine) {
    this.engine = engine;
    this.worker = null;
    this.pending = new Map(); // id -> { resolve, reject }
    this.nextId = 1;
    this.loads = new Map(); // direction -> Promise<{ backend, threads }> in the current worker
    this.busy = 0; // requests in flight
  }

  ensureWorker() {
    if (!this.worker) {
      this.worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
      this.worker.onmessage = ({ data }) => this.settle(data);
      this.worker.onerror = (e) => this.failAll(new Error(`the inference worker failed: ${e.message || "script error"}`));
    }
    return this.worker;
  }

  settle(data) {
    const waiter = this.pending.get(data.id);
    if (!waiter) return;
    this.pending.delete(data.id);
    if (data.ok) waiter.resolve(data);
    else waiter.reject(new Error(data.error));
  }

  failAll(error) {
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
    this.worker?.terminate();
    this.worker = null;
    this.loads.clear();
  }

  call(type, payload = {}, transfer = []) {
    const worker = this.ensureWorker();
    const id = this.nextId++;
    this.busy++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ ...payload, type, id }, transfer);
    }).finally(() => this.busy--);
  }

  load(direction) {
    if (!this.loads.has(direction)) {
      const url = this.engine.urls.get(direction);
      const { modelCache, threads, backend } = this.engine;
      const promise = this.call("load", { direction, url, modelCache, threads, backend });
      promise.catch(() => this.loads.delete(direction));
      this.loads.set(direction, promise);
    }
    return this.loads.get(direction);
  }
}

export class Engine {
  constructor(modelCache, { threads = 0, liveWorkers = 0 } = {}) {
    this.modelCache = modelCache;
    this.threads = threads; // WebAssembly threads per worker; 0 = the runtime's choice
    this.backend = "wasm"; // "webgpu" or "wasm": set by the engine choice (choose.js) before any load
    this.measuring = null; // the Lane timing the engines, while it does
    this.urls = new Map(); // direction -> model URL
    this.lanes = [new Lane(this)];
    this.liveLanes = liveWorkers >= 1 && liveWorkers <= 4 ? liveWorkers : 1;
    this.readyLanes = new Map(); // direction -> Set<Lane> whose model is loaded
  }

  /** Time the engines on the model at `url` (measure.js) in a worker of its own, ended afterwards:
   *  an abandoned slow run stops with it, and the runtime that lost takes its memory along. */
  async measure(url, webgpu) {
    const lane = new Lane(this);
    this.measuring = lane;
    try {
      return await lane.call("measure", { url, modelCache: this.modelCache, threads: this.threads, webgpu });
    } finally {
      lane.failAll(new Cancelled());
      if (this.measuring === lane) this.measuring = null;
    }
  }

  /** Load the model of `direction` in the photo worker; resolves to { backend, threads, fallbackReason }. */
  load(direction, url = this.urls.get(direction)) {
    this.urls.set(direction, url);
    return this.lanes[0].load(direction);
  }

  /** Translate RGBA pixels (an ArrayBuffer, transferred) -> { rgba: Uint8ClampedArray, ms }. */
  async run(direction, rgba, width, height) {
    await this.load(direction);
    const out = await this.lanes[0].call("run", { direction, rgba, width, height }, [rgba]);
    return { rgba: new Uint8ClampedArray(out.rgba), ms: out.ms };
  }

  /** The full-size result of a photo translated at the working size (see imaging.js composeFull):
   *  `bitmap` (the photo, transferred), `before`/`after` (RGBA at the working size `width`×`height`,
   *  copied) -> { rgba: Uint8ClampedArray, width, height }. Runs in the photo worker, which keeps
   *  the photo for `compose` at another strength. */
  async fullres(bitmap, before, after, width, height, residual, strength) {
    const out = await this.lanes[0].call("fullres", { bitmap, before, after, width, height, residual, strength }, [bitmap]);
    return { rgba: new Uint8ClampedArray(out.rgba), width: out.width, height: out.height };
  }

  /** The kept photo's full-size result at another strength. */
  async compose(strength) {
    const out = await this.lanes[0].call("compose", { strength });
    return { rgba: new Uint8ClampedArray(out.rgba), width: out.width, height: out.height };
  }

  /** Drop the kept full-size photo (its memory), if the worker holds one. */
  forget() {
    if (this.lanes[0].worker) this.lanes[0].call("forget").catch(() => {});
  }

  /** Get the live lanes ready for `direction`: the photo worker now, any others in the background. */
  async startLive(direction) {
    while (this.lanes.length < this.liveLanes) this.lanes.push(new Lane(this));
    const ready = new Set();
    this.readyLanes.set(direction, ready);
    const loading = this.lanes.map((lane) => lane.load(direction).then(() => ready.add(lane)));
    await loading[0];
    loading.slice(1).forEach((p) => p.catch(() => { /* one lane is enough */ }));
  }

  /** How many workers translate live frames of `direction` now. */
  liveWorkers(direction) {
    return this.readyLanes.get(direction)?.size ?? 0;
  }

  /** True when a live lane could take another frame now (at most one waiting behind each run). */
  canTakeFrame(direction) {
    return [...(this.readyLanes.get(direction) || [])].some((lane) => lane.busy < 2);
  }

  /** Translate one live frame (an ImageBitmap at the working size, transferred) on the least busy
   *  ready lane -> { bitmap: ImageBitmap, ms }. */
  frame(direction, bitmap, width, height, strength) {
    const lanes = [...(this.readyLanes.get(direction) || [])];
    if (!lanes.length) return Promise.reject(new Error(`the ${direction} model is not loaded`));
    const lane = lanes.reduce((a, b) => (b.busy < a.busy ? b : a));
    return lane.call("frame", { direction, bitmap, width, height, strength }, [bitmap]);
  }

  /** Stop whatever runs now: every pending request rejects with Cancelled. */
  cancel() {
    const cancelled = new Cancelled();
    this.lanes.forEach((lane) => lane.failAll(cancelled));
    this.measuring?.failAll(cancelled);
    this.readyLanes.clear();
  }
}

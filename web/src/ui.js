// The page's elements and its status line, shared by the modules that change what is on screen
// (photo.js, live.js, model.js) and app.js, which wires their events.

const $ = (id) => document.getElementById(id);

/** The elements the app reads and changes, by what they are for (ids in index.html). */
export const ui = {
  status: $("status"), progress: $("progress"), progressBar: $("progress-bar"), cancel: $("cancel"),
  take: $("take"), file: $("file"), camera: $("camera"), livePanel: $("live-panel"), liveView: $("live-view"),
  video: $("video"), fps: $("fps"), snapshot: $("snapshot"), liveOriginal: $("live-original"), liveStop: $("live-stop"),
  direction: $("direction"), strength: $("strength"), strengthValue: $("strength-value"), maxSide: $("max-side"),
  liveSize: $("live-size"), onServer: $("on-server"), result: $("result"), compare: $("compare"), before: $("before"),
  after: $("after"), slider: $("slider"), timing: $("timing"), download: $("download"), share: $("share"), engine: $("engine"),
  modelInfo: $("model-info"),
};

/** Say `message` in the status line; `kind` (data-state: loading, ready, working, done, live,
 *  cancelled, error) is what the tests and the styles key on. */
export function setStatus(message, kind = "info") {
  ui.status.textContent = message;
  ui.status.className = `status ${kind === "error" ? "error" : ""}`.trim();
  ui.status.dataset.state = kind;
}

export function errorText(e) {
  return (e && (e.message || String(e))) || "unknown error";
}

/** The strength slider's value: 0 = the photo, 1 = the model's result, above 1 = more of its change. */
export const strength = () => Number(ui.strength.value);

export const READY = "Ready. Take or choose a photo, or go live.";

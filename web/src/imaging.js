// Pixel plumbing between canvases and the ONNX graph, kept free of DOM state so it is easy to check.
//
// The exported graph takes and returns uint8 RGB NHWC images whose sides are multiples of 4. Like
// pocketgan's Python pipeline, an image is reflect-padded on the right/bottom up to the next multiple
// (and to at least 16 px, so the network's own reflection pads fit), translated, then cropped back:
// the same input gives the same output in the browser and in `pocketgan translate`.

export const SIZE_MULTIPLE = 4;
export const MIN_SIDE = 16;

/** Size an image of `width`×`height` is translated at: unchanged, or scaled so its longer side is `maxSide` (0 = no limit). */
export function fitSize(width, height, maxSide) {
  if (!maxSide || Math.max(width, height) <= maxSide) return { width, height, scaled: false };
  const s = maxSide / Math.max(width, height);
  return { width: Math.max(1, Math.round(width * s)), height: Math.max(1, Math.round(height * s)), scaled: true };
}

/** Padded size for `width`×`height`: the next multiple of 4, at least 16 px. */
export function paddedSize(width, height) {
  const up = (v) => Math.max(v + ((SIZE_MULTIPLE - (v % SIZE_MULTIPLE)) % SIZE_MULTIPLE), MIN_SIDE);
  return { width: up(width), height: up(height) };
}

// Index of the source column/row for padded position `i` (reflect without repeating the edge, like
// numpy's and PyTorch's "reflect"; "replicate" for images too small to reflect).
function sourceIndex(i, n, reflect) {
  if (i < n) return i;
  return reflect ? 2 * (n - 1) - i : n - 1;
}

/** Canvas RGBA bytes -> the network's input in one pass: packed RGB, padded on the right and bottom
 *  to `paddedSize` (alpha dropped: the canvas was filled white before drawing). Returns
 *  { data, width, height }. One pass and one buffer, since this runs for every live frame. */
export function rgbaToPaddedRgb(rgba, width, height) {
  const out = paddedSize(width, height);
  // reflect needs the pad to be shorter than the side, as in the Python pipeline
  const reflect = out.width - width < width && out.height - height < height;
  const data = new Uint8Array(out.width * out.height * 3);
  let d = 0;
  for (let y = 0; y < out.height; y++) {
    const row = sourceIndex(y, height, reflect) * width;
    for (let x = 0; x < width; x++, d += 3) {
      const s = (row + x) * 4;
      data[d] = rgba[s];
      data[d + 1] = rgba[s + 1];
      data[d + 2] = rgba[s + 2];
    }
    for (let x = width; x < out.width; x++, d += 3) {
      const s = (row + sourceIndex(x, width, reflect)) * 4;
      data[d] = rgba[s];
      data[d + 1] = rgba[s + 1];
      data[d + 2] = rgba[s + 2];
    }
  }
  return { data, width: out.width, height: out.height };
}

/** The network's packed RGB output (`fullWidth` wide, padded) -> opaque RGBA of its top-left
 *  `width`×`height`, in one pass (`out`: an RGBA buffer to fill, e.g. an ImageData's). */
export function paddedRgbToRgba(rgb, fullWidth, width, height, out = new Uint8ClampedArray(width * height * 4)) {
  let d = 0;
  for (let y = 0; y < height; y++) {
    let s = y * fullWidth * 3;
    for (let x = 0; x < width; x++, s += 3, d += 4) {
      out[d] = rgb[s];
      out[d + 1] = rgb[s + 1];
      out[d + 2] = rgb[s + 2];
      out[d + 3] = 255;
    }
  }
  return out;
}

/** The strength rule of pocketgan's exported files (see pocketgan/inference/runners.py): the
 *  translation `after` blended with the photo `before` (both RGBA), `clamp(x + s·(y − x))`, into
 *  `out`. s = 1 is the model as trained, 0 the photo, above 1 exaggerates. For a residual model
 *  (y = clamp(x + change)) this scales its change, except where its own clamp cut the change off. */
export function blendRgba(before, after, s, out = new Uint8ClampedArray(after.length)) {
  if (s === 1) {
    out.set(after);
    return out;
  }
  for (let i = 0; i < after.length; i += 4) {
    out[i] = before[i] + s * (after[i] - before[i]); // Uint8ClampedArray rounds and clamps
    out[i + 1] = before[i + 1] + s * (after[i + 1] - before[i + 1]);
    out[i + 2] = before[i + 2] + s * (after[i + 2] - before[i + 2]);
    out[i + 3] = 255;
  }
  return out;
}

/** Live working size: the frame scaled so its longer side is `side`, both sides multiples of 4
 *  (the network's stride: no padding, no crop per frame). */
export function liveSize(width, height, side) {
  const s = Math.min(1, side / Math.max(width, height));
  const snap = (v) => Math.max(MIN_SIDE, Math.round((v * s) / SIZE_MULTIPLE) * SIZE_MULTIPLE);
  return { width: snap(width), height: snap(height) };
}

const HEIF = /\.(heic|heif)$/i;

/** True for HEIC/HEIF photos (iPhone default), which most browsers other than Safari cannot decode. */
export function isHeif(file) {
  return /^image\/hei[cf]/i.test(file.type || "") || HEIF.test(file.name || "");
}

/** Human-readable size, e.g. "4032×3024". */
export function sizeText(width, height) {
  return `${width}×${height}`;
}

// ---------------------------------------------------------------- full-resolution results
//
// A photo larger than the working size is translated at the working size; its result at the photo's
// own size is made like pocketgan's Python side (pocketgan/inference/fullres.py, bilinear mode): a
// residual model's change (translated − input, at the working size) is upsampled bilinearly and added
// to the full-size photo at the strength, `clamp(X + S·up(y − x))`, so the photo keeps its own detail;
// any other model's result (blended at the strength) is upscaled.

/** Bilinear sampling along one axis with half-pixel centres (PyTorch's align_corners=False, as in
 *  fullres.py): for each output index the two input indices and the weight of the second. */
export function axisWeights(nIn, nOut) {
  const i0 = new Int32Array(nOut);
  const i1 = new Int32Array(nOut);
  const w = new Float32Array(nOut);
  const scale = nIn / nOut;
  for (let i = 0; i < nOut; i++) {
    const pos = Math.min(Math.max((i + 0.5) * scale - 0.5, 0), nIn - 1);
    const a = Math.floor(pos);
    i0[i] = a;
    i1[i] = Math.min(a + 1, nIn - 1);
    w[i] = pos - a;
  }
  return { i0, i1, w };
}

/** `maps` (packed RGB floats, `w`×`h`) upsampled bilinearly to `W`×`H` and added to `base` (RGBA,
 *  `W`×`H`; null = added to 0), rounded and clamped into `out` (RGBA, alpha 255). One row of
 *  floats at a time: no full-size float buffer. */
export function upsampleAdd(maps, w, h, base, W, H, out) {
  const rows = axisWeights(h, H);
  const cols = axisWeights(w, W);
  const c0 = cols.i0.map((i) => 3 * i); // to channel offsets once
  const c1 = cols.i1.map((i) => 3 * i);
  const cw = cols.w;
  const row = new Float32Array(3 * w);
  for (let y = 0; y < H; y++) {
    const a = rows.i0[y] * 3 * w;
    const b = rows.i1[y] * 3 * w;
    const t = rows.w[y];
    for (let i = 0; i < 3 * w; i++) row[i] = maps[a + i] * (1 - t) + maps[b + i] * t;
    let d = y * W * 4;
    for (let x = 0; x < W; x++, d += 4) {
      const p = c0[x];
      const q = c1[x];
      const u = cw[x];
      const v = 1 - u;
      // Uint8ClampedArray rounds half to even and clamps, as torch's round_().clamp_() does
      out[d] = (base ? base[d] : 0) + (row[p] * v + row[q] * u);
      out[d + 1] = (base ? base[d + 1] : 0) + (row[p + 1] * v + row[q + 1] * u);
      out[d + 2] = (base ? base[d + 2] : 0) + (row[p + 2] * v + row[q + 2] * u);
      out[d + 3] = 255;
    }
  }
  return out;
}

/** The full-size result: `photo` (RGBA at `W`×`H`, needed for residual models), `before`/`after`
 *  (RGBA at the working size `w`×`h`: the network's input and output), `s` the strength.
 *  Residual: `clamp(X + s·up(after − before))`; otherwise up(clamp(before + s·(after − before))). */
export function composeFull({ photo, before, after, w, h, W, H, residual }, s, out = new Uint8ClampedArray(W * H * 4)) {
  const maps = new Float32Array(3 * w * h);
  const blended = residual ? null : blendRgba(before, after, s);
  for (let i = 0, j = 0; j < maps.length; i += 4, j += 3) {
    for (let c = 0; c < 3; c++) maps[j + c] = residual ? s * (after[i + c] - before[i + c]) : blended[i + c];
  }
  return upsampleAdd(maps, w, h, residual ? photo : null, W, H, out);
}

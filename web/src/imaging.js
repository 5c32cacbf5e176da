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

/** Canvas RGBA bytes -> packed RGB bytes (alpha is dropped: the canvas was filled white before drawing). */
export function rgbaToRgb(rgba, width, height) {
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    rgb[i] = rgba[j];
    rgb[i + 1] = rgba[j + 1];
    rgb[i + 2] = rgba[j + 2];
  }
  return rgb;
}

/** Packed RGB bytes -> opaque RGBA bytes for ImageData. */
export function rgbToRgba(rgb, width, height) {
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let i = 0, j = 0; j < rgba.length; i += 3, j += 4) {
    rgba[j] = rgb[i];
    rgba[j + 1] = rgb[i + 1];
    rgba[j + 2] = rgb[i + 2];
    rgba[j + 3] = 255;
  }
  return rgba;
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

/** Pad packed RGB on the right and bottom to `paddedSize`; returns { data, width, height }. */
export function padRgb(rgb, width, height) {
  const out = paddedSize(width, height);
  if (out.width === width && out.height === height) return { data: rgb, width, height };
  // reflect needs the pad to be shorter than the side, as in the Python pipeline
  const reflect = out.width - width < width && out.height - height < height;
  const data = new Uint8Array(out.width * out.height * 3);
  for (let y = 0; y < out.height; y++) {
    const sy = sourceIndex(y, height, reflect);
    for (let x = 0; x < out.width; x++) {
      const s = (sy * width + sourceIndex(x, width, reflect)) * 3;
      const d = (y * out.width + x) * 3;
      data[d] = rgb[s];
      data[d + 1] = rgb[s + 1];
      data[d + 2] = rgb[s + 2];
    }
  }
  return { data, width: out.width, height: out.height };
}

/** Top-left `width`×`height` of a packed RGB image `fullWidth` wide. */
export function cropRgb(rgb, fullWidth, width, height) {
  if (fullWidth === width && rgb.length === width * height * 3) return rgb;
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    out.set(rgb.subarray(y * fullWidth * 3, (y * fullWidth + width) * 3), y * width * 3);
  }
  return out;
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

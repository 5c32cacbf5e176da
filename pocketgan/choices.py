"""The option values pocketgan accepts, defined once and torch-free.

The modules that implement each choice import their tuple from here (and validate with it), the
config and the CLI offer the same tuple: one list, so the two cannot drift, and parsing a
command line never imports torch.
"""
from __future__ import annotations

# every registered generator architecture (models/registry.py refuses a name not listed here), so a
# model's config.json is checked without importing torch (models/config.py)
GENERATORS = ("resnet_9blocks", "resnet_6blocks", "unet_128", "unet_256", "mobile_resnet_9blocks",
              "mobile_resnet_6blocks", "cut_resnet_9blocks", "cut_resnet_6blocks", "colorize_unet_256",
              "colorize_unet_128", "colorize_unet_64")
# the architectures whose generators predict a change to their input, clamp(x + delta), when built
# with residual=True: strength scales that change, and it is added to the full-size photo
CHANGE_PREDICTING = ("mobile_resnet_9blocks", "mobile_resnet_6blocks")
GAN_MODES = ("lsgan", "vanilla", "hinge")                 # models/losses.py
NORMS = ("instance", "batch", "none")                      # models/layers.py
INIT_TYPES = ("normal", "xavier", "kaiming", "orthogonal")  # models/layers.py
PREPROCESS_MODES = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")  # data/transforms.py
IMAGE_FORMATS = ("png", "jpg")                             # inference/translate.py
EVAL_CONVENTIONS = ("clean", "pytorch-fid")                # evaluation/inception.py
EXPORT_FORMATS = ("onnx", "tflite")                        # export/exporter.py
QUANTIZE_MODES = ("fp16", "int8")                          # export/exporter.py
BENCHMARK_FORMATS = ("pytorch", "onnx", "tflite", "browser")  # evaluation/benchmark.py
BENCHMARK_PRECISIONS = ("fp32", *QUANTIZE_MODES)            # evaluation/benchmark.py
DIFFAUGMENT_POLICIES = ("color", "translation", "cutout")   # training/augment.py
LOGGERS = ("tensorboard", "mlflow")   # experiment trackers of `train --logger` (training/tracking.py)

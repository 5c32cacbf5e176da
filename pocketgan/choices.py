"""The option values pocketgan accepts, defined once and torch-free.

The modules that implement each choice import their tuple from here (and validate with it), the
config and the CLI offer the same tuple: one list, so the two cannot drift, and parsing a
command line never imports torch.
"""
from __future__ import annotations

GAN_MODES = ("lsgan", "vanilla", "hinge")                 # models/losses.py
NORMS = ("instance", "batch", "none")                      # models/layers.py
INIT_TYPES = ("normal", "xavier", "kaiming", "orthogonal")  # models/layers.py
PREPROCESS_MODES = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")  # data/transforms.py
IMAGE_FORMATS = ("png", "jpg")                             # inference/translate.py
EVAL_CONVENTIONS = ("clean", "pytorch-fid")                # evaluation/inception.py
EXPORT_FORMATS = ("onnx", "tflite")                        # export/exporter.py
QUANTIZE_MODES = ("fp16", "int8")                          # export/exporter.py
DIFFAUGMENT_POLICIES = ("color", "translation", "cutout")   # training/augment.py
LOGGERS = ("tensorboard", "mlflow")   # experiment trackers of `train --logger` (training/tracking.py)

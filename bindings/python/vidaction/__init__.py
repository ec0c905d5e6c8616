"""libvidaction's Python side.

vidaction.convert turns torchvision, ig65m-pytorch and VMZ (Caffe2) checkpoints
into libvidaction model files (safetensors); see `python -m vidaction.convert -h`.
Importing this package needs neither PyTorch nor the C library.
"""

__version__ = "0.2.0"

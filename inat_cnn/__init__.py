"""inat-cnn: W&B sweep-driven hyperparameter search for image CNNs."""

import os

# Quiet TensorFlow's C++ logging unless the user asked for it (`inat-cnn -v` undoes what we set here).
TF_LOG_LEVEL_FROM_USER = "TF_CPP_MIN_LOG_LEVEL" in os.environ
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

"""Getting files onto a machine: the dataset archive (`data fetch`) and ImageNet weights from a mirror."""

from .dataset import DEFAULT_URL, Fetched, fetch_dataset
from .http import Downloaded, download
from .unzip import Limits

__all__ = ["DEFAULT_URL", "Downloaded", "Fetched", "Limits", "download", "fetch_dataset"]

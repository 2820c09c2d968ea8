"""Imported by the decode pool's fork server (see test_faults): every worker it forks decodes slowly
and leaves a file named by its pid in $SLOW_DECODING_DIR once it has started decoding."""

import os
import time

from inat_cnn.data import cache

_decode = cache.decode_image


def _slow_decode(path, size, resize="squash"):
    open(os.path.join(os.environ["SLOW_DECODING_DIR"], str(os.getpid())), "a").close()
    time.sleep(0.25)
    return _decode(path, size, resize)


cache.decode_image = _slow_decode

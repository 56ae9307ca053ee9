"""Library notices that are noise for this worker, silenced before those libraries are first imported.

transformers announces at every start that the CLIP and SigLIP image processors fall back to Pillow when
torchvision is absent; FLUX.1 never uses an image processor, so the notice says nothing about this worker.
"""

from __future__ import annotations

import logging


class DropNotice(logging.Filter):
    def __init__(self, fragment: str) -> None:
        super().__init__()
        self.fragment = fragment

    def filter(self, record: logging.LogRecord) -> bool:
        return self.fragment not in record.getMessage()


logging.getLogger("transformers.utils.import_utils").addFilter(DropNotice("requires torchvision (not installed)"))

"""Reads TensorBoard event files with TensorBoard's own reader and prints their scalars
as JSON: {"tag": [[step, value], ...], ...}. Used by TensorBoardTests.

    python3 read_events.py EVENT_DIRECTORY
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

accumulator = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
accumulator.Reload()
out = {tag: [[event.step, event.value] for event in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]}
print(json.dumps(out, sort_keys=True))

"""The default demo of ``counterwatch up``: two looping clips cut from the CC BY 4.0 Intel IoT sample video
``one-by-one-person-detection.mp4`` (see ATTRIBUTION.md), each with its scenario file (windows, zones, demo
thresholds and the ground truth the scenario bench scores)."""

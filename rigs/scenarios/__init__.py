"""Scenario clips with ground truth, and the event-level bench that scores the whole system on them.

    spec.py    a scenario file (config/scenarios/*.yaml): how its clip is cut from real footage, the
               windows and their zones, demo thresholds, and the ground-truth events
    match.py   pure: emitted events against the truth, per rule (TP / FP / FN, start error, latency)
    build.py   renders a scenario's clip from the real source clips (``python -m rigs.scenarios build``)
    bench.py   ``counterwatch bench scenarios``: each clip through the real edge, broker and ingest
    truth.py   phone_use truth read from the human labels of a frame sequence (labelled stills)
"""

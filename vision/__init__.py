"""The one vision core: what the edge, ``models evaluate``, the teacher and the benchmarks all call.

Letterbox (:mod:`vision.letterbox`), box arithmetic and NMS (:mod:`vision.boxes`), the batched ONNX detector
with decode (:mod:`vision.detector`), the taxonomy (:mod:`vision.taxonomy`, importable without any ML
runtime), model identity (:mod:`vision.identity`) and the second-stage sign verifier (:mod:`vision.verifier`).
numpy, OpenCV and onnxruntime only: no torch, no ultralytics, no training code.
"""

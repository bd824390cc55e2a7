"""The peer of ``counterwatch bench edge --peer ultralytics``: Ultralytics' own predict pipeline doing the
edge's detection job on the same frames with the same model (every sampled frame, its window crops in one
predict call), timed in CPU seconds of this whole process (all of torch's and onnxruntime's threads).

Run only as a script by the training venv's python (``.[train]``): the edge runtime never imports
ultralytics. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--video", required=True)
    parser.add_argument("--step", type=int, required=True, help="keep every step-th decoded frame")
    parser.add_argument("--frames", type=int, required=True, help="sampled frames to time (after one warm-up)")
    parser.add_argument("--rects", required=True, help="JSON list of [x1, y1, x2, y2] window crops")
    parser.add_argument("--imgsz", type=int, required=True)
    parser.add_argument("--conf", type=float, required=True)
    parser.add_argument("--iou", type=float, required=True)
    args = parser.parse_args()

    import cv2
    from ultralytics import YOLO  # the train extra only

    rects = [tuple(int(v) for v in r) for r in json.loads(args.rects)]
    model = YOLO(args.model, task="detect")
    cap = cv2.VideoCapture(args.video)
    if not cap.isOpened():
        raise SystemExit(f"cannot open {args.video}")
    index, sampled, boxes = 0, 0, 0
    decode_s = predict_s = 0.0
    while sampled <= args.frames:
        t = time.process_time()
        ok = cap.grab()
        if not ok:
            break
        keep = index % args.step == 0
        index += 1
        image = cap.retrieve()[1] if keep else None
        decode_s += time.process_time() - t
        if image is None:
            continue
        crops = [image[y1:y2, x1:x2] for x1, y1, x2, y2 in rects]
        t = time.process_time()
        results = model.predict(crops, imgsz=args.imgsz, conf=args.conf, iou=args.iou, verbose=False)
        if sampled > 0:  # the first frame warms the session up, as on the edge side
            predict_s += time.process_time() - t
            boxes += sum(len(r.boxes) for r in results)
        else:
            decode_s = 0.0
        sampled += 1
    timed = max(1, sampled - 1)
    print(json.dumps({
        "pipeline": "ultralytics YOLO(onnx).predict on the window crops of every sampled frame",
        "frames": timed, "crops_per_frame": len(rects),
        "decode_ms_per_frame": round(decode_s * 1000 / timed, 2),
        "predict_ms_per_frame": round(predict_s * 1000 / timed, 2),
        "ms_per_frame": round((decode_s + predict_s) * 1000 / timed, 2),
        "frames_per_s_per_core": round(timed / max(1e-9, decode_s + predict_s), 3),
        "boxes": boxes,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Evidence: a bounded pre-roll of recent frames per camera, clips (H.264 MP4) and snapshots (JPEG)."""

from edge.evidence.clip import write_mp4
from edge.evidence.recorder import EvidenceReady, EvidenceRecorder, annotate, blur_customer_heads

__all__ = ["EvidenceReady", "EvidenceRecorder", "annotate", "blur_customer_heads", "write_mp4"]

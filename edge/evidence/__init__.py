"""Evidence: a bounded pre-roll of recent frames per camera, clips (H.264 MP4) and snapshots (JPEG)."""

from edge.evidence.clip import write_mp4
from edge.evidence.recorder import EvidenceRecorder, annotate, blur_customer_heads
from edge.evidence.spool import ClipJob, EvidenceReady, RecoveryReport, recover

__all__ = ["ClipJob", "EvidenceReady", "EvidenceRecorder", "RecoveryReport", "annotate", "blur_customer_heads",
           "recover", "write_mp4"]

"""Where evidence files live (behind :class:`EvidenceStore`)."""

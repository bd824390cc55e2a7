"""Where evidence files live (behind :class:`EvidenceStore`): the local filesystem, or an S3-compatible
bucket when the dashboard scales out (``evidence_store: s3``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dashboard.storage.evidence import EvidenceStore, LocalEvidenceStore

if TYPE_CHECKING:
    from dashboard.settings import DashboardSettings


def open_evidence_store(settings: DashboardSettings) -> EvidenceStore:
    if settings.evidence_store == "s3":
        from dashboard.storage.s3 import S3EvidenceStore  # boto3 only where it is used

        return S3EvidenceStore(settings.s3, settings.state_dir / "evidence-staging")
    return LocalEvidenceStore(settings.evidence_dir)

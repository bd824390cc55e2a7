"""Crash-safe clips: a durable job record per clip beside its frame log, and recovery at start.

A clip is recorded for seconds after its event started, then encoded and handed to the outbox; an edge
killed in between must neither lose the clip silently nor upload half a file. So each clip has, in
``<camera evidence dir>/spool/``:

* ``<evidence id>.json``: the job record (the event as sent with its start, fps, whether the recording
  was closed cleanly, and the uploadable clip's reference once it exists), replaced atomically;
* ``<evidence id>.frames``: the recording, a frame log (:class:`edge.evidence.clip.FrameLog`) whose
  complete frames survive a kill.

Both go once the event message carrying the clip is in the outbox. Whatever is left at start is finished
by :func:`recover`: a finished clip is handed to the outbox again (idempotent by evidence id), a cut-short
recording is encoded to a playable MP4 and flagged ``clip_status: truncated`` on its event, and a recording
with no complete frame is reported ``clip_status: lost`` (and counted) rather than silently missing.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from broker.payloads import EventMessage, EvidenceRef
from edge.evidence.clip import ClipError, encode_frame_log

log = logging.getLogger(__name__)

ClipStatus = Literal["complete", "truncated", "lost"]


class ClipJob(BaseModel):
    model_config = ConfigDict(extra="forbid")

    evidence_id: str
    event: EventMessage  # as sent with its start (snapshot included): re-sent with the clip after a restart
    fps: float
    created_at: datetime
    recorded: bool = False  # the recording was closed normally: nothing of it was cut short
    ref: EvidenceRef | None = None  # the uploadable MP4 exists (and is or is about to be in the outbox)


@dataclass(frozen=True)
class EvidenceReady:
    event_id: str
    ref: EvidenceRef
    path: Path
    job: ClipJob | None = None  # clips: their spool job, released once the event message carries them


class ClipSpool:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        # Owner-only: recordings and job records of people at work. The directory's 0700 also covers the
        # frame logs the recorder writes with the process umask.
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(directory, 0o700)

    def record(self, evidence_id: str) -> Path:
        return self.dir / f"{evidence_id}.json"

    def frame_log(self, job: ClipJob) -> Path:
        return self.dir / f"{job.evidence_id}.frames"

    def save(self, job: ClipJob) -> None:
        """Replace the job record atomically and durably (a kill leaves the old or the new one)."""
        path = self.record(job.evidence_id)
        tmp = path.with_suffix(".json.tmp")
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
            f.write(job.model_dump_json().encode())
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def release(self, job: ClipJob) -> None:
        self.frame_log(job).unlink(missing_ok=True)
        self.record(job.evidence_id).unlink(missing_ok=True)


def finalise(job: ClipJob, spool: ClipSpool, out_dir: Path, *, same_as: EvidenceReady | None = None) -> EvidenceReady:
    """The recording -> the faststart MP4 that is uploaded; its reference is recorded in the job.
    ``same_as``: a clip already encoded from this very recording (events sent on one frame), copied
    under this clip's name instead of encoding the same frames again."""
    path = out_dir / f"{job.evidence_id}.mp4"
    if same_as is None:
        frames = encode_frame_log(spool.frame_log(job), path, job.fps)
    else:
        tmp = path.with_suffix(".part.mp4")
        shutil.copyfile(same_as.path, tmp)
        tmp.replace(path)
        frames = round((same_as.ref.duration_s or 0.0) * job.fps)
    os.chmod(path, 0o600)
    data = path.read_bytes()
    job.ref = EvidenceRef(kind="clip", id=job.evidence_id, sha256=hashlib.sha256(data).hexdigest(),
                          content_type="video/mp4", size=len(data), duration_s=round(frames / job.fps, 3))
    spool.save(job)
    return EvidenceReady(job.event.event_id, job.ref, path, job)


def resend(job: ClipJob, ref: EvidenceRef | None, status: ClipStatus) -> EventMessage:
    """The event's start message again, now carrying its clip (or saying it is lost). Same event id and
    seq: the reader only adds what its row lacks (the evidence, ``clip_status``) and changes nothing else."""
    event = job.event
    evidence = [*event.evidence, *([ref] if ref is not None and ref.id not in {r.id for r in event.evidence}
                                   else [])]
    details = dict(event.details) if status == "complete" else {**event.details, "clip_status": status}
    return event.model_copy(update={"evidence": evidence[-8:], "details": details})


@dataclass
class RecoveryReport:
    recovered: int = 0  # clips of an interrupted run handed to the outbox (truncated ones included)
    truncated: int = 0  # ... of which the recording was cut short by the kill
    lost: int = 0  # recordings with nothing playable left
    removed: list[Path] = field(default_factory=list)  # half-written files deleted


Deliver = Callable[[EvidenceReady | None, EventMessage], None]


def recover(evidence_dir: Path, deliver: Deliver) -> RecoveryReport:
    """Finish every clip job a previous run left behind. ``deliver(clip or None, message)`` must put the
    clip (when there is one and its file still exists) and then the message durably into the outbox; only
    then is the job released, so a kill during recovery just repeats it."""
    report = RecoveryReport()
    for spool_dir in sorted(evidence_dir.glob("*/spool")):
        out_dir = spool_dir.parent
        # Half-written files, and recordings of a version before frame logs (their jobs are reported lost).
        for junk in [*out_dir.glob("*.part.mp4"), *spool_dir.glob("*.tmp"), *spool_dir.glob("*.frag.mp4")]:
            junk.unlink(missing_ok=True)
            report.removed.append(junk)
        spool = ClipSpool(spool_dir)
        for record in sorted(spool_dir.glob("*.json")):
            try:
                job = ClipJob.model_validate_json(record.read_bytes())
            except (OSError, ValidationError) as exc:
                # Records are replaced atomically, so this is damage from outside; nothing to re-send.
                log.error("evidence spool: unreadable clip job %s (%s): clip lost", record.name, exc)
                report.lost += 1
                record.unlink(missing_ok=True)
                record.with_suffix(".frames").unlink(missing_ok=True)
                continue
            _recover_job(job, spool, out_dir, deliver, report)
    return report


def _recover_job(job: ClipJob, spool: ClipSpool, out_dir: Path, deliver: Deliver, report: RecoveryReport) -> None:
    status: ClipStatus = "complete" if job.recorded else "truncated"
    if job.ref is not None:  # finished before the kill: the clip went (or goes now) to the outbox
        path = out_dir / f"{job.evidence_id}.mp4"
        deliver(EvidenceReady(job.event.event_id, job.ref, path, job), resend(job, job.ref, "complete"))
        spool.release(job)
        report.recovered += 1
        log.info("evidence: clip %s of event %s finished before the restart; re-sent", job.evidence_id,
                 job.event.event_id)
        return
    try:
        ready = finalise(job, spool, out_dir)
    except (ClipError, OSError) as exc:
        log.error("evidence: clip %s of event %s could not be recovered after the restart (%s): "
                  "reported lost (clip_status=lost)", job.evidence_id, job.event.event_id, exc)
        deliver(None, resend(job, None, "lost"))
        spool.release(job)
        report.lost += 1
        return
    deliver(ready, resend(job, ready.ref, status))
    spool.release(job)
    report.recovered += 1
    if status == "truncated":
        report.truncated += 1
    log.warning("evidence: clip %s of event %s recovered after the restart: %s, %.1f s", job.evidence_id,
                job.event.event_id, status, ready.ref.duration_s or 0.0)

"""What a service refuses, independent of how the refusal is shown (HTTP status in the API, a page on the web)."""

from __future__ import annotations


class ServiceError(ValueError):
    """Base of every refusal; ``status_code`` is the HTTP answer the API gives."""

    status_code = 422


class NotFound(ServiceError):
    status_code = 404


class Forbidden(ServiceError):
    status_code = 403


class Conflict(ServiceError):
    """The record is not in a state that allows this (a decided leave decided again)."""

    status_code = 409


class Invalid(ServiceError):
    status_code = 422

"""Errors of the proxy server's API: each carries the HTTP status Toxiproxy would send."""

from __future__ import annotations

from chaoslib.errors import ChaosError


class ApiError(ChaosError):
    """An API failure with its status; rendered as ``{"error": message, "status": code}``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def bad_request(message: str) -> ApiError:
    return ApiError(message, 400)


def not_found(what: str) -> ApiError:
    return ApiError(f"{what} not found", 404)


def conflict(what: str) -> ApiError:
    return ApiError(f"{what} already exists", 409)

"""The HTTP API and dashboard of ``factory serve`` (see `factory.api.app.create_app`)."""

from factory.api.app import create_app

__all__ = ["create_app"]

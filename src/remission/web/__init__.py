"""The web application: FastAPI REST API under ``/api`` and server-rendered pages (Jinja2 + htmx).

``create_app(url)`` builds the app over a database; ``remission serve`` runs it with uvicorn.
"""

from remission.web.app import create_app

__all__ = ["create_app"]

"""gunicorn entry point: ``dsa_agent.wsgi:app``."""
from . import create_app

app = create_app()

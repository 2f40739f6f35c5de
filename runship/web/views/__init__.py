"""The app's views, one module per thing shown: each holds ``ui`` (the web
app's routes: its page and ``/ui/api``), ``v1`` (the read API of ``runship
serve``) or both, as FastAPI routers; ``runship.web.app`` puts them on an
app."""

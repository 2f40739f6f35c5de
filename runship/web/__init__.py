"""The web app: ``runship serve`` and ``runship ui``, its views and the page's static files."""

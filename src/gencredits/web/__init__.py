"""The web dashboard: server-rendered pages, templates and static files (no CDN)."""

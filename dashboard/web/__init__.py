"""Web UI: server-rendered pages, live updates, i18n (zh-CN / en)."""

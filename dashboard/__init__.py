"""The central dashboard: MQTT ingest, records, linking, evidence, the HTTP API (and the web UI/reports).

    settings.py   DashboardSettings (CW_DASHBOARD_*)
    db/           SQLAlchemy models, engine, Alembic migrations, audit, relinking
    ingest/       MQTT consumer (persistent session, ACK after commit) and the idempotent fold
    linking/      pure rules: attribution, presence intervals, absence classification
    storage/      EvidenceStore (local filesystem by default)
    auth/         users, Argon2, sessions + CSRF, bearer tokens, role dependencies
    api/          /api/v1 routers
    app.py        create_app(settings)
    cli.py        counterwatch dashboard ...
"""

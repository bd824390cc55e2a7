"""The dashboard's actions, one implementation each: the API routers and the web pages both call these.

A service takes the database session, the :class:`~dashboard.services.base.Actor` (who, from where, when)
and plain values; it changes the records, writes the audit row and re-runs the linker where a change moves
an absence's excuse. It never sees HTTP: it raises :mod:`dashboard.services.errors`, which each front end
turns into its own answer (a JSON error, a translated page).
"""

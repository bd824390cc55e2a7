"""Authentication and authorisation: users (Argon2), browser sessions, bearer tokens, roles, CSRF."""

"""The project's own plumbing: settings, databases, errors, auth, HTTP helpers. No domain words here."""

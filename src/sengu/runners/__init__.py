"""CI runners: one ephemeral GitHub Actions runner per workflow job, on the backend its labels ask for."""

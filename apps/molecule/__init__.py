"""molecule app (see its issue); imports the core from `shared`, never another app."""

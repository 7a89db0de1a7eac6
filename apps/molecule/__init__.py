"""molecule app (see its issue); imports the core from `lebm.core`, never another app."""

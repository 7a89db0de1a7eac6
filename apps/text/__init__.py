"""The text app: sentence models trained without an encoder; imports the core from `lebm.core`, never another app."""

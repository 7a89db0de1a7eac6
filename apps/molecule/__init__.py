"""The molecule app: SMILES/SELFIES models, MOSES metrics, design; imports the core from `lebm.core`, never another app."""

"""lebm: latent-space energy-based models. The folder apps/ is the installed package `lebm`: the core is
`lebm.core` (the folder shared/), the apps are `lebm.molecule`, `lebm.text` and `lebm.semisup`: these are the
only import names."""

if __name__ != "lebm":  # the folder's own name would make a second copy of every module
    raise ImportError(f"import lebm, not {__name__}: the folder apps/ is installed as lebm")

"""lebm: latent-space energy-based models. The folder apps/ is the installed package `lebm`: the core is
`lebm.core` (the folder shared/), the apps are `lebm.molecule`, `lebm.text` and `lebm.semisup`. In the source
tree the folder name `apps` is the same module (shared/legacy.py)."""

if __name__ != "lebm":  # imported by its folder name in the source tree
    from lebm.core.legacy import alias

    alias(__name__, "lebm")

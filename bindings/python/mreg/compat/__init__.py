"""The original registry's Python API on mreg: modules named as the original's.

    from mreg.compat.model_registry import ModelRegistry, ModelStage

See bindings/python/README.md for what differs and why.
"""

"""The Pulumi program for `aws` campaigns, its offline preview and its policy pack.

Importing this package imports no Pulumi module; `program`, `preview` and the
components do, when they are used.
"""

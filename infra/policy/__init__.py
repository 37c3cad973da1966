"""The policy pack: checks every fmbench stack must pass, offline or under Pulumi.

`checks` holds the checks as plain functions and imports no Pulumi package;
`__main__.py` wraps them for pulumi-policy when the Pulumi CLI runs the pack.
"""

"""Provisioners turn a stack spec into reachable hosts and take them away again."""

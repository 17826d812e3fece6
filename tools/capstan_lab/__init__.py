"""The capstan.fleet lab: real Kubernetes, OpenBao and vCenter-simulator servers on 127.0.0.1.

This package is the development and test harness of the collection, not part of the
product that runs against a real fleet. ``python -m capstan_lab up|down|status`` drives it.
"""

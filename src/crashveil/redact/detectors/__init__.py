"""The detectors, one module per family; each module ends with its ``DETECTORS`` entries.

Adding a detector is one :class:`~crashveil.redact.detector.Detector` entry in its family
module (its function, patterns and place in the run order); :mod:`crashveil.redact.registry`
collects the families.
"""

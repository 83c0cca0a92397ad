"""container-gate: may this exact image ship?

The package is laid out as one concern per sub-package (see README, "Architecture"):
``policy`` (load + validate), ``image`` (references, registry, layouts), ``scanners``
(Trivy, Grype, merge), ``signing`` (cosign), ``checks`` (pure judging), ``report``
(renderers). ``core`` ties the pure pieces together: facts in, verdict out.
"""

__version__ = "0.1.0"
